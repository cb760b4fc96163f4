// cellblock serve | api | worker: the service's processes. `serve` runs the API
// and a worker in one process, with its own redis-server unless REDIS_URL is set;
// `api` and `worker` run the halves apart, any number of each on one Redis.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { type Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { createApp } from '../api/app.js';
import { type Config, loadConfig } from '../config/schema.js';
import { startEmbeddedRedis } from '../queue/embedded-redis.js';
import { type LocalSlots } from '../queue/local.js';
import { connect, connectFailFast, redisOptions } from '../queue/redis.js';
import { imageStore } from '../images/images.js';
import { runs } from '../queue/runs.js';
import { eventHub, submissions } from '../queue/submissions.js';
import { directoryStore } from '../store/content.js';
import { startWorker } from '../worker/worker.js';


const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  workers: { type: 'string' },
} as const;

function configFrom(args: string[]): Config {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  return loadConfig({ host: values.host, port: values.port, dataDir: values.data, workers: values.workers });
}

const storeRoot = (config: Config) => process.env.CELLBLOCK_STORE ?? join(config.dataDir, 'store');
const storeFor = (config: Config) => directoryStore(storeRoot(config));

// A secret that stays the same across restarts: from the config, else kept in the
// data dir. Written to a temporary name and linked into place, so workers starting
// together agree on one secret and never read a half-written file.
function webhookSecret(config: Config): string {
  if (config.webhookSecret) return config.webhookSecret;
  const path = join(config.dataDir, 'webhook.secret');
  if (!existsSync(path)) {
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(temp, randomBytes(32).toString('hex'), { mode: 0o600 });
    try {
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temp);
    }
  }
  return readFileSync(path, 'utf8').trim();
}

interface Part {
  close(): Promise<void>;
}

// Resolves once the connection is usable, so the API never answers before Redis is there.
const ready = (redis: Redis) =>
  redis.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => redis.once('ready', () => resolve()));

// `local`: the worker in this process, when there is one (serve)
async function startApiPart(config: Config, redisUrl: string, log: Logger, local?: LocalSlots): Promise<Part> {
  const redis = connectFailFast(redisUrl);
  redis.on('error', () => undefined); // reported per request as 503
  // each fast-path wait listens for its loss (api/jobs.ts): no limit. Infinity,
  // not 0: BullMQ adds to and takes from the limit it finds (0 + 3 is a limit)
  redis.setMaxListeners(Infinity);
  const subscriber = connect(redisUrl);
  subscriber.on('error', () => undefined);
  await Promise.all([ready(redis), ready(subscriber)]);
  const subs = submissions(redis, config.resultTtlSeconds);
  const hub = await eventHub(subscriber);
  const streams = new Set<() => void>();
  const app = createApp({
    config,
    redis,
    subs,
    runs: runs(redis, config.resultTtlSeconds, subs.queue),
    hub,
    store: storeFor(config),
    images: imageStore(storeRoot(config)),
    log,
    streams,
    ...(local ? { local } : {}),
  });
  // Slowloris: headers and body must arrive within the request timeout, checked
  // often enough that a stalled client is cut soon after it.
  const serverOptions = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, config.requestTimeoutMs / 4)),
  };
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port, serverOptions });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { address, port } = server.address() as AddressInfo;
  // tests and scripts read this line for the port
  process.stdout.write(`cellblock: listening on http://${address.includes(':') ? `[${address}]` : address}:${port}\n`);
  return {
    async close() {
      // end the event streams first: an open stream would hold close() forever
      for (const end of streams) end();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      setTimeout(() => (server as { closeAllConnections?: () => void }).closeAllConnections?.(), 2_000).unref();
      await closed;
      await hub.close();
      await subs.queue.close();
      redis.disconnect();
    },
  };
}

async function startWorkerPart(config: Config, redisUrl: string, log: Logger): Promise<Part & { local: LocalSlots }> {
  const redis = connect(redisUrl);
  const subscriber = connect(redisUrl);
  for (const connection of [redis, subscriber]) connection.on('error', (error) => log.warn({ err: error }, 'redis'));
  const subs = submissions(redis, config.resultTtlSeconds);
  const worker = startWorker(redisOptions(redisUrl), subscriber, subs, {
    slots: config.workers,
    pinCpus: config.pinCpus,
    webhookSecret: webhookSecret(config),
    webhookPolicy: { attempts: config.webhookAttempts, backoffMs: config.webhookBackoffMs, timeoutMs: config.webhookTimeoutMs },
    store: storeFor(config),
    runs: runs(redis, config.resultTtlSeconds, subs.queue),
    images: imageStore(storeRoot(config)),
    orphanGraceMs: config.orphanGraceMs,
  }, log);
  log.info({ slots: config.workers }, 'worker started');
  return {
    local: worker.local,
    async close() {
      await worker.close(config.shutdownGraceMs);
      await subs.queue.close();
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}

// Runs until SIGTERM or SIGINT, then closes the parts in order: stop accepting,
// drain the workers within the grace, stop our own Redis last.
async function runUntilSignal(parts: Part[], after: () => Promise<void>, log: Logger): Promise<number> {
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  for (const part of parts) await part.close().catch((error: unknown) => log.error({ err: error }, 'shutdown'));
  await after();
  return 0;
}

const logger = (config: Config): Logger => pino({ level: config.logLevel }, pino.destination(2));

function requireRedis(config: Config, command: string): string {
  if (!config.redisUrl) throw new Error(`${command} joins a shared Redis: set REDIS_URL (or use cellblock serve)`);
  return config.redisUrl;
}

export async function serveCommand(args: string[]): Promise<number> {
  const config = configFrom(args);
  const log = logger(config);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const embedded = config.redisUrl ? undefined : await startEmbeddedRedis(config.dataDir);
  const redisUrl = config.redisUrl ?? embedded!.url;
  const worker = await startWorkerPart(config, redisUrl, log);
  const api = await startApiPart(config, redisUrl, log, worker.local);
  return runUntilSignal([api, worker], async () => embedded?.stop(), log);
}

export async function apiCommand(args: string[]): Promise<number> {
  const config = configFrom(args);
  const log = logger(config);
  return runUntilSignal([await startApiPart(config, requireRedis(config, 'api'), log)], async () => undefined, log);
}

export async function workerCommand(args: string[]): Promise<number> {
  const config = configFrom(args);
  const log = logger(config);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  return runUntilSignal([await startWorkerPart(config, requireRedis(config, 'worker'), log)], async () => undefined, log);
}
