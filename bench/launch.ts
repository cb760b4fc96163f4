// The benchmark (npm run bench, cellblock bench): launch latency of bare
// fork+exec, bubblewrap, Cellblock and a sync run over HTTP side by side, judging
// overhead, seccomp and cgroup cost, and the accuracy of Cellblock's CPU and
// memory figures. Prints the tables (or --json) and, on a full run, rewrites
// BENCHMARKS.md.
//
//   node dist/bench/launch.js [--runs N] [--quick] [--json] [--no-write]
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureCpu, measureMemory } from './accuracy.js';
import { measureJudging } from './judging.js';
import { measureLatency } from './latency.js';
import { describeMachine } from './machine.js';
import { measureOverheads } from './overhead.js';
import { compilePrograms, removePrograms } from './programs.js';
import { benchmarksMarkdown, evaluateTargets, printedReport, type BenchResults, type Settings } from './report.js';
import { stableRows } from './rows.js';
import { startService } from './service.js';

interface Options {
  settings: Settings;
  json: boolean;
  write: boolean;
}

const FULL: Settings = {
  runs: 300,
  batchSize: 20,
  idleRuns: 30,
  idleMs: 50,
  cpuRuns: 20,
  busySeconds: 0.5,
  memoryRuns: 6,
  memoryMib: 100,
  judgeRuns: 10,
  judgeTests: 50,
  overheadRuns: 20,
  syscalls: 1_000_000,
  computeSeconds: 0.2,
};
// A smoke run: every row, few samples.
const QUICK: Settings = { ...FULL, runs: 40, idleRuns: 6, cpuRuns: 4, memoryRuns: 2, judgeRuns: 2, overheadRuns: 2 };

const BENCHMARKS_MD = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
// Sections of BENCHMARKS.md written by hand or by other tools (the analysis of
// where the time goes, the reliability scenarios'): kept as they are.
const OTHER_SECTIONS = ['## Where the time goes', '## Reliability'];

function sectionsNotOurs(path: string): string {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const starts = OTHER_SECTIONS.map((heading) => text.indexOf(`\n${heading}\n`)).filter((at) => at >= 0);
  return starts.length === 0 ? '' : text.slice(Math.min(...starts));
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const settings = { ...(values.quick ? QUICK : FULL) };
  if (values.runs !== undefined) {
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer, not '${values.runs}'`);
    settings.runs = runs;
  }
  // A quick run is a smoke test; its figures should not replace the recorded ones.
  return { settings, json: values.json, write: !values.quick && !values['no-write'] };
}

// Progress goes to stderr so that --json leaves stdout parseable.
const progress = (note: string): void => {
  process.stderr.write(`${note}\n`);
};

async function bench(settings: Settings): Promise<BenchResults> {
  const began = process.hrtime.bigint();
  const [loadAverage = 0] = loadavg();
  const programs = compilePrograms();
  try {
    progress('starting cellblock serve for the HTTP rows');
    const service = await startService();
    const latency = await measureLatency(settings, programs.driver, service, progress).finally(() => service.stop());
    progress(`judging: A+B with ${settings.judgeTests} tests, ${settings.judgeRuns} times, judged and bare`);
    const judging = await measureJudging(settings, programs);
    progress(`overhead: ${settings.overheadRuns} syscall-heavy and compute-bound loops, bare and sandboxed`);
    const overheads = await measureOverheads(settings, programs);
    progress(`accuracy: ${settings.cpuRuns} busy loops, bare and sandboxed`);
    const cpu = await measureCpu(settings, programs);
    progress(`accuracy: ${settings.memoryRuns} runs touching ${settings.memoryMib} MiB, bare and sandboxed`);
    const memory = await measureMemory(settings, programs);
    const rows = stableRows({ latency, judging, overheads, cpu, memory });
    return {
      date: new Date().toISOString().slice(0, 10),
      durationSeconds: Number(process.hrtime.bigint() - began) / 1e9,
      loadAverage,
      machine: describeMachine(),
      settings,
      latency,
      cpu,
      memory,
      rows,
      targets: evaluateTargets(rows, cpu, memory),
    };
  } finally {
    removePrograms(programs);
  }
}

// What --json prints: the rows first, then the targets and the circumstances.
const forMachines = (results: BenchResults) => {
  const { rows, targets, date, durationSeconds, loadAverage, machine, settings } = results;
  return { rows, targets, date, durationSeconds, loadAverage, machine, settings };
};

const failed = (error: unknown, code: number): number => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  return code;
};

// 0 done, 1 the benchmark failed, 2 bad options.
export async function benchCommand(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (error) {
    return failed(error, 2);
  }
  try {
    const results = await bench(options.settings);
    process.stdout.write(options.json ? `${JSON.stringify(forMachines(results), null, 2)}\n` : printedReport(results));
    if (options.write) {
      writeFileSync(BENCHMARKS_MD, benchmarksMarkdown(results) + sectionsNotOurs(BENCHMARKS_MD));
      progress(`wrote ${BENCHMARKS_MD}`);
    }
    return 0;
  } catch (error) {
    return failed(error, 1);
  }
}

// Run as a script (npm run bench); `cellblock bench` imports benchCommand instead.
const script = process.argv[1];
if (script !== undefined && realpathSync(script) === fileURLToPath(import.meta.url)) process.exitCode = await benchCommand(process.argv.slice(2));
