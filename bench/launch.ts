// npm run bench: launch latency of bare fork+exec, bubblewrap and Cellblock side
// by side, and the accuracy of Cellblock's CPU and memory figures. Prints the
// tables (or --json) and, on a full run, rewrites BENCHMARKS.md.
//
//   node dist/bench/launch.js [--runs N] [--quick] [--json] [--no-write]
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureCpu, measureMemory } from './accuracy.js';
import { measureLatency } from './latency.js';
import { describeMachine } from './machine.js';
import { compilePrograms, removePrograms } from './programs.js';
import { benchmarksMarkdown, evaluateTargets, printedReport, type BenchResults, type Settings } from './report.js';

interface Options {
  settings: Settings;
  json: boolean;
  write: boolean;
}

const FULL: Settings = { runs: 300, batchSize: 20, idleRuns: 30, idleMs: 50, cpuRuns: 20, busySeconds: 0.5, memoryRuns: 6, memoryMib: 100 };
const QUICK: Settings = { ...FULL, runs: 60, idleRuns: 10, cpuRuns: 6, memoryRuns: 2 };

const BENCHMARKS_MD = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));

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
    const latency = await measureLatency(settings, programs.driver, progress);
    progress(`accuracy: ${settings.cpuRuns} busy loops, bare and sandboxed`);
    const cpu = await measureCpu(settings, programs);
    progress(`accuracy: ${settings.memoryRuns} runs touching ${settings.memoryMib} MiB, bare and sandboxed`);
    const memory = await measureMemory(settings, programs);
    return {
      date: new Date().toISOString().slice(0, 10),
      durationSeconds: Number(process.hrtime.bigint() - began) / 1e9,
      loadAverage,
      machine: describeMachine(),
      settings,
      latency,
      cpu,
      memory,
      targets: evaluateTargets(latency, cpu, memory),
    };
  } finally {
    removePrograms(programs);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const results = await bench(options.settings);
  process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : printedReport(results));
  if (options.write) {
    writeFileSync(BENCHMARKS_MD, benchmarksMarkdown(results));
    progress(`wrote ${BENCHMARKS_MD}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
