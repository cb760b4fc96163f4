// Tenants: an API key (sent as "Authorization: Bearer <key>" or X-Api-Key) names
// its tenant; keys are stored as SHA-256 only. Each key has a rate per minute, a
// cap on active submissions and limit ceilings. In open mode (local use) a
// request without a key is the tenant "open".
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Redis } from 'ioredis';
import { type ApiKey, type Ceilings, type Config, type RunCeilings } from '../config/schema.js';
import { ApiError } from './errors.js';
import { type ApiContext } from './context.js';

export interface Tenant {
  name: string;
  ratePerMinute: number;
  maxActive: number;
  ceilings: Ceilings;
  runCeilings: RunCeilings;
}

const OPEN_TENANT = { name: 'open', ratePerMinute: 100_000, maxActive: 10_000 };

function keyFrom(header: (name: string) => string | undefined): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(header('authorization') ?? '')?.[1];
  return bearer ?? header('x-api-key');
}

function matchKey(keys: ApiKey[], presented: string): ApiKey | undefined {
  const digest = createHash('sha256').update(presented).digest();
  return keys.find((key) => timingSafeEqual(Buffer.from(key.sha256, 'hex'), digest));
}

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
      runCeilings: { ...config.runCeilings, ...key.runCeilings },
    };
  }
  if (!config.openMode) throw new ApiError('UNAUTHORIZED', 'an API key is required (Authorization: Bearer <key>)');
  return { ...OPEN_TENANT, ceilings: config.ceilings, runCeilings: config.runCeilings };
}

// A fixed one-minute window per tenant, counted in Redis so every API process
// of a deployment shares it.
export async function checkRate(redis: Redis, tenant: Tenant): Promise<void> {
  const minute = Math.floor(Date.now() / 60_000);
  const counter = `cellblock:rate:${tenant.name}:${minute}`;
  const [[, count]] = (await redis.multi().incr(counter).expire(counter, 120).exec()) as [[unknown, number]];
  if (count > tenant.ratePerMinute) {
    throw new ApiError('RATE_LIMITED', `over ${tenant.ratePerMinute} requests a minute`, 60 - (Math.floor(Date.now() / 1000) % 60));
  }
}

// The tenant of a request, counted against its rate.
export async function tenantFor(ctx: Pick<ApiContext, 'config' | 'redis'>, header: (name: string) => string | undefined): Promise<Tenant> {
  const tenant = tenantOf(ctx.config, header);
  await checkRate(ctx.redis, tenant);
  return tenant;
}
