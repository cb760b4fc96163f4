// Cellblock launched the way the worker launches it: run() from Node, awaited.
// A launch's latency is the wall time around the awaited call.
import { setTimeout as sleep } from 'node:timers/promises';
import { run, sandboxPoolStats } from '../sandbox/run.js';
import type { RunResult, RunSpec } from '../sandbox/schema.js';

export interface CellblockBatch {
  latenciesNs: number[];
  // what run() itself reported as wallMs: from the go message to init's report
  reportedWallMs: number[];
  // time the timed launches took, idle sleeps excluded
  elapsedNs: number;
  // sandboxes built meanwhile (the others were reset after a run and reused)
  built: number;
}

const builtSoFar = (): number => sandboxPoolStats().builds;

const TRUE_SPEC: RunSpec = { argv: ['/bin/true'] };

export async function runChecked(spec: RunSpec): Promise<RunResult> {
  const result = await run(spec);
  if (result.status !== 'ok') {
    const why = result.error?.message ?? result.stderr.trim();
    throw new Error(`cellblock run of ${spec.argv.join(' ')}: ${result.status}${why ? `: ${why}` : ''}`);
  }
  // The figures are for every layer on; a weakened run would flatter them.
  if (result.weakened?.length) throw new Error(`cellblock ran without ${result.weakened.join(', ')}`);
  return result;
}

// One launch, resolving with what the launcher itself reported as wallMs, if anything.
export type Launch = () => Promise<number | undefined>;

const runTrue: Launch = async () => (await runChecked(TRUE_SPEC)).wallMs;

async function timedLaunch(launch: Launch, into: CellblockBatch): Promise<void> {
  const started = process.hrtime.bigint();
  const reportedWallMs = await launch();
  into.latenciesNs.push(Number(process.hrtime.bigint() - started));
  if (reportedWallMs !== undefined) into.reportedWallMs.push(reportedWallMs);
}

// Keeps `concurrency` launches in flight until `count` have finished.
export async function keptInFlight(launch: Launch, count: number, concurrency: number, warmup: number): Promise<CellblockBatch> {
  for (let i = 0; i < warmup; i++) await launch();
  const batch: CellblockBatch = { latenciesNs: [], reportedWallMs: [], elapsedNs: 0, built: 0 };
  const builtBefore = builtSoFar();
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      await timedLaunch(launch, batch);
    }
  };
  const begin = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  batch.elapsedNs = Number(process.hrtime.bigint() - begin);
  batch.built = builtSoFar() - builtBefore;
  return batch;
}

export const cellblockBatch = (count: number, concurrency: number, warmup: number): Promise<CellblockBatch> =>
  keptInFlight(runTrue, count, concurrency, warmup);

// One run at a time, each after idleMs with no launch at all.
export async function cellblockAfterIdle(count: number, idleMs: number): Promise<CellblockBatch> {
  const batch: CellblockBatch = { latenciesNs: [], reportedWallMs: [], elapsedNs: 0, built: 0 };
  const builtBefore = builtSoFar();
  for (let i = 0; i < count; i++) {
    await sleep(idleMs);
    const begin = process.hrtime.bigint();
    await timedLaunch(runTrue, batch);
    batch.elapsedNs += Number(process.hrtime.bigint() - begin);
  }
  batch.built = builtSoFar() - builtBefore;
  return batch;
}
