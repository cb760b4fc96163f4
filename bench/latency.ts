// Launch latency: bare fork+exec, bubblewrap, Cellblock and a sync run through
// the service's HTTP API, measured side by side.
// Every (method, concurrency) cell gets a batch per round and the order rotates
// each round, so all rows share the machine's noise instead of each owning a
// quiet or a busy stretch of it.
import { existsSync } from 'node:fs';
import { cellblockAfterIdle, cellblockBatch } from './cellblock.js';
import { runDriver } from './driver.js';
import type { BenchService } from './service.js';
import { median, summarize, type LatencySummary } from './stats.js';

export type Method = 'bare' | 'bwrap' | 'cellblock' | 'http';

export const METHOD_LABELS: Record<Method, string> = {
  bare: 'bare fork+exec',
  bwrap: 'bubblewrap',
  cellblock: 'Cellblock',
  http: 'Cellblock, sync run over HTTP',
};

const METHODS: Method[] = ['bare', 'bwrap', 'cellblock', 'http'];
// The idle rows are about launching a process, which HTTP adds nothing to.
const IDLE_METHODS: Method[] = ['bare', 'bwrap', 'cellblock'];

export const BWRAP = '/usr/bin/bwrap';
export const BWRAP_ARGV = [
  BWRAP, '--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib',
  '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '/bin/true',
];

export interface Cell {
  method: Method;
  concurrency: number;
  // > 0: sleep this long before every launch, at concurrency 1
  idleMs: number;
}

export interface LatencyPlan {
  runs: number;
  batchSize: number;
  idleRuns: number;
  idleMs: number;
}

export interface LatencyRow extends Cell {
  label: string;
  summary: LatencySummary | null;
  // why there are no figures (bubblewrap missing or failing)
  unavailable?: string;
  // Cellblock only: median of run()'s own wallMs (go message to init's report)
  reportedWallMedianMs?: number;
  // Cellblock only: sandboxes built during the row's launches
  sandboxesBuilt?: number;
}

interface Samples {
  latenciesNs: number[];
  reportedWallMs: number[];
  elapsedNs: number;
  built?: number;
}

const emptySamples = (): Samples => ({ latenciesNs: [], reportedWallMs: [], elapsedNs: 0 });

const joined = (a: Samples, b: Samples): Samples => ({
  latenciesNs: [...a.latenciesNs, ...b.latenciesNs],
  reportedWallMs: [...a.reportedWallMs, ...b.reportedWallMs],
  elapsedNs: a.elapsedNs + b.elapsedNs,
  ...(a.built !== undefined || b.built !== undefined ? { built: (a.built ?? 0) + (b.built ?? 0) } : {}),
});

type Launcher = (count: number, concurrency: number, warmup: number, idleMs: number) => Promise<Samples>;

function launchers(driver: string, service: BenchService): Record<Method, Launcher> {
  const viaDriver = (argv: string[]): Launcher => async (count, concurrency, warmup, idleMs) => ({
    ...runDriver(driver, { count, concurrency, warmup, idleMs, argv }),
    reportedWallMs: [],
  });
  return {
    bare: viaDriver(['/bin/true']),
    bwrap: viaDriver(BWRAP_ARGV),
    cellblock: (count, concurrency, warmup, idleMs) =>
      idleMs > 0 ? cellblockAfterIdle(count, idleMs) : cellblockBatch(count, concurrency, warmup),
    http: (count, concurrency, warmup) => service.batch(count, concurrency, warmup),
  };
}

// null when bubblewrap works here; otherwise what the row prints instead.
function bwrapProblem(driver: string): string | null {
  if (!existsSync(BWRAP)) return 'not installed';
  try {
    runDriver(driver, { count: 1, concurrency: 1, warmup: 0, idleMs: 0, argv: BWRAP_ARGV });
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // It lands in a table cell: one line, no column separators.
    return `failed: ${message.replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 120)}`;
  }
}

// total split into `parts` counts that differ by at most one.
export function splitEvenly(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

const rotate = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length] as T);

function cellsOf(plan: LatencyPlan): Cell[] {
  return [
    ...[1, 2].flatMap((concurrency) => METHODS.map((method) => ({ method, concurrency, idleMs: 0 }))),
    ...IDLE_METHODS.map((method) => ({ method, concurrency: 1, idleMs: plan.idleMs })),
  ];
}

function labelOf(cell: Cell): string {
  return cell.idleMs > 0 ? `${METHOD_LABELS[cell.method]} after ${cell.idleMs} ms idle` : METHOD_LABELS[cell.method];
}

function rowOf(cell: Cell, samples: Samples, unavailable: string | null): LatencyRow {
  if (unavailable !== null) return { ...cell, label: labelOf(cell), summary: null, unavailable };
  return {
    ...cell,
    label: labelOf(cell),
    // Runs per second says nothing when most of the time was spent asleep.
    summary: summarize(samples.latenciesNs, cell.idleMs > 0 ? null : samples.elapsedNs),
    ...(samples.reportedWallMs.length > 0 ? { reportedWallMedianMs: median(samples.reportedWallMs) } : {}),
    ...(samples.built !== undefined ? { sandboxesBuilt: samples.built } : {}),
  };
}

export async function measureLatency(
  plan: LatencyPlan,
  driver: string,
  service: BenchService,
  progress: (note: string) => void,
): Promise<LatencyRow[]> {
  const launch = launchers(driver, service);
  const problems: Record<Method, string | null> = { bare: null, bwrap: bwrapProblem(driver), cellblock: null, http: null };
  const cells = cellsOf(plan);
  const live = cells.filter((cell) => problems[cell.method] === null);
  const rounds = Math.max(1, Math.ceil(plan.runs / plan.batchSize));
  const perRound = new Map(live.map((cell) => [cell, splitEvenly(cell.idleMs > 0 ? plan.idleRuns : plan.runs, rounds)]));
  const samples = new Map<Cell, Samples>();

  // Untimed: page cache, the JIT, the seccomp policy cache, the connections.
  for (const method of METHODS) {
    if (problems[method] === null) await launch[method](5, 1, 0, 0);
  }
  for (let round = 0; round < rounds; round++) {
    progress(`latency: round ${round + 1} of ${rounds}`);
    for (const cell of rotate(live, round)) {
      const count = perRound.get(cell)?.[round] ?? 0;
      if (count === 0) continue;
      // One untimed launch starts every busy batch, whatever ran just before it;
      // the idle rows show what a launch costs without one.
      const batch = await launch[cell.method](count, cell.concurrency, cell.idleMs > 0 ? 0 : 1, cell.idleMs);
      samples.set(cell, joined(samples.get(cell) ?? emptySamples(), batch));
    }
  }
  return cells.map((cell) => rowOf(cell, samples.get(cell) ?? emptySamples(), problems[cell.method]));
}
