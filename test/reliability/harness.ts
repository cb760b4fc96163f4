// Shared by the reliability scenarios: their size (CI or soak: one scenario,
// two sizes), a deployment of separate processes (a redis-server, `cellblock
// api`, `cellblock worker`s) built from the service suite's helpers, a counter
// of every event the workers publish (to see a result written twice), latency
// figures, and the line each scenario prints with them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { uniqueToken } from '../helpers/fixtures.js';
import { isAlive, killAlive, mountInfo, readText } from '../helpers/host.js';
import {
  aplusb,
  asView,
  call,
  describeReply,
  eventuallyAsync,
  sandboxPidsBelow,
  type Service,
  serviceEnv,
  type Started,
  startHttp,
  startRedis,
  startWorkerProcess,
  stop,
  tempDir,
  type TestRedis,
} from '../service/helpers.js';

// `npm run soak` sets CELLBLOCK_SOAK=1: the same scenarios with operators' numbers.
export const SOAK = process.env.CELLBLOCK_SOAK === '1';
export const size = (ci: number, soak: number): number => (SOAK ? soak : ci);

// ---------------------------------------------------------------- figures

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export interface Figures {
  submitted?: number;
  completed?: number;
  lost?: number;
  duplicated?: number;
  leaked?: number;
  // latencies in ms, reported as p50/p99
  latencies?: number[];
  [other: string]: number | number[] | string | undefined;
}

// One line per scenario, `reliability <scenario> {json}`, for BENCHMARKS.md.
export function report(scenario: string, figures: Figures): void {
  const { latencies, ...rest } = figures;
  const line: Record<string, unknown> = { ...rest };
  if (latencies && latencies.length > 0) {
    line.p50Ms = Math.round(percentile(latencies, 50));
    line.p99Ms = Math.round(percentile(latencies, 99));
  }
  process.stdout.write(`reliability ${scenario}${SOAK ? ' (soak)' : ''} ${JSON.stringify(line)}\n`);
}

// Runs `task` over `items`, at most `width` at a time.
export async function inPool<T, R>(items: T[], width: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++) results[index] = await task(items[index] as T, index);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

export async function timed<T>(work: () => Promise<T>, into: number[]): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    into.push(performance.now() - started);
  }
}

// Judges `count` A+B submissions with ?wait=true, two at a time, each AC; the
// round trips go to `into`. `extra(i)` adds fields (a callbackUrl).
export const judgeAplusb = (base: string, count: number, into: number[], extra: (i: number) => object = () => ({})): Promise<void[]> =>
  inPool(Array.from({ length: count }, (_, i) => i), 2, async (i) => {
    const reply = await timed(() => call(base, 'POST', '/v1/submissions?wait=true', { body: { ...aplusb(), ...extra(i) } }), into);
    assert.equal(reply.status, 200, describeReply(reply));
    assert.equal(asView(reply).verdict, 'AC', describeReply(reply));
  });

// ---------------------------------------------------------------- host

export const rssKb = (pid: number): number => Number(/^VmRSS:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`))?.[1] ?? 0);

// The host's mounts that name us: a sandbox's are in its own mount namespace,
// so any new one here is a leak.
export const ourMounts = (): string[] => mountInfo().split('\n').filter((line) => line.includes('cellblock')).sort();

// ---------------------------------------------------------------- events

// Every event the workers publish, counted by submission, read from Redis
// itself (a pattern subscription of our own), so that a result written twice or
// a submission started twice shows even when no client was listening.
export interface EventLog {
  done(id: string): number;
  running(id: string): number;
  close(): Promise<void>;
}

export async function eventLog(url: string): Promise<EventLog> {
  const subscriber = new Redis({ path: new URL(url).pathname, maxRetriesPerRequest: null });
  subscriber.on('error', () => undefined); // a scenario may stop Redis: the connection comes back
  const done = new Map<string, number>();
  const running = new Map<string, number>();
  const bump = (counts: Map<string, number>, id: string) => counts.set(id, (counts.get(id) ?? 0) + 1);
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    const id = channel.slice('cellblock:events:'.length);
    const event = JSON.parse(message) as { type: string; status?: string };
    if (event.type === 'done') bump(done, id);
    if (event.type === 'status' && event.status === 'running') bump(running, id);
  });
  await subscriber.psubscribe('cellblock:events:*');
  return {
    done: (id) => done.get(id) ?? 0,
    running: (id) => running.get(id) ?? 0,
    async close() {
      subscriber.disconnect();
    },
  };
}

// ---------------------------------------------------------------- deployment

export interface Deployment {
  redis: TestRedis;
  api: Service;
  dataDir: string;
  storeDir: string;
  // the worker processes started, alive or not
  workers: Started[];
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  startWorker(name: string, slots?: number, extra?: Record<string, string>): Promise<Started>;
  restartApi(): Promise<Service>;
  readyWorkers(): Promise<number>;
  // SIGKILLs a worker and the sandboxes it ran (they would be swept anyway)
  killWorker(worker: Started): Promise<void>;
  stopWorkers(): Promise<void>;
}

// A redis-server on a unix socket (append-only, fsync always), one `cellblock
// api`, and workers started on demand; everything is stopped by stopAll().
export async function deploy(apiEnv: Record<string, string> = {}): Promise<Deployment> {
  const dir = tempDir('cb-rel-');
  const dataDir = join(dir, 'data');
  const storeDir = join(dir, 'store');
  const secret = uniqueToken('secret');
  const redis = await startRedis(dir);
  const deployment: Deployment = {
    redis,
    api: undefined as unknown as Service,
    dataDir,
    storeDir,
    workers: [],
    env: (extra = {}) =>
      serviceEnv({
        REDIS_URL: deployment.redis.url,
        CELLBLOCK_DATA: dataDir,
        CELLBLOCK_STORE: storeDir,
        CELLBLOCK_WEBHOOK_SECRET: secret,
        CELLBLOCK_LOG_LEVEL: 'warn',
        ...extra,
      }),
    async startWorker(name, slots = 1, extra = {}) {
      // "worker started" is logged at info
      const worker = await startWorkerProcess(deployment.env({ CELLBLOCK_LOG_LEVEL: 'info', ...extra }), name, slots);
      deployment.workers.push(worker);
      return worker;
    },
    async restartApi() {
      deployment.api = await startHttp('api', [], deployment.env(apiEnv));
      return deployment.api;
    },
    async readyWorkers() {
      const reply = await call(deployment.api.url, 'GET', '/readyz');
      return (reply.json as { workers?: number } | undefined)?.workers ?? -1;
    },
    async killWorker(worker) {
      const sandboxes = sandboxPidsBelow(worker.pid);
      await stop(worker, 'SIGKILL');
      killAlive(sandboxes);
    },
    async stopWorkers() {
      for (const worker of deployment.workers.splice(0)) await deployment.killWorker(worker);
      assert.ok(await eventuallyAsync(async () => (await deployment.readyWorkers()) === 0, 15_000), 'a stopped worker is still counted');
    },
  };
  await deployment.restartApi();
  return deployment;
}
