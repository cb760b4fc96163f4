// `cellblock serve` without REDIS_URL: its own redis-server (Debian's binary) on
// a unix socket in the data dir, with append-only persistence (everysec), stopped
// on exit. Accepted submissions survive a restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

async function waitForPing(socket: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (existsSync(socket)) {
      const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not listening yet
      } finally {
        probe.disconnect();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not answer on ${socket} within ${timeoutMs} ms`);
}

export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} not found: run scripts/setup.sh, or set REDIS_URL`);
  }
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, 'redis.sock');
  const child = spawn(
    REDIS_SERVER,
    [
      '--port', '0',
      '--unixsocket', socket,
      '--unixsocketperm', '700',
      '--dir', dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--loglevel', 'warning',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPing(socket, child, 10_000);
  return {
    url: `unix://${socket}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM'); // redis-server flushes its append-only file on SIGTERM
      await exited;
    },
  };
}
