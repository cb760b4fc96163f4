// The tables, the targets and BENCHMARKS.md, all from one results object.
import type { CpuAccuracy, MemoryAccuracy } from './accuracy.js';
import type { LatencyRow, Method } from './latency.js';
import { machineLine, type Machine } from './machine.js';
import { rowNamed, type Row } from './rows.js';

export interface Settings {
  runs: number;
  batchSize: number;
  idleRuns: number;
  idleMs: number;
  cpuRuns: number;
  busySeconds: number;
  memoryRuns: number;
  memoryMib: number;
  judgeRuns: number;
  judgeTests: number;
  overheadRuns: number;
  syscalls: number;
  computeSeconds: number;
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
  // every figure above as the stable rows of --json
  rows: Row[];
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
  const cellblock = rows.filter((row) => row.reportedWallMedianMs !== undefined);
  const when = (row: LatencyRow): string => (row.idleMs > 0 ? `after ${row.idleMs} ms idle` : `concurrency ${row.concurrency}`);
  const walls = cellblock.map((row) => `${ms(row.reportedWallMedianMs ?? 0)} ms (${when(row)})`);
  const built = cellblock.map((row) => `${row.sandboxesBuilt ?? 0} for ${row.summary?.count ?? 0} launches (${when(row)})`);
  return (
    `Of Cellblock's launch, the part from the go message to init's report (run()'s own wallMs), median: ${walls.join(', ')}. ` +
    `Sandboxes built during the rows (the other launches took one reset after an earlier run): ${built.join(', ')}.`
  );
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

// A target on a ratio: measured against a bound, or n/a when a row is missing.
function ratioTarget(goal: string, value: number | null | undefined, pass: (value: number) => boolean, shown: (value: number) => string = times): Target {
  return value === null || value === undefined ? { goal, measured: 'unavailable', pass: null } : { goal, measured: shown(value), pass: pass(value) };
}

const medianRatio = (rows: readonly Row[], name: string, reference: string): number | null => {
  const [row, base] = [rowNamed(rows, name)?.medianMs, rowNamed(rows, reference)?.medianMs];
  return row != null && base != null && base > 0 ? row / base : null;
};

// The issue's targets, each a ratio between rows of this one run.
export function evaluateTargets(rows: readonly Row[], cpu: CpuAccuracy, memory: MemoryAccuracy): Target[] {
  const runsPerSec = (name: string): number | null => rowNamed(rows, name)?.runsPerSec ?? null;
  const [cellblock2, bare2] = [runsPerSec('launch/cellblock@2'), runsPerSec('launch/bare@2')];
  const judged = rowNamed(rows, 'judge/cellblock50');
  const ms2 = (value: number): string => `${value.toFixed(3)} ms`;
  return [
    ratioTarget('launch: Cellblock median ≤ 1.3× bare fork+exec', medianRatio(rows, 'launch/cellblock', 'launch/bare'), (r) => r <= 1.3),
    ratioTarget('launch: Cellblock median ≤ 0.35× bubblewrap', medianRatio(rows, 'launch/cellblock', 'launch/bwrap'), (r) => r <= 0.35),
    ratioTarget('sync run over HTTP, one connection: median ≤ 2.5× bare fork+exec', medianRatio(rows, 'http/sync', 'launch/bare'), (r) => r <= 2.5),
    ratioTarget(
      'concurrency 2: Cellblock runs/s ≥ 80% of bare fork+exec runs/s',
      cellblock2 !== null && bare2 ? cellblock2 / bare2 : null,
      (r) => r >= 0.8,
      (r) => `${(r * 100).toFixed(0)}%`,
    ),
    ratioTarget('judging A+B, 50 tests: overhead ≤ 1 ms per test', judged?.perTestOverheadMs, (v) => v <= 1, ms2),
    ratioTarget('syscall-heavy loop: CPU time ≤ 1.05× bare', rowNamed(rows, 'syscall/cellblock')?.ratioToBare, (r) => r <= 1.05, (r) => r.toFixed(3)),
    ratioTarget('compute-bound loop: CPU time ≤ 1.01× bare', rowNamed(rows, 'compute/cellblock')?.ratioToBare, (r) => r <= 1.01, (r) => r.toFixed(3)),
    { goal: 'busy loop CPU time: coefficient of variation ≤ 1%', measured: percent(cpu.sandboxCv), pass: cpu.sandboxCv <= 0.01 },
    { goal: 'busy loop CPU time within 2% of bare rusage', measured: `${signedPercent(cpu.ratio - 1)} vs bare`, pass: Math.abs(cpu.ratio - 1) <= 0.02 },
    {
      goal: `${memory.mib} MiB peak within 3% of bare max RSS`,
      measured: `${signedPercent(memory.ratio - 1)} vs bare`,
      pass: Math.abs(memory.ratio - 1) <= 0.03,
    },
  ];
}

// Rows of --json as a table: the judging and overhead sections. The wall column
// only where the figures are not wall time themselves.
export function rowsTable(rows: readonly Row[], first: string): string {
  const cell = (value: number | null | undefined): string => (value === null || value === undefined ? '—' : ms(value));
  const withWall = rows.some((row) => row.wallMedianMs !== undefined);
  const body = rows.map((row) => [
    row.name,
    String(row.count),
    cell(row.medianMs),
    cell(row.p90Ms),
    cell(row.p99Ms),
    row.runsPerSec === null ? '—' : row.runsPerSec.toFixed(row.runsPerSec < 10 ? 2 : 0),
    row.ratioToBare === undefined ? '' : `${row.ratioToBare.toFixed(3)}×`,
    ...(withWall ? [row.wallMedianMs === undefined ? '' : ms(row.wallMedianMs)] : []),
  ]);
  const header = [first, 'runs', 'median ms', 'p90 ms', 'p99 ms', 'runs/s', '÷ bare', ...(withWall ? ['wall median ms'] : [])];
  return markdownTable(header, body, header.map((_, col) => col > 0));
}

const rowsStarting = (rows: readonly Row[], ...prefixes: string[]): Row[] => rows.filter((row) => prefixes.some((p) => row.name.startsWith(p)));

export function judgeNote(rows: readonly Row[]): string {
  const judged = rowNamed(rows, 'judge/cellblock50');
  const overhead = judged?.perTestOverheadMs;
  return overhead === undefined ? '' : `Per-test overhead of judging, (judge/cellblock50 − judge/bare50) ÷ 50 on the medians: ${overhead.toFixed(3)} ms.`;
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
    `Cellblock benchmark, ${results.date}: ${machineLine(results.machine)}`,
    '',
    latencyTable(results.latency),
    '',
    reportedWallNote(results.latency),
    '',
    rowsTable(rowsStarting(results.rows, 'judge/'), 'judging A+B (C++)'),
    '',
    judgeNote(results.rows),
    '',
    rowsTable(rowsStarting(results.rows, 'syscall/', 'compute/'), 'CPU time of a loop'),
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
  starting the run in its sandbox and the promise's resolution are all inside it. Runs of one shape take
  sandboxes built ahead of them (\`native/warm.cc\`: namespaces, root, cgroups, the program behind its
  walls) and reset after each run for the next (\`native/reset.cc\`); the reset happens after the result
  is delivered, at \`SCHED_IDLE\`, while another sandbox of the same shape serves the next launch, so it
  is in the concurrency-2 runs/s but not in a launch's latency. The note under the table counts the
  sandboxes built during the rows.
- **Cellblock, sync run over HTTP**: \`cellblock serve\` started by the benchmark as a child process
  (\`--workers 2\`, its own embedded redis-server on a unix socket, log level warn, a temp data dir), as
  an operator starts it; the benchmark posts \`{"argv": ["/bin/true"]}\` to \`POST /v1/runs?wait=true\`
  from the same Node process, over one keep-alive connection (two at concurrency 2), and times each
  request from sending to the whole answer read. A request counts only if it answers 200 with a run
  that is \`done\`, \`ok\` and exit code 0. Its batches rotate with the launch rows', and its ÷ bare is
  against the bare fork+exec at the same concurrency. The service is up, idle between its batches,
  while all launch rows run, and stopped before the judging rows.
- **Concurrency 2** keeps two launches in flight (the driver forks a new one whenever one is reaped;
  Node starts a new \`run()\` or request whenever one resolves). Latency is per launch; runs/s is launches divided
  by the batches' elapsed time.
- **after ${s.idleMs} ms idle**: one launch at a time, each after ${s.idleMs} ms with no launch at all. On
  cgroup v1, moving a process into a cgroup waits for an RCU grace period (about 10 ms here) unless
  another move happened within the last one; Cellblock's program joins its run's cgroups before its run
  is given (while the sandbox is reset), so no launch waits for it. bare and bubblewrap move no process
  between cgroups and are shown as controls. runs/s is not given for these rows.

Judging: \`examples/aplusb/solutions/ac.cpp\` with ${s.judgeTests} generated tests (operands across the
problem's range, a fixed sequence) is judged by \`judge()\` in the benchmark's process as the worker
calls it (\`parallelism: 1\`, a store of its own, tokens checker), ${s.judgeRuns} times, each timed
end to end with \`process.hrtime\`. The compile is **excluded**: one untimed \`judge()\` first compiles
the source and fills the compile cache, so every timed \`judge()\` takes the compiled binary from the
cache (that lookup is inside the timing) and runs the ${s.judgeTests} tests, each in a sandbox of its own
(built ahead, or reset after an earlier run).
\`judge/bare${s.judgeTests}\` is the sum of ${s.judgeTests} launches of the same compiled binary (taken
out of the cache) with the same inputs, each by the C driver (fork+exec, stdin the test's input file,
stdout /dev/null, timed in C, no checking); the two alternate. Per-test overhead is
(median judged − median bare) ÷ ${s.judgeTests}: sandbox set-up, stdin and output handling and the
checker, per test.

Seccomp and cgroup cost: \`bench/syscalls.c\` makes ${s.syscalls} getppid calls through \`syscall(2)\`;
\`bench/busy.c\` is calibrated to about ${s.computeSeconds} s of CPU bare. Each runs ${s.overheadRuns}
times bare (the C driver, CPU time \`ru_utime + ru_stime\` from \`wait4\`) and ${s.overheadRuns} times
in Cellblock with every layer on (CPU time run()'s \`cpuMs\`, the run's cpuacct counter), alternating.
The rows' ms figures are CPU time; runs/s and the wall median are of the whole runs (launch included).
÷ bare is the ratio of the CPU medians.

Accuracy: \`bench/busy.c\` runs a fixed number of iterations of a dependent multiply-add chain, calibrated
at bench time to about ${s.busySeconds} s of CPU bare; \`bench/touch.c\` mallocs ${s.memoryMib} MiB and
memsets it. Both are compiled with \`gcc -O2\` into a temp dir that is bound read-only into the sandbox
(\`readOnly: [dir]\`) and run by absolute path. Bare and sandboxed runs alternate (and alternate which goes
first). "Cellblock reports" is run()'s \`cpuMs\` (the run's cpuacct counter) or \`memoryKb\` (the run's
memory cgroup peak); "bare rusage" is the child's \`ru_utime + ru_stime\` or \`ru_maxrss\` from \`wait4\`
in the C driver, the figures \`getrusage(RUSAGE_CHILDREN)\` accumulates for it. CV is the sample standard
deviation over the mean.

\`--json\` prints \`{"rows": [...], "targets": [...], ...}\`, one row per figure with \`name\`, \`count\`,
\`medianMs\`, \`p90Ms\`, \`p99Ms\`, \`runsPerSec\` and, where it has a bare peer, \`ratioToBare\`. The names
are stable: \`launch/bare\`, \`launch/bwrap\`, \`launch/cellblock\`, \`http/sync\` and the same with \`@2\`
(concurrency 2) or \`@idle${s.idleMs}\` (after idle); \`judge/cellblock${s.judgeTests}\` (with
\`perTestOverheadMs\`), \`judge/bare${s.judgeTests}\`; \`syscall/bare\`, \`syscall/cellblock\`,
\`compute/bare\`, \`compute/cellblock\` (ms are CPU time, with \`wallMedianMs\`); \`accuracy/cpu\` (ms
are the reported cpuMs, with \`meanMs\`, \`cv\`, \`ratioToBare\` of the means) and \`accuracy/memory\`
(ms are the sandboxed runs' wall time, with \`peakKb\`, the mean reported peak, and \`ratioToBare\`).
A row bubblewrap could not run has null figures and \`unavailable\`.`;
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
smoke run that leaves this file alone), \`--json\` (the rows as JSON on stdout), \`--no-write\`. The
same benchmark runs as \`cellblock bench\`.

## Launch latency

${latencyTable(results.latency)}

${reportedWallNote(results.latency)}

## Judging

${rowsTable(rowsStarting(results.rows, 'judge/'), 'judging A+B (C++)')}

${judgeNote(results.rows)}

## Seccomp and cgroup cost

CPU time (median ms) of the same loop bare and in Cellblock; runs/s and the wall median are of the whole runs.

${rowsTable(rowsStarting(results.rows, 'syscall/', 'compute/'), 'CPU time of a loop')}

## Accuracy

${accuracyTable(results.cpu, results.memory)}

## Targets

${targetsTable(results.targets)}

## How it is measured

${method(results)}
`;
}
