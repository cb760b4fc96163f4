// What `cellblock doctor` reports: which kernel features are present, which
// cgroup version is in use, what would fall back, and a live launch through
// every layer. The CLI prints it; the operator's dashboard shows it.
import { hostChecks, probe } from './host.js';
import { run } from './run.js';

export interface DoctorReport {
  kernel: string;
  cgroupVersion: string;
  landlockAbi: number;
  uidBase: number;
  checks: { name: string; ok: boolean; detail: string; fallback: string }[];
  launch: { ok: boolean; detail: string };
}

async function liveLaunch(): Promise<DoctorReport['launch']> {
  try {
    const result = await run({ argv: ['/bin/true'] }, { allowWeaker: true });
    return { ok: result.status === 'ok', detail: result.error?.message ?? `${result.status} in ${result.wallMs.toFixed(1)} ms` };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

export async function doctorReport(): Promise<DoctorReport> {
  const p = probe();
  return {
    kernel: p.kernel,
    cgroupVersion: p.cgroupVersion,
    landlockAbi: p.landlockAbi,
    uidBase: p.uidBase,
    checks: hostChecks(),
    launch: await liveLaunch(),
  };
}

export const healthy = (report: DoctorReport): boolean => report.checks.every((check) => check.ok) && report.launch.ok;
