// cellblock doctor: prints sandbox/doctor.ts's report, for people or as JSON.
import { doctorReport, healthy as isHealthy } from '../sandbox/doctor.js';

export { type DoctorReport } from '../sandbox/doctor.js';

export async function doctorCommand(args: string[]): Promise<number> {
  const report = await doctorReport();
  const healthy = isHealthy(report);
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
