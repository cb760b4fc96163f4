// Accuracy of what a run reports: CPU time of a fixed busy loop and the peak
// memory of a program touching a known amount, each against the same program's
// bare rusage (from the driver's wait4). Bare and sandboxed runs alternate, and
// alternate which goes first, so drift on the machine hits both alike.
import type { LimitOverrides, RunResult } from '../sandbox/schema.js';
import { runChecked } from './cellblock.js';
import { runDriver } from './driver.js';
import type { Programs } from './programs.js';
import { coefficientOfVariation, mean, median } from './stats.js';

export interface AccuracyPlan {
  cpuRuns: number;
  busySeconds: number;
  memoryRuns: number;
  memoryMib: number;
}

export interface CpuAccuracy {
  runs: number;
  iterations: number;
  sandboxMeanMs: number;
  sandboxCv: number;
  bareMeanMs: number;
  bareCv: number;
  // sandbox mean ÷ bare mean
  ratio: number;
  // each sandboxed run's reported cpuMs, and its wall time around run()
  sandboxMs: number[];
  sandboxWallNs: number[];
}

export interface MemoryAccuracy {
  runs: number;
  mib: number;
  sandboxMeanKb: number;
  bareMeanKb: number;
  ratio: number;
  sandboxWallNs: number[];
}

const MEMORY_LIMIT_KB = 512 * 1024;
const CALIBRATION_ITERATIONS = 100_000_000;

// One bare launch by the driver: the child's rusage and the launch's wall time.
export function bareRun(programs: Programs, argv: string[]): { cpuMs: number; maxRssKb: number; wallNs: number } {
  const batch = runDriver(programs.driver, { count: 1, concurrency: 1, warmup: 0, idleMs: 0, argv });
  return { cpuMs: (batch.cpuNs[0] ?? 0) / 1e6, maxRssKb: batch.maxRssKb[0] ?? 0, wallNs: batch.latenciesNs[0] ?? 0 };
}

// One sandboxed run of a bench program (bound read-only into the sandbox, every
// layer on) and its wall time around run().
export async function sandboxedRun(programs: Programs, argv: string[], limits: LimitOverrides): Promise<{ result: RunResult; wallNs: number }> {
  const started = process.hrtime.bigint();
  const result = await runChecked({ argv, readOnly: [programs.dir], limits });
  return { result, wallNs: Number(process.hrtime.bigint() - started) };
}

// The iteration count of bench/busy.c that takes about busySeconds of CPU here, bare.
export function calibrate(programs: Programs, busySeconds: number): number {
  const probes = [0, 1, 2].map(() => bareRun(programs, [programs.busy, String(CALIBRATION_ITERATIONS)]).cpuMs);
  return Math.round((CALIBRATION_ITERATIONS * busySeconds * 1000) / median(probes));
}

// Runs bare and sandboxed `runs` times each, alternating which goes first.
export async function paired<B, S>(runs: number, bare: () => B, sandboxed: () => Promise<S>): Promise<{ bare: B[]; sandbox: S[] }> {
  const result = { bare: [] as B[], sandbox: [] as S[] };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) result.bare.push(bare());
    result.sandbox.push(await sandboxed());
    if (i % 2 === 1) result.bare.push(bare());
  }
  return result;
}

export async function measureCpu(plan: AccuracyPlan, programs: Programs): Promise<CpuAccuracy> {
  const iterations = calibrate(programs, plan.busySeconds);
  const argv = [programs.busy, String(iterations)];
  const limits = { cpuMs: Math.ceil(plan.busySeconds * 10_000), wallMs: Math.ceil(plan.busySeconds * 40_000) };
  const runs = await paired(plan.cpuRuns, () => bareRun(programs, argv).cpuMs, () => sandboxedRun(programs, argv, limits));
  const { bare } = runs;
  const sandbox = runs.sandbox.map((run) => run.result.cpuMs);
  return {
    runs: plan.cpuRuns,
    iterations,
    sandboxMeanMs: mean(sandbox),
    sandboxCv: coefficientOfVariation(sandbox),
    bareMeanMs: mean(bare),
    bareCv: coefficientOfVariation(bare),
    ratio: mean(sandbox) / mean(bare),
    sandboxMs: sandbox,
    sandboxWallNs: runs.sandbox.map((run) => run.wallNs),
  };
}

export async function measureMemory(plan: AccuracyPlan, programs: Programs): Promise<MemoryAccuracy> {
  const argv = [programs.touch, String(plan.memoryMib)];
  const limits = { memoryKb: MEMORY_LIMIT_KB, cpuMs: 10_000, wallMs: 30_000 };
  const runs = await paired(plan.memoryRuns, () => bareRun(programs, argv).maxRssKb, () => sandboxedRun(programs, argv, limits));
  const { bare } = runs;
  const sandbox = runs.sandbox.map((run) => run.result.memoryKb);
  return {
    runs: plan.memoryRuns,
    mib: plan.memoryMib,
    sandboxMeanKb: mean(sandbox),
    bareMeanKb: mean(bare),
    ratio: mean(sandbox) / mean(bare),
    sandboxWallNs: runs.sandbox.map((run) => run.wallNs),
  };
}
