// The service for the HTTP rows: `cellblock serve` as a child process (the API
// and a worker with two slots, its own embedded redis-server), as an operator
// starts it, and sync runs of /bin/true posted to it over keep-alive connections.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { keptInFlight, type CellblockBatch, type Launch } from './cellblock.js';
import { scratchParent } from './programs.js';

export interface BenchService {
  url: string;
  // launches of /bin/true through POST /v1/runs?wait=true, `concurrency` connections
  batch(count: number, concurrency: number, warmup: number): Promise<CellblockBatch>;
  stop(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const RUN_BODY = JSON.stringify({ argv: ['/bin/true'] });

interface Reply {
  status: number;
  text: string;
}

function send(url: string, method: string, path: string, agent: Agent, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request(new URL(path, url), { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// One sync run of /bin/true; anything but a finished, successful run stops the benchmark.
const postTrue = (url: string, agent: Agent): Launch => async () => {
  const reply = await send(url, 'POST', '/v1/runs?wait=true', agent, RUN_BODY);
  const view = reply.status === 200 ? (JSON.parse(reply.text) as { status?: string; result?: { status?: string; exitCode?: number } }) : undefined;
  if (view?.status !== 'done' || view.result?.status !== 'ok' || view.result.exitCode !== 0) {
    throw new Error(`POST /v1/runs?wait=true answered ${reply.status}: ${reply.text.slice(0, 300)}`);
  }
  return undefined;
};

// The service's environment: ours without anything that would change its settings.
function serviceEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CELLBLOCK_') && name !== 'REDIS_URL'));
  return { ...env, CELLBLOCK_LOG_LEVEL: 'warn' };
}

async function listeningUrl(child: ChildProcess, output: () => string): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const found = /cellblock: listening on (http:\/\/\S+)\n/.exec(output());
    if (found?.[1]) return found[1];
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`cellblock serve exited before listening:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`cellblock serve did not listen within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await sleep(25);
  }
}

// /readyz says ready once Redis answers and the worker has registered.
async function untilReady(url: string, agent: Agent): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    last = (await send(url, 'GET', '/readyz', agent).catch((error: unknown) => ({ status: 0, text: String(error) }))).text;
    if (/"ready":true/.test(last)) return;
    await sleep(50);
  }
  throw new Error(`cellblock serve not ready within ${START_TIMEOUT_MS} ms: ${last}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function startService(): Promise<BenchService> {
  const dir = mkdtempSync(join(scratchParent(), 'cellblock-bench-serve-'));
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data', dir, '--workers', '2'], {
    env: serviceEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-8_192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // one agent per connection count: its sockets are the connections the runs share
  const agents = new Map<number, Agent>();
  const agentFor = (connections: number): Agent => {
    const agent = agents.get(connections) ?? new Agent({ keepAlive: true, maxSockets: connections });
    agents.set(connections, agent);
    return agent;
  };
  const stop = async (): Promise<void> => {
    for (const agent of agents.values()) agent.destroy();
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = await listeningUrl(child, () => output);
    await untilReady(url, agentFor(1));
    return {
      url,
      batch: (count, concurrency, warmup) => keptInFlight(postTrue(url, agentFor(concurrency)), count, concurrency, warmup),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
