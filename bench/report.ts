// The tables, the targets and BENCHMARKS.md, all from one results object.
import type { CpuAccuracy, MemoryAccuracy } from './accuracy.js';
import type { LatencyRow, Method } from './latency.js';
import { machineLine, type Machine } from './machine.js';

export interface Settings {
  runs: number;
  batchSize: number;
  idleRuns: number;
  idleMs: number;
  cpuRuns: number;
  busySeconds: number;
  memoryRuns: number;
  memoryMib: number;
}

export interface Target {
  goal: string;
  measured: string;
  // null: could not be evaluated (bubblewrap unavailable)
  pass: boolean | null;
}

export interface BenchResults {
  date: string;
  durationSeconds: number;
  // the 1-minute load average as the benchmark started: other work shares the noise
  loadAverage: number;
  machine: Machine;
  settings: Settings;
  latency: LatencyRow[];
  cpu: CpuAccuracy;
  memory: MemoryAccuracy;
  targets: Target[];
}

const ms = (value: number): string => value.toFixed(value < 10 ? 2 : 1);
const percent = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`;
const signedPercent = (fraction: number): string => `${fraction >= 0 ? '+' : '−'}${percent(Math.abs(fraction))}`;
const times = (ratio: number | null): string => (ratio === null ? '—' : `${ratio.toFixed(2)}×`);

function markdownTable(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((cell, col) => Math.max(cell.length, ...rows.map((row) => (row[col] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, col) => (rightAligned[col] ? cell.padStart(widths[col] ?? 0) : cell.padEnd(widths[col] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((width, col) => (rightAligned[col] ? `${'-'.repeat(width + 1)}:` : `:${'-'.repeat(width + 1)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

// The median of the same-concurrency, same-idle row of another method.
function medianOf(rows: readonly LatencyRow[], like: LatencyRow, method: Method): number | null {
  const row = rows.find((r) => r.method === method && r.concurrency === like.concurrency && r.idleMs === like.idleMs);
  return row?.summary?.medianMs ?? null;
}

function ratioTo(rows: readonly LatencyRow[], row: LatencyRow, method: Method): number | null {
  const reference = medianOf(rows, row, method);
  return row.summary && reference ? row.summary.medianMs / reference : null;
}

export function latencyTable(rows: readonly LatencyRow[]): string {
  const header = ['launch of /bin/true', 'concurrency', 'launches', 'median ms', 'p90 ms', 'p99 ms', 'runs/s', '÷ bare', '÷ bubblewrap'];
  const body = rows.map((row) => {
    const s = row.summary;
    if (!s) return [row.label, String(row.concurrency), row.unavailable ?? '', '', '', '', '', '', ''];
    return [
      row.label,
      String(row.concurrency),
      String(s.count),
      ms(s.medianMs),
      ms(s.p90Ms),
      ms(s.p99Ms),
      s.runsPerSecond === null ? '—' : s.runsPerSecond.toFixed(0),
      times(ratioTo(rows, row, 'bare')),
      times(ratioTo(rows, row, 'bwrap')),
    ];
  });
  return markdownTable(header, body, [false, true, true, true, true, true, true, true, true]);
}

export function reportedWallNote(rows: readonly LatencyRow[]): string {
  const parts = rows
    .filter((row) => row.reportedWallMedianMs !== undefined)
    .map((row) => `${ms(row.reportedWallMedianMs ?? 0)} ms (${row.idleMs > 0 ? `after ${row.idleMs} ms idle` : `concurrency ${row.concurrency}`})`);
  return `Of Cellblock's launch, the part from cloning init to its exit (run()'s own wallMs), median: ${parts.join(', ')}.`;
}

export function accuracyTable(cpu: CpuAccuracy, memory: MemoryAccuracy): string {
  const header = ['measure', 'runs', 'Cellblock reports', 'bare rusage', 'Cellblock ÷ bare', 'Cellblock CV', 'bare CV'];
  const body = [
    [
      `CPU time of a ${(cpu.bareMeanMs / 1000).toFixed(1)} s busy loop`,
      String(cpu.runs),
      `${cpu.sandboxMeanMs.toFixed(1)} ms (mean cpuMs)`,
      `${cpu.bareMeanMs.toFixed(1)} ms (mean user+sys)`,
      cpu.ratio.toFixed(4),
      percent(cpu.sandboxCv),
      percent(cpu.bareCv),
    ],
    [
      `peak memory, ${memory.mib} MiB touched`,
      String(memory.runs),
      `${memory.sandboxMeanKb.toFixed(0)} KiB (mean memoryKb)`,
      `${memory.bareMeanKb.toFixed(0)} KiB (mean max RSS)`,
      memory.ratio.toFixed(4),
      '',
      '',
    ],
  ];
  return markdownTable(header, body, [false, true, true, true, true, true, true]);
}

function latencyTargets(rows: readonly LatencyRow[]): Target[] {
  return [1, 2].flatMap((concurrency) => {
    const row = rows.find((r) => r.method === 'cellblock' && r.concurrency === concurrency && r.idleMs === 0);
    if (!row) return [];
    const toBwrap = ratioTo(rows, row, 'bwrap');
    const toBare = ratioTo(rows, row, 'bare');
    return [
      {
        goal: `Cellblock median ≤ 0.5× bubblewrap (concurrency ${concurrency})`,
        measured: toBwrap === null ? 'bubblewrap unavailable' : times(toBwrap),
        pass: toBwrap === null ? null : toBwrap <= 0.5,
      },
      {
        goal: `Cellblock median ≤ 2× bare fork+exec (concurrency ${concurrency})`,
        measured: times(toBare),
        pass: toBare === null ? null : toBare <= 2,
      },
    ];
  });
}

export function evaluateTargets(rows: readonly LatencyRow[], cpu: CpuAccuracy, memory: MemoryAccuracy): Target[] {
  return [
    ...latencyTargets(rows),
    { goal: 'busy loop CPU time: coefficient of variation ≤ 1%', measured: percent(cpu.sandboxCv), pass: cpu.sandboxCv <= 0.01 },
    { goal: 'busy loop CPU time within 2% of bare rusage', measured: `${signedPercent(cpu.ratio - 1)} vs bare`, pass: Math.abs(cpu.ratio - 1) <= 0.02 },
    {
      goal: `${memory.mib} MiB peak within 3% of bare max RSS`,
      measured: `${signedPercent(memory.ratio - 1)} vs bare`,
      pass: Math.abs(memory.ratio - 1) <= 0.03,
    },
  ];
}

export function targetsTable(targets: readonly Target[]): string {
  const verdict = (pass: boolean | null): string => (pass === null ? 'n/a' : pass ? 'pass' : 'FAIL');
  return markdownTable(
    ['target', 'measured', 'result'],
    targets.map((t) => [t.goal, t.measured, verdict(t.pass)]),
    [false, true, false],
  );
}

// What the terminal shows.
export function printedReport(results: BenchResults): string {
  return [
    `Cellblock launch benchmark, ${results.date}: ${machineLine(results.machine)}`,
    '',
    latencyTable(results.latency),
    '',
    reportedWallNote(results.latency),
    '',
    accuracyTable(results.cpu, results.memory),
    '',
    targetsTable(results.targets),
    '',
    `Took ${results.durationSeconds.toFixed(0)} s; load average ${results.loadAverage.toFixed(2)} at the start. Only ratios within one run are meaningful on a noisy machine.`,
    '',
  ].join('\n');
}

function method(results: BenchResults): string {
  const s = results.settings;
  return `Every row above comes from the same run. Each (method, concurrency) pair gets a batch of about
${s.batchSize} launches per round, the order of the batches rotating from round to round, until each
has ${s.runs}; the idle rows get ${s.idleRuns} launches spread over the same rounds. Rows therefore share
the machine's noise rather than each owning a quiet or a busy stretch of it. Before timing, every method
is launched 5 times untimed (page cache, JIT), and every busy batch starts with one untimed launch of
its own method.

- **bare fork+exec**: \`bench/bare.c\`, compiled with \`gcc -O2\` at bench time, forks and execs
  \`/bin/true\` and times each launch in C (\`clock_gettime\` before \`fork\`, after \`wait4\` reaps it).
  This is the floor.
- **bubblewrap**: the same C driver execs
  \`bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin --proc /proc --dev /dev /bin/true\`
  (Debian's \`bubblewrap\` package), so its harness overhead is the bare row's.
- **Cellblock**: \`run({ argv: ['/bin/true'] })\` from Node, awaited, as the worker calls it, with every
  layer on (user, pid, mount, net, ipc, uts and cgroup namespaces, pivot_root, seccomp, Landlock,
  cgroups). Latency is \`process.hrtime\` around the awaited call, so spec validation, the addon call,
  cgroup creation and removal and the promise's resolution are all inside it.
- **Concurrency 2** keeps two launches in flight (the driver forks a new one whenever one is reaped;
  Node starts a new \`run()\` whenever one resolves). Latency is per launch; runs/s is launches divided
  by the batches' elapsed time.
- **after ${s.idleMs} ms idle**: one launch at a time, each after ${s.idleMs} ms with no launch at all. On
  cgroup v1, moving a process into a cgroup waits for an RCU grace period (about 10 ms here) unless
  another move happened within the last one; Cellblock's program joins its run's cgroups by writing to
  \`cgroup.procs\`, so a launch after a pause pays it, while back-to-back launches mostly do not. bare and
  bubblewrap move no process between cgroups and are shown as controls. runs/s is not given for these rows.

Accuracy: \`bench/busy.c\` runs a fixed number of iterations of a dependent multiply-add chain, calibrated
at bench time to about ${s.busySeconds} s of CPU bare; \`bench/touch.c\` mallocs ${s.memoryMib} MiB and
memsets it. Both are compiled with \`gcc -O2\` into a temp dir that is bound read-only into the sandbox
(\`readOnly: [dir]\`) and run by absolute path. Bare and sandboxed runs alternate (and alternate which goes
first). "Cellblock reports" is run()'s \`cpuMs\` (the run's cpuacct counter) or \`memoryKb\` (the run's
memory cgroup peak); "bare rusage" is the child's \`ru_utime + ru_stime\` or \`ru_maxrss\` from \`wait4\`
in the C driver, the figures \`getrusage(RUSAGE_CHILDREN)\` accumulates for it. CV is the sample standard
deviation over the mean.`;
}

export function benchmarksMarkdown(results: BenchResults): string {
  return `# Benchmarks

Latest figures from \`npm run bench\` (\`node dist/bench/launch.js\`, source in \`bench/\`), measured
${results.date} on a ${machineLine(results.machine)}. The whole benchmark took
${results.durationSeconds.toFixed(0)} s; the 1-minute load average was ${results.loadAverage.toFixed(2)} as it started.

The machine is a shared VM and noisy: absolute figures move by tens of percent between runs. Only
ratios between rows of one run are meaningful, which is why every row is measured in the same run,
interleaved.

A full run rewrites this file. Options: \`--runs N\` (launches per row, default 300), \`--quick\` (a
smoke run that leaves this file alone), \`--json\` (the results as JSON on stdout), \`--no-write\`.

## Launch latency

${latencyTable(results.latency)}

${reportedWallNote(results.latency)}

## Accuracy

${accuracyTable(results.cpu, results.memory)}

## Targets

${targetsTable(results.targets)}

## How it is measured

${method(results)}
`;
}
