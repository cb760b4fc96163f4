// The service's configuration: one zod schema, read from environment variables
// and an optional JSON file (CELLBLOCK_CONFIG). A wrong value stops the start
// with a message naming the key and what is allowed.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { LimitOverrides } from '../sandbox/schema.js';

const CeilingFields = z.object({
  timeMs: z.number().int().min(1).max(60_000),
  wallMs: z.number().int().min(1).max(300_000),
  memoryKb: z.number().int().min(4_096).max(8 * 1024 * 1024),
  tests: z.number().int().min(1).max(1_000),
});
const DEFAULT_CEILINGS: z.infer<typeof CeilingFields> = { timeMs: 10_000, wallMs: 30_000, memoryKb: 1_048_576, tests: 1_000 };

// Some ceilings, no defaults: what an API key overrides of the config's.
export const CeilingOverrides = CeilingFields.partial();
export const Ceilings = CeilingOverrides.transform((given) => ({ ...DEFAULT_CEILINGS, ...given }));
export type Ceilings = z.output<typeof Ceilings>;

// What a run (POST /v1/runs) may ask for: CI plug-ins may need minutes. The
// sandbox's own limit fields, so the ranges are one.
const RunCeilingFields = LimitOverrides.pick({
  cpuMs: true,
  wallMs: true,
  memoryKb: true,
  pids: true,
  outputKb: true,
  diskKb: true,
  inodes: true,
  collectKb: true,
  collectFiles: true,
});
const DEFAULT_RUN_CEILINGS: Required<z.infer<typeof RunCeilingFields>> = {
  cpuMs: 120_000,
  wallMs: 600_000,
  memoryKb: 1_048_576,
  pids: 256,
  outputKb: 16_384,
  diskKb: 262_144,
  inodes: 65_536,
  collectKb: 65_536,
  collectFiles: 1_000,
};
export const RunCeilings = RunCeilingFields.transform((given) => ({ ...DEFAULT_RUN_CEILINGS, ...given }));
export type RunCeilings = z.output<typeof RunCeilings>;

// The tenant of requests without a key (open mode): a key of that name would
// share its rate, its cap and its submissions.
export const OPEN_TENANT_NAME = 'open';

export const ApiKey = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a tenant name: letters, digits, _ . -')
    .refine((name) => name !== OPEN_TENANT_NAME, `"${OPEN_TENANT_NAME}" is the tenant of requests without a key`),
  // SHA-256 of the key, hex: keys themselves are never stored
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  ratePerMinute: z.number().int().min(1).default(600),
  maxActive: z.number().int().min(1).default(64),
  // the Jobe API's runs an hour for this key (Jobe's jobe_api_keys)
  runsPerHour: z.number().int().min(1).optional(),
  ceilings: CeilingOverrides.default({}),
  runCeilings: RunCeilingFields.default({}),
});
export type ApiKey = z.infer<typeof ApiKey>;

const port = z.coerce.number().int().min(0).max(65_535);
const loopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

export const Config = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(2358),
    dataDir: z.string().min(1).default('/var/lib/cellblock'),
    // absent: `serve` starts its own redis-server on a unix socket in dataDir
    redisUrl: z.string().url().optional(),
    // sandbox slots per worker process: one per core
    workers: z.coerce.number().int().min(1).max(256).default(availableParallelism()),
    // pin each slot to one CPU, so concurrent runs never share a core
    pinCpus: z.boolean().default(false),
    waitMs: z.coerce.number().int().min(0).max(300_000).default(30_000),
    batchMax: z.coerce.number().int().min(1).max(1_000).default(20),
    bodyMaxBytes: z.coerce.number().int().min(1_024).max(256 * 1024 * 1024).default(16 * 1024 * 1024),
    resultTtlSeconds: z.coerce.number().int().min(60).default(7 * 24 * 3600),
    // no keys needed; default: on when bound to loopback only
    openMode: z.boolean().optional(),
    apiKeys: z.array(ApiKey).default([]),
    // SHA-256 of the operator's key to /admin, hex; absent: the dashboard is closed
    adminKeySha256: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the admin key, lowercase hex').optional(),
    // the playground page at /
    playground: z.boolean().default(true),
    ceilings: Ceilings.prefault({}),
    runCeilings: RunCeilings.prefault({}),
    // root filesystems the operator prepared (e.g. with debootstrap), by name:
    // a run over the API names one (`rootfs`), never a host path
    rootfs: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a name: lowercase letters, digits, . _ -'),
        z.string().regex(/^\/[^:,\\]*$/, 'an absolute path without ":", "," or "\\"'),
      )
      .default({}),
    // signs webhook bodies; absent: a random one kept in dataDir
    webhookSecret: z.string().min(16).optional(),
    // webhook deliveries: attempts before giving up, the first retry's delay
    // (doubled each time), and how long a receiver may take to answer
    webhookAttempts: z.coerce.number().int().min(1).max(30).default(8),
    webhookBackoffMs: z.coerce.number().int().min(10).max(3_600_000).default(1_000),
    webhookTimeoutMs: z.coerce.number().int().min(100).max(300_000).default(10_000),
    // a client must send its whole request (headers and body) within this, and
    // an event stream's client must keep reading: slow and stalled clients are cut
    requestTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    shutdownGraceMs: z.coerce.number().int().min(0).default(30_000),
    // a job admitted this long ago with no BullMQ job (its API died before
    // queueing it) is queued by the workers' sweep, which runs twice as often;
    // at least seconds: a fast-path job is queued (held) just after its
    // admission, and one swept before would also run on another worker
    orphanGraceMs: z.coerce.number().int().min(2_000).max(3_600_000).default(60_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .transform((config) => ({ ...config, openMode: config.openMode ?? loopback(config.host) }));
export type Config = z.output<typeof Config>;
export type ConfigInput = z.input<typeof Config>;

// Environment variable → key. Flags on the command line override both.
const ENV: Record<string, keyof ConfigInput> = {
  CELLBLOCK_HOST: 'host',
  CELLBLOCK_PORT: 'port',
  CELLBLOCK_DATA: 'dataDir',
  REDIS_URL: 'redisUrl',
  CELLBLOCK_WORKERS: 'workers',
  CELLBLOCK_PIN_CPUS: 'pinCpus',
  CELLBLOCK_WAIT_MS: 'waitMs',
  CELLBLOCK_BATCH_MAX: 'batchMax',
  CELLBLOCK_BODY_MAX_BYTES: 'bodyMaxBytes',
  CELLBLOCK_RESULT_TTL_SECONDS: 'resultTtlSeconds',
  CELLBLOCK_OPEN_MODE: 'openMode',
  CELLBLOCK_ADMIN_KEY_SHA256: 'adminKeySha256',
  CELLBLOCK_PLAYGROUND: 'playground',
  CELLBLOCK_WEBHOOK_SECRET: 'webhookSecret',
  CELLBLOCK_WEBHOOK_ATTEMPTS: 'webhookAttempts',
  CELLBLOCK_WEBHOOK_BACKOFF_MS: 'webhookBackoffMs',
  CELLBLOCK_WEBHOOK_TIMEOUT_MS: 'webhookTimeoutMs',
  CELLBLOCK_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  CELLBLOCK_SHUTDOWN_GRACE_MS: 'shutdownGraceMs',
  CELLBLOCK_ORPHAN_GRACE_MS: 'orphanGraceMs',
  CELLBLOCK_LOG_LEVEL: 'logLevel',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const booleanText = (value: string): boolean | string =>
  value === '1' || value === 'true' ? true : value === '0' || value === 'false' ? false : value;

export function loadConfig(overrides: Partial<Record<keyof ConfigInput, unknown>> = {}, env = process.env): Config {
  let file: Record<string, unknown> = {};
  if (env.CELLBLOCK_CONFIG) {
    try {
      file = JSON.parse(readFileSync(env.CELLBLOCK_CONFIG, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`CELLBLOCK_CONFIG (${env.CELLBLOCK_CONFIG}): ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [variable, key] of Object.entries(ENV)) {
    const value = env[variable];
    if (value !== undefined && value !== '') fromEnv[key] = key === 'pinCpus' || key === 'openMode' || key === 'playground' ? booleanText(value) : value;
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const parsed = Config.safeParse({ ...file, ...fromEnv, ...defined });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(config)';
      const variable = Object.entries(ENV).find(([, k]) => k === issue.path[0])?.[0];
      return `${key}${variable ? ` (${variable})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
