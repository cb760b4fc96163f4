// cellblock doctor: which kernel features are present, which cgroup version is in
// use, what would fall back, and a live launch through every layer.
import { hostChecks, probe } from '../sandbox/host.js';
import { run } from '../sandbox/run.js';

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

export async function doctorCommand(args: string[]): Promise<number> {
  const report = await doctorReport();
  const healthy = report.checks.every((check) => check.ok) && report.launch.ok;
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ healthy, ...report })}\n`);
    return healthy ? 0 : 1;
  }
  const lines = [`kernel ${report.kernel}; cgroup ${report.cgroupVersion}; Landlock ABI ${report.landlockAbi}; host uids from ${report.uidBase}`];
  for (const check of report.checks) {
    lines.push(`${check.ok ? 'ok  ' : 'MISS'} ${check.name.padEnd(26)} ${check.detail}`);
    if (!check.ok) lines.push(`     ${''.padEnd(26)} without it: ${check.fallback}`);
  }
  lines.push(`${report.launch.ok ? 'ok  ' : 'FAIL'} ${'launch /bin/true'.padEnd(26)} ${report.launch.detail}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return healthy ? 0 : 1;
}
