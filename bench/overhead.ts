// What seccomp, cgroups and the other layers cost a running program: the CPU
// time of a syscall-heavy loop (bench/syscalls.c, getppid) and of a
// compute-bound one (bench/busy.c), bare rusage against run()'s cpuMs from the
// kernel's counter. Bare and sandboxed runs alternate.
import { bareRun, calibrate, paired, sandboxedRun } from './accuracy.js';
import type { Programs } from './programs.js';

export interface OverheadPlan {
  overheadRuns: number;
  syscalls: number;
  computeSeconds: number;
}

// One side's runs: CPU time each and wall time each.
export interface LoadSamples {
  cpuMs: number[];
  wallNs: number[];
}

export interface LoadOverhead {
  argv: string[];
  bare: LoadSamples;
  sandbox: LoadSamples;
}

export interface Overheads {
  syscall: LoadOverhead;
  compute: LoadOverhead;
}

const LIMITS = { cpuMs: 20_000, wallMs: 60_000 };

async function measureLoad(runs: number, programs: Programs, argv: string[]): Promise<LoadOverhead> {
  bareRun(programs, argv); // untimed: page cache
  const { bare, sandbox } = await paired(runs, () => bareRun(programs, argv), () => sandboxedRun(programs, argv, LIMITS));
  return {
    argv,
    bare: { cpuMs: bare.map((run) => run.cpuMs), wallNs: bare.map((run) => run.wallNs) },
    sandbox: { cpuMs: sandbox.map((run) => run.result.cpuMs), wallNs: sandbox.map((run) => run.wallNs) },
  };
}

export async function measureOverheads(plan: OverheadPlan, programs: Programs): Promise<Overheads> {
  const syscall = await measureLoad(plan.overheadRuns, programs, [programs.syscalls, String(plan.syscalls)]);
  const compute = await measureLoad(plan.overheadRuns, programs, [programs.busy, String(calibrate(programs, plan.computeSeconds))]);
  return { syscall, compute };
}
