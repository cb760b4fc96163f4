// Node's side of bench/bare.c: ask it for a batch of launches and parse what it
// measured.
import { spawnSync } from 'node:child_process';

export interface DriverRequest {
  count: number;
  concurrency: number;
  warmup: number;
  idleMs: number;
  argv: string[];
  // a file every launch reads as its stdin
  stdin?: string;
}

export interface DriverBatch {
  latenciesNs: number[];
  // the child's user+sys CPU time and max RSS, from wait4(2)
  cpuNs: number[];
  maxRssKb: number[];
  // time the timed launches took, idle sleeps excluded
  elapsedNs: number;
}

function parseSample(line: string): [number, number, number] {
  const fields = line.split(' ').map(Number);
  const [latency, cpu, rss] = fields;
  if (fields.length !== 3 || latency === undefined || cpu === undefined || rss === undefined || fields.some(Number.isNaN))
    throw new Error(`bench driver: unexpected line '${line}'`);
  return [latency, cpu, rss];
}

function parseOutput(stdout: string, stderr: string, argv: readonly string[]): DriverBatch {
  const lines = stdout.trim().split('\n');
  const summary = /^total (\d+) failed (\d+)$/.exec(lines.pop() ?? '');
  if (!summary) throw new Error(`bench driver: no summary line in output of ${argv.join(' ')}`);
  if (summary[2] !== '0') throw new Error(`bench driver: ${summary[2]} launches of ${argv.join(' ')} did not exit 0: ${stderr.trim()}`);
  const samples = lines.map(parseSample);
  return {
    latenciesNs: samples.map(([latency]) => latency),
    cpuNs: samples.map(([, cpu]) => cpu),
    maxRssKb: samples.map(([, , rss]) => rss),
    elapsedNs: Number(summary[1]),
  };
}

export function runDriver(driver: string, request: DriverRequest): DriverBatch {
  const args = [request.count, request.concurrency, request.warmup, request.idleMs].map(String);
  const input = request.stdin === undefined ? [] : ['-i', request.stdin];
  const child = spawnSync(driver, [...input, ...args, ...request.argv], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (child.error) throw child.error;
  if (child.status !== 0) throw new Error(`bench driver exited ${child.status}: ${child.stderr.trim()}`);
  return parseOutput(child.stdout, child.stderr, request.argv);
}
