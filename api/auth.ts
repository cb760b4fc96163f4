// Tenants: an API key (sent as "Authorization: Bearer <key>" or X-Api-Key) names
// its tenant; keys are stored as SHA-256 only. Each key has a rate per minute, a
// cap on active submissions and limit ceilings. In open mode (local use) a
// request without a key is the tenant "open".
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Redis } from 'ioredis';
import { type ApiKey, type Ceilings, type Config, OPEN_TENANT_NAME, type RunCeilings } from '../config/schema.js';
import { overRate, type RateWindow, type SubmitOptions } from '../queue/submissions.js';
import { ApiError, notAdmitted } from './errors.js';
import { type ApiContext } from './context.js';

export interface Tenant {
  name: string;
  ratePerMinute: number;
  maxActive: number;
  ceilings: Ceilings;
  // Jobe's limit on runs an hour (POST runs), when the key sets one
  runsPerHour?: number;
  runCeilings: RunCeilings;
}

const OPEN_TENANT = { name: OPEN_TENANT_NAME, ratePerMinute: 100_000, maxActive: 10_000 };

export function keyFrom(header: (name: string) => string | undefined): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(header('authorization') ?? '')?.[1];
  return bearer ?? header('x-api-key');
}

// Whether `presented` hashes to `sha256` (hex), compared in constant time.
export function keyMatches(sha256: string, presented: string): boolean {
  return timingSafeEqual(Buffer.from(sha256, 'hex'), createHash('sha256').update(presented).digest());
}

const matchKey = (keys: ApiKey[], presented: string): ApiKey | undefined => keys.find((key) => keyMatches(key.sha256, presented));

export function tenantOf(config: Config, header: (name: string) => string | undefined): Tenant {
  const presented = keyFrom(header);
  if (presented) {
    const key = matchKey(config.apiKeys, presented);
    if (!key) throw new ApiError('UNAUTHORIZED', 'unknown API key');
    return {
      name: key.name,
      ratePerMinute: key.ratePerMinute,
      maxActive: key.maxActive,
      ceilings: { ...config.ceilings, ...key.ceilings },
      ...(key.runsPerHour ? { runsPerHour: key.runsPerHour } : {}),
      runCeilings: { ...config.runCeilings, ...key.runCeilings },
    };
  }
  if (!config.openMode) throw new ApiError('UNAUTHORIZED', 'an API key is required (Authorization: Bearer <key>)');
  return { ...OPEN_TENANT, ceilings: config.ceilings, runCeilings: config.runCeilings };
}

// One round trip: the window's count, its expiry set by its first request.
const COUNT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count`;

// A fixed window per tenant and kind of request, counted in Redis so every API
// process of a deployment shares it.
export function rateWindow(tenant: Tenant, kind: string, seconds: number, limit: number, what: string): RateWindow {
  const now = Date.now() / 1000;
  return {
    key: `cellblock:${kind}:${tenant.name}:${Math.floor(now / seconds)}`,
    expireSeconds: seconds * 2,
    limit,
    what,
    retryAfter: seconds - (Math.floor(now) % seconds),
  };
}

// A request's own window of requests a minute.
export const requestRate = (tenant: Tenant): RateWindow => rateWindow(tenant, 'rate', 60, tenant.ratePerMinute, 'requests a minute');

// Counts the request in `window`; past the limit, RATE_LIMITED with the seconds
// until the window ends. (A job's submission counts it in its admission instead:
// queue/submissions.ts.)
export async function countIn(redis: Redis, window: RateWindow): Promise<void> {
  const count = Number(await redis.eval(COUNT, 1, window.key, String(window.expireSeconds)));
  if (count > window.limit) throw notAdmitted(overRate(window));
}

export const checkRate = (redis: Redis, tenant: Tenant): Promise<void> => countIn(redis, requestRate(tenant));

// The tenant of a request, counted against its rate.
export async function tenantFor(ctx: Pick<ApiContext, 'config' | 'redis'>, header: (name: string) => string | undefined): Promise<Tenant> {
  const tenant = tenantOf(ctx.config, header);
  await checkRate(ctx.redis, tenant);
  return tenant;
}

// What a tenant's submission is admitted under (queue/submissions.ts): its cap
// on active jobs and, for a request not counted yet, its rate.
export const admission = (tenant: Tenant, counted: boolean): Pick<SubmitOptions, 'maxActive' | 'rate'> => ({
  maxActive: tenant.maxActive,
  ...(counted ? {} : { rate: requestRate(tenant) }),
});
