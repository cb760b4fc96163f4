// The statistics every row shares, so rows differ only in what they measured.

export interface LatencySummary {
  count: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  // launches per second of busy time; null where idle gaps make it meaningless
  runsPerSecond: number | null;
}

// Linear interpolation between closest ranks (the common "type 7" definition).
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  const position = (sorted.length - 1) * fraction;
  const below = Math.floor(position);
  const low = sorted[below] ?? 0;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] ?? low;
  return low + (high - low) * (position - below);
}

export function summarize(latenciesNs: readonly number[], busyNs: number | null): LatencySummary {
  const sortedMs = latenciesNs.map((ns) => ns / 1e6).sort((a, b) => a - b);
  return {
    count: sortedMs.length,
    medianMs: percentile(sortedMs, 0.5),
    p90Ms: percentile(sortedMs, 0.9),
    p99Ms: percentile(sortedMs, 0.99),
    runsPerSecond: busyNs === null || busyNs <= 0 ? null : sortedMs.length / (busyNs / 1e9),
  };
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('mean of no samples');
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

// Sample standard deviation over the mean.
export function coefficientOfVariation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const average = mean(values);
  const variance = values.reduce((sum, value) => sum + (value - average) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance) / average;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}
