// What the figures were measured on, for the report.
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { probe } from '../sandbox/host.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  virtualization: string;
  kernel: string;
  cgroup: string;
  node: string;
}

const readText = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

function virtualization(): string {
  if (/firecracker/i.test(readText('/proc/cmdline'))) return 'Firecracker VM';
  return /\bhypervisor\b/.test(readText('/proc/cpuinfo')) ? 'VM' : 'bare metal';
}

export function describeMachine(): Machine {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    virtualization: virtualization(),
    kernel: `Linux ${release()}`,
    cgroup: `cgroup ${probe().cgroupVersion}`,
    node: `Node ${process.versions.node}`,
  };
}

export function machineLine(machine: Machine): string {
  const vcpu = machine.virtualization === 'bare metal' ? 'CPU' : 'vCPU';
  return `${machine.cpus} ${vcpu} ${machine.virtualization} (${machine.cpuModel}), ${machine.kernel}, ${machine.cgroup}, ${machine.node}`;
}
