// `cellblock serve` without REDIS_URL: its own redis-server (Debian's binary) on
// a unix socket in the data dir, with append-only persistence (everysec), stopped
// on exit. Accepted submissions survive a restart. One serve per data dir (a pid
// file); a redis-server a crashed serve left behind is shut down cleanly (it
// flushes its append-only file) before a new one starts on the same files.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { claimPidFile } from './lock.js';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

async function ping(socket: string): Promise<Redis | undefined> {
  if (!existsSync(socket)) return undefined;
  const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    if ((await probe.ping()) === 'PONG') return probe;
  } catch {
    // not listening
  }
  probe.disconnect();
  return undefined;
}

async function waitForPing(socket: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const answered = await ping(socket);
    if (answered) {
      answered.disconnect();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not answer on ${socket} within ${timeoutMs} ms`);
}

// A redis-server left by a crashed serve: SHUTDOWN writes its append-only file.
async function shutDownLeftover(socket: string): Promise<void> {
  const leftover = await ping(socket);
  if (!leftover) {
    rmSync(socket, { force: true });
    return;
  }
  await leftover.call('SHUTDOWN').catch(() => undefined); // the connection closes as it goes
  leftover.disconnect();
  for (let i = 0; i < 100 && existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} not found: run scripts/setup.sh, or set REDIS_URL`);
  }
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = join(dataDir, 'serve.pid');
  if (!claimPidFile(pidFile)) throw new Error(`another cellblock serve is using ${dataDir}`);
  const socket = join(dir, 'redis.sock');
  await shutDownLeftover(socket);
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
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM'); // redis-server flushes its append-only file on SIGTERM
        await exited;
      }
      rmSync(pidFile, { force: true });
    },
  };
}
