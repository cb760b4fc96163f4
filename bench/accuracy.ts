// Accuracy of what a run reports: CPU time of a fixed busy loop and the peak
// memory of a program touching a known amount, each against the same program's
// bare rusage (from the driver's wait4). Bare and sandboxed runs alternate, and
// alternate which goes first, so drift on the machine hits both alike.
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
}

export interface MemoryAccuracy {
  runs: number;
  mib: number;
  sandboxMeanKb: number;
  bareMeanKb: number;
  ratio: number;
}

const MEMORY_LIMIT_KB = 512 * 1024;
const CALIBRATION_ITERATIONS = 100_000_000;

function bareRun(programs: Programs, argv: string[]): { cpuMs: number; maxRssKb: number } {
  const batch = runDriver(programs.driver, { count: 1, concurrency: 1, warmup: 0, idleMs: 0, argv });
  return { cpuMs: (batch.cpuNs[0] ?? 0) / 1e6, maxRssKb: batch.maxRssKb[0] ?? 0 };
}

// The iteration count that takes about busySeconds of CPU here, bare.
function calibrate(programs: Programs, busySeconds: number): number {
  const probes = [0, 1, 2].map(() => bareRun(programs, [programs.busy, String(CALIBRATION_ITERATIONS)]).cpuMs);
  return Math.round((CALIBRATION_ITERATIONS * busySeconds * 1000) / median(probes));
}

// Runs bare and sandboxed `runs` times each, alternating which goes first.
async function paired(runs: number, bare: () => number, sandboxed: () => Promise<number>): Promise<{ bare: number[]; sandbox: number[] }> {
  const result = { bare: [] as number[], sandbox: [] as number[] };
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
  const { bare, sandbox } = await paired(
    plan.cpuRuns,
    () => bareRun(programs, argv).cpuMs,
    async () => (await runChecked({ argv, readOnly: [programs.dir], limits })).cpuMs,
  );
  return {
    runs: plan.cpuRuns,
    iterations,
    sandboxMeanMs: mean(sandbox),
    sandboxCv: coefficientOfVariation(sandbox),
    bareMeanMs: mean(bare),
    bareCv: coefficientOfVariation(bare),
    ratio: mean(sandbox) / mean(bare),
  };
}

export async function measureMemory(plan: AccuracyPlan, programs: Programs): Promise<MemoryAccuracy> {
  const argv = [programs.touch, String(plan.memoryMib)];
  const limits = { memoryKb: MEMORY_LIMIT_KB, cpuMs: 10_000, wallMs: 30_000 };
  const { bare, sandbox } = await paired(
    plan.memoryRuns,
    () => bareRun(programs, argv).maxRssKb,
    async () => (await runChecked({ argv, readOnly: [programs.dir], limits })).memoryKb,
  );
  return {
    runs: plan.memoryRuns,
    mib: plan.memoryMib,
    sandboxMeanKb: mean(sandbox),
    bareMeanKb: mean(bare),
    ratio: mean(sandbox) / mean(bare),
  };
}
