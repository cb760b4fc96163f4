// Redis connections. REDIS_URL may be redis://, rediss:// or unix:///path (the
// embedded server's socket); Sentinel and Cluster take ioredis options from the
// config file's redisOptions.
import { Redis } from 'ioredis';

// The fields we set, which both ioredis and BullMQ accept as connection options.
export interface Connection {
  host?: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  maxRetriesPerRequest: number | null;
  enableReadyCheck: boolean;
  enableOfflineQueue?: boolean;
  retryStrategy: (attempt: number) => number;
}

// Reconnect within a second of Redis's return, however long it was away
// (BullMQ's own strategy backs off to 20 s, leaving workers idle that long).
const reconnectDelayMs = (attempt: number): number => Math.min(attempt * 100, 1_000);

export function redisOptions(url: string): Connection {
  const parsed = new URL(url);
  // BullMQ's blocking commands must not give up on a slow Redis
  const common: Connection = { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: reconnectDelayMs };
  if (parsed.protocol === 'unix:' || parsed.protocol === 'redis+unix:') return { ...common, path: parsed.pathname };
  return {
    ...common,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export const connect = (url: string): Redis => new Redis(redisOptions(url));

// For request handling: with Redis down, fail at once (the API answers 503)
// instead of queueing commands until it is back.
export const connectFailFast = (url: string): Redis =>
  new Redis({ ...redisOptions(url), maxRetriesPerRequest: 1, enableOfflineQueue: false });
