// Cellblock launched the way the worker launches it: run() from Node, awaited.
// A launch's latency is the wall time around the awaited call.
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../sandbox/run.js';
import type { RunResult, RunSpec } from '../sandbox/schema.js';

export interface CellblockBatch {
  latenciesNs: number[];
  // what run() itself reported as wallMs: clone of init to its exit
  reportedWallMs: number[];
  // time the timed launches took, idle sleeps excluded
  elapsedNs: number;
}

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

async function timedRun(into: CellblockBatch): Promise<void> {
  const started = process.hrtime.bigint();
  const result = await runChecked(TRUE_SPEC);
  into.latenciesNs.push(Number(process.hrtime.bigint() - started));
  into.reportedWallMs.push(result.wallMs);
}

// Keeps `concurrency` runs in flight until `count` have finished.
export async function cellblockBatch(count: number, concurrency: number, warmup: number): Promise<CellblockBatch> {
  for (let i = 0; i < warmup; i++) await runChecked(TRUE_SPEC);
  const batch: CellblockBatch = { latenciesNs: [], reportedWallMs: [], elapsedNs: 0 };
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      await timedRun(batch);
    }
  };
  const begin = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  batch.elapsedNs = Number(process.hrtime.bigint() - begin);
  return batch;
}

// One run at a time, each after idleMs with no launch at all.
export async function cellblockAfterIdle(count: number, idleMs: number): Promise<CellblockBatch> {
  const batch: CellblockBatch = { latenciesNs: [], reportedWallMs: [], elapsedNs: 0 };
  for (let i = 0; i < count; i++) {
    await sleep(idleMs);
    const begin = process.hrtime.bigint();
    await timedRun(batch);
    batch.elapsedNs += Number(process.hrtime.bigint() - begin);
  }
  return batch;
}
