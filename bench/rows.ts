// The stable rows of `--json`: one per thing measured, each with the same
// statistics (median, p90, p99, runs/s), named so that scripts can rely on them.
import type { CpuAccuracy, MemoryAccuracy } from './accuracy.js';
import type { JudgeOverhead } from './judging.js';
import type { LatencyRow, Method } from './latency.js';
import type { LoadOverhead, Overheads } from './overhead.js';
import { median, summarize, type LatencySummary } from './stats.js';

export interface Row {
  name: string;
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  // runs (launches, requests, submissions) per second of the row's own busy time
  runsPerSec: number | null;
  // median ÷ its bare peer's median (accuracy rows: mean ÷ bare mean)
  ratioToBare?: number;
  // why a row has no figures (bubblewrap missing)
  unavailable?: string;
  // judge/cellblock50: (its median − judge/bare50's median) ÷ tests
  perTestOverheadMs?: number;
  // syscall/ and compute/ rows, whose ms figures are CPU time: the runs' wall time
  wallMedianMs?: number;
  // accuracy/cpu
  meanMs?: number;
  cv?: number;
  // accuracy/memory
  peakKb?: number;
}

const PREFIX: Record<Method, string> = { bare: 'launch/bare', bwrap: 'launch/bwrap', cellblock: 'launch/cellblock', http: 'http/sync' };

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

function fromSummary(name: string, summary: LatencySummary): Row {
  const { count, medianMs, p90Ms, p99Ms, runsPerSecond } = summary;
  return { name, count, medianMs, p90Ms, p99Ms, runsPerSec: runsPerSecond };
}

const ofSamples = (name: string, samplesNs: readonly number[], busyNs: number): Row => fromSummary(name, summarize(samplesNs, busyNs));

const latencyName = (row: LatencyRow): string =>
  `${PREFIX[row.method]}${row.idleMs > 0 ? `@idle${row.idleMs}` : row.concurrency > 1 ? `@${row.concurrency}` : ''}`;

function latencyRows(latency: readonly LatencyRow[]): Row[] {
  const rows = latency.map((row) =>
    row.summary
      ? fromSummary(latencyName(row), row.summary)
      : { name: latencyName(row), count: 0, medianMs: null, p90Ms: null, p99Ms: null, runsPerSec: null, unavailable: row.unavailable ?? 'no samples' },
  );
  // ÷ the bare launch at the same concurrency (HTTP too: the floor it is held to)
  return rows.map((row, i) => {
    const own = latency[i] as LatencyRow;
    const bare = latency.find((r) => r.method === 'bare' && r.concurrency === own.concurrency && r.idleMs === own.idleMs)?.summary;
    return own.method !== 'bare' && bare && row.medianMs !== null ? { ...row, ratioToBare: row.medianMs / bare.medianMs } : row;
  });
}

function judgeRows(judging: JudgeOverhead): Row[] {
  const tests = judging.tests;
  const bare = ofSamples(`judge/bare${tests}`, judging.bareNs, sum(judging.bareNs));
  const judged = ofSamples(`judge/cellblock${tests}`, judging.judgedNs, sum(judging.judgedNs));
  const [judgedMs, bareMs] = [judged.medianMs ?? 0, bare.medianMs ?? 0];
  return [{ ...judged, ratioToBare: judgedMs / bareMs, perTestOverheadMs: (judgedMs - bareMs) / tests }, bare];
}

// CPU time as the figures, wall time for runs/s.
function loadRows(kind: string, load: LoadOverhead): Row[] {
  const side = (name: string, cpuMs: number[], wallNs: number[]): Row => ({
    ...ofSamples(name, cpuMs.map((ms) => ms * 1e6), sum(wallNs)),
    wallMedianMs: median(wallNs) / 1e6,
  });
  const bare = side(`${kind}/bare`, load.bare.cpuMs, load.bare.wallNs);
  const sandboxed = side(`${kind}/cellblock`, load.sandbox.cpuMs, load.sandbox.wallNs);
  return [bare, { ...sandboxed, ratioToBare: (sandboxed.medianMs ?? 0) / (bare.medianMs ?? 1) }];
}

function accuracyRows(cpu: CpuAccuracy, memory: MemoryAccuracy): Row[] {
  return [
    {
      ...ofSamples('accuracy/cpu', cpu.sandboxMs.map((ms) => ms * 1e6), sum(cpu.sandboxWallNs)),
      meanMs: cpu.sandboxMeanMs,
      cv: cpu.sandboxCv,
      ratioToBare: cpu.ratio,
    },
    {
      // the memory row's ms figures are its sandboxed runs' wall time
      ...ofSamples('accuracy/memory', memory.sandboxWallNs, sum(memory.sandboxWallNs)),
      peakKb: memory.sandboxMeanKb,
      ratioToBare: memory.ratio,
    },
  ];
}

export function stableRows(measured: { latency: readonly LatencyRow[]; judging: JudgeOverhead; overheads: Overheads; cpu: CpuAccuracy; memory: MemoryAccuracy }): Row[] {
  return [
    ...latencyRows(measured.latency),
    ...judgeRows(measured.judging),
    ...loadRows('syscall', measured.overheads.syscall),
    ...loadRows('compute', measured.overheads.compute),
    ...accuracyRows(measured.cpu, measured.memory),
  ];
}

export const rowNamed = (rows: readonly Row[], name: string): Row | undefined => rows.find((row) => row.name === name);
