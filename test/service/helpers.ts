// Shared by the service suite: the service's processes (serve, api, worker) and
// a redis-server started for real and stopped after, HTTP calls with fetch, an
// SSE reader, webhook receivers, and host-side process checks. Every process
// started here is tracked and killed by pid in stopAll(), even when a test fails.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type Submissions, submissions } from '../../queue/submissions.js';
import { CLI } from '../helpers/cli.js';
import { isAlive, killAlive, readText, sandboxUidProcesses } from '../helpers/host.js';

// ---------------------------------------------------------------- processes

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<Exit>;
  // stdout and stderr so far (stderr: pino JSON lines)
  stdout(): string;
  stderr(): string;
}

const tracked = new Set<Started>();
const tempDirs = new Set<string>();

// Last resort, should the test process end without its after hooks (a failed
// before, a timeout): nothing it started outlives it.
process.once('exit', () => {
  for (const proc of tracked) {
    try {
      if (proc.child.exitCode === null && proc.child.signalCode === null) process.kill(proc.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const dir of tempDirs) {
    for (const pid of redisServersUnder(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

// A temp dir of our own, removed by stopAll(). Short, so unix socket paths in
// it stay well under the 108-byte limit.
export function tempDir(prefix = 'cb-svc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

// A service config file (CELLBLOCK_CONFIG) in dir; returns its path.
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(config));
  return path;
}

export function startProcess(name: string, file: string, args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${file}`);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const started: Started = {
    name,
    pid: child.pid,
    child,
    exited,
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
  };
  tracked.add(started);
  return started;
}

// Environment for the service: the test's own, without anything that would
// change the service's settings behind the test's back.
export function serviceEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('CELLBLOCK_') && name !== 'REDIS_URL') env[name] = value;
  }
  return { ...env, CELLBLOCK_LOG_LEVEL: 'info', ...extra };
}

async function waitForOutput(proc: Started, pattern: RegExp, stream: 'stdout' | 'stderr', timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let exit: Exit | undefined;
  void proc.exited.then((value) => (exit = value));
  for (;;) {
    const found = pattern.exec(stream === 'stdout' ? proc.stdout() : proc.stderr());
    if (found) return found;
    if (exit) throw new Error(`${proc.name} exited (${JSON.stringify(exit)}) before ${pattern}:\n${proc.stdout()}\n${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name}: no ${pattern} within ${timeoutMs} ms:\n${proc.stdout()}\n${proc.stderr()}`);
    await delay(25);
  }
}

export interface Service extends Started {
  url: string;
}

// `cellblock serve` or `cellblock api` on a free port: resolves once it prints
// the line with its address and /readyz reports Redis reachable (and, for serve,
// its worker registered). The API may print the line before its own Redis
// connection is up, answering 503 meanwhile, as /readyz tells.
export async function startHttp(command: 'serve' | 'api', args: string[], env: NodeJS.ProcessEnv, name: string = command): Promise<Service> {
  const proc = startProcess(name, process.execPath, [CLI, command, '--host', '127.0.0.1', '--port', '0', ...args], env);
  const line = await waitForOutput(proc, /cellblock: listening on (http:\/\/127\.0\.0\.1:\d+)\n/, 'stdout', 15_000);
  const url = line[1] as string;
  let last = '';
  const ready = await eventuallyAsync(async () => {
    const reply = await call(url, 'GET', '/readyz');
    last = reply.text;
    const body = reply.json as { redis?: boolean; ready?: boolean } | undefined;
    return command === 'serve' ? body?.ready === true : body?.redis === true;
  }, 15_000, 25);
  assert.ok(ready, `${name} not ready: ${last}\n${proc.stderr().slice(-2_000)}`);
  return { ...proc, url };
}

// `cellblock worker`: resolves once it logs that it started.
export async function startWorkerProcess(env: NodeJS.ProcessEnv, name = 'worker', slots = 1): Promise<Started> {
  const proc = startProcess(name, process.execPath, [CLI, 'worker', '--workers', String(slots)], env);
  await waitForOutput(proc, /"msg":"worker started"/, 'stderr', 15_000);
  return proc;
}

// Sends `signal` and waits for the exit, up to `timeoutMs` (then SIGKILL, and
// the test learns of it from the result).
export async function stop(proc: Started, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit & { timedOut: boolean }> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return { ...(await proc.exited), timedOut: false };
  process.kill(proc.pid, signal);
  const exit = await within(proc.exited, timeoutMs);
  if (exit) return { ...exit, timedOut: false };
  process.kill(proc.pid, 'SIGKILL');
  return { ...(await proc.exited), timedOut: true };
}

// redis-server processes whose command line names a path under `dir`: the
// embedded one of a `serve` whose data dir is there, or one a test started. They
// keep their command line after a SIGKILLed parent leaves them to init.
export function redisServersUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const cmdline = readText(`/proc/${entry}/cmdline`).replaceAll('\0', ' ');
    if (cmdline.includes('redis-server') && cmdline.includes(dir) && isAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

// Kills every process the suite started that is still alive, the sandboxes
// they run (a SIGKILLed worker's sandbox outlives it), and any redis-server left
// under our temp dirs, then removes the temp dirs.
export async function stopAll(): Promise<void> {
  for (const stream of openStreams) stream.close();
  for (const proc of tracked) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      const sandboxes = sandboxPidsBelow(proc.pid);
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await proc.exited;
      killAlive(sandboxes);
    }
  }
  tracked.clear();
  for (const dir of tempDirs) {
    for (const pid of redisServersUnder(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await eventuallyTrue(() => redisServersUnder(dir).length === 0, 5_000);
    rmSync(dir, { recursive: true, force: true });
  }
  tempDirs.clear();
}

// A redis-server of the test's own on a unix socket (no TCP), append-only so a
// restart on the same dir keeps its data.
export interface TestRedis {
  dir: string;
  socket: string;
  url: string;
  proc: Started;
}

export async function startRedis(dir: string): Promise<TestRedis> {
  const socket = join(dir, 'redis.sock');
  const proc = startProcess('redis-server', '/usr/bin/redis-server', [
    '--port', '0',
    '--unixsocket', socket,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'always',
    '--save', '',
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ], process.env);
  const ok = await eventuallyAsync(() => pingSocket(socket), 10_000);
  assert.ok(ok, `redis-server did not answer on ${socket}: ${proc.stderr()}`);
  return { dir, socket, url: `unix://${socket}`, proc };
}

// The job store (queue/submissions.ts) on a redis-server of the test's own,
// with the connection it uses, for reading what it wrote.
export interface TestStore {
  redis: TestRedis;
  dir: string;
  connection: Redis;
  store: Submissions;
  jobExists(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startTestStore(prefix?: string): Promise<TestStore> {
  const dir = tempDir(prefix);
  const redis = await startRedis(dir);
  const connection = new Redis({ path: redis.socket, maxRetriesPerRequest: null });
  const store = submissions(connection, 3_600);
  return {
    redis,
    dir,
    connection,
    store,
    jobExists: async (id) => (await store.queue.getJob(id)) !== undefined,
    async close() {
      await store.queue.close();
      connection.disconnect();
    },
  };
}

// PING over the socket with the raw protocol: true on +PONG.
export function pingSocket(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    let reply = '';
    const done = (value: boolean) => {
      conn.destroy();
      resolve(value);
    };
    conn.setTimeout(1_000, () => done(false));
    conn.on('error', () => done(false));
    conn.on('connect', () => conn.write('PING\r\n'));
    conn.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

// ---------------------------------------------------------------- waiting

// `promise`'s value, or undefined if `timeoutMs` passes first. The timer is
// cleared either way (a pending one would keep the test process alive).
export async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function eventuallyTrue(check: () => boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await delay(everyMs);
  }
}

export async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await delay(everyMs);
  }
}

// What a leftover process is, for a failure's message.
export const describeProcesses = (pids: number[]): string =>
  pids
    .filter(isAlive)
    .map((pid) => {
      const status = readText(`/proc/${pid}/status`);
      const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '?';
      return `${pid} ${field('Name')} state=${field('State')} ppid=${field('PPid')} uid=${field('Uid')}`;
    })
    .join('; ');

// Sandbox processes (host uid at or above the sandbox base) below `pid`.
export const sandboxPidsBelow = (pid: number): number[] => sandboxUidProcesses(pid).map((p) => p.pid);

// ---------------------------------------------------------------- HTTP

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface CallOptions {
  body?: unknown;
  // sent as is (not JSON-encoded)
  raw?: string;
  headers?: Record<string, string>;
}

export async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export const describeReply = (reply: Reply): string => `HTTP ${reply.status}: ${reply.text.slice(0, 2_000)}`;

// What the API answers: the result of `cellblock judge --json` plus id and status.
export interface TestView {
  name: string;
  verdict: string;
  cpuMs: number;
  wallMs: number;
  memoryKb: number;
  exitCode: number | null;
  signal: string | null;
  message: string;
  points: number;
}

export interface View {
  id: string;
  status: 'queued' | 'running' | 'done' | 'cancelled';
  verdict?: string;
  score?: number;
  maxScore?: number;
  compile?: { status: string; output: string };
  tests?: TestView[];
  error?: string;
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function asView(reply: Reply): View {
  const value = reply.json as Partial<View> | undefined;
  assert.ok(value && typeof value.id === 'string' && typeof value.status === 'string', `not a submission: ${describeReply(reply)}`);
  return value as View;
}

// An error reply: the status and code expected, the one error shape, a message.
export function assertError(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, describeReply(reply));
  const body = reply.json as Partial<ErrorBody> | undefined;
  assert.ok(body?.error, `no {"error": …} body: ${describeReply(reply)}`);
  assert.deepEqual(Object.keys(body).sort(), ['error'], describeReply(reply));
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'], describeReply(reply));
  assert.equal(body.error.code, code, describeReply(reply));
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
}

// POST /v1/submissions → 202 {id, status: 'queued'}: the id.
export async function submit(base: string, submission: unknown, headers: Record<string, string> = {}): Promise<string> {
  const reply = await call(base, 'POST', '/v1/submissions', { body: submission, headers });
  assert.equal(reply.status, 202, describeReply(reply));
  const view = asView(reply);
  assert.equal(view.status, 'queued');
  return view.id;
}

export async function getView(base: string, id: string, headers: Record<string, string> = {}): Promise<View> {
  const reply = await call(base, 'GET', `/v1/submissions/${id}`, { headers });
  assert.equal(reply.status, 200, describeReply(reply));
  return asView(reply);
}

// Polls GET until `until` holds for the view, or fails after `timeoutMs`.
export async function waitForView(
  base: string,
  id: string,
  until: (view: View) => boolean,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<View> {
  const deadline = Date.now() + timeoutMs;
  let last: View | undefined;
  while (Date.now() < deadline) {
    last = await getView(base, id, headers);
    if (until(last)) return last;
    await delay(100);
  }
  assert.fail(`submission ${id} not there within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export const isFinal = (view: View): boolean => view.status === 'done' || view.status === 'cancelled';

// ---------------------------------------------------------------- SSE

export interface SseEvent {
  event: string;
  data: unknown;
}

const openStreams = new Set<EventStream>();

// Reads GET /v1/submissions/:id/events (or /v1/runs/:id/events) as it arrives. `ended` resolves when the
// server closes the stream.
export class EventStream {
  readonly events: SseEvent[] = [];
  readonly ended: Promise<void>;
  private error: unknown;

  private constructor(
    response: Response,
    private readonly abort: AbortController,
  ) {
    const body = response.body;
    assert.ok(body, 'no body');
    this.ended = this.read(body).catch((error: unknown) => {
      if (!this.abort.signal.aborted) this.error = error;
    });
  }

  static async open(base: string, id: string, headers: Record<string, string> = {}, kind: 'submissions' | 'runs' = 'submissions'): Promise<EventStream> {
    const abort = new AbortController();
    const response = await fetch(`${base}/v1/${kind}/${id}/events`, { headers, signal: abort.signal });
    if (response.status !== 200) assert.fail(`events: HTTP ${response.status} ${await response.text()}`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const stream = new EventStream(response, abort);
    openStreams.add(stream);
    // "state" is written after the server listens for the submission's events:
    // once it is here, nothing published later can be missed
    await stream.waitFor((event) => event.event === 'state', 10_000);
    return stream;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        this.events.push({ event, data: JSON.parse(data.join('\n')) as unknown });
      }
    }
  }

  async waitFor(check: (event: SseEvent) => boolean, timeoutMs: number): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(check);
      if (found) return found;
      if (this.error !== undefined) throw this.error;
      if (Date.now() > deadline) assert.fail(`no such event within ${timeoutMs} ms; got: ${JSON.stringify(this.events)}`);
      await delay(20);
    }
  }

  // Resolves true when the server ended the stream within `timeoutMs`.
  async endsWithin(timeoutMs: number): Promise<boolean> {
    return (await within(this.ended.then(() => true), timeoutMs)) ?? false;
  }

  close(): void {
    this.abort.abort();
    openStreams.delete(this);
  }

  names(): string[] {
    return this.events.map((event) => event.event).filter((name) => name !== 'ping');
  }
}

// ---------------------------------------------------------------- webhooks

export interface Delivery {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

// A local webhook receiver on 127.0.0.1: records every delivery; `answer` picks
// the status of each (by its index among the deliveries to that path).
export class Receiver {
  readonly deliveries: Delivery[] = [];
  private readonly server: Server;
  url = '';

  constructor(private readonly answer: (delivery: { path: string; index: number }) => number = () => 200) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        const index = this.deliveries.filter((d) => d.headers[':path'] === path).length;
        const status = this.answer({ path, index });
        this.deliveries.push({
          at: Date.now(),
          headers: { ...request.headers, ':path': path },
          body: Buffer.concat(chunks).toString('utf8'),
          answered: status,
        });
        response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  to(path: string): Delivery[] {
    return this.deliveries.filter((delivery) => delivery.headers[':path'] === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- submissions

export const PYTHON_APLUSB = 'a, b = map(int, open(0).read().split())\nprint(a + b)\n';

export const aplusbTests = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ name: `t${i + 1}`, stdin: `${i} ${i + 1}\n`, expected: `${2 * i + 1}\n` }));

export const aplusb = (tests = aplusbTests(1)) => ({ language: 'python3', source: PYTHON_APLUSB, tests });

// A+B that first sleeps `seconds` (wall time, no CPU) in every test.
export const slowAplusb = (seconds: number, tests: number, wallMs = 20_000) => ({
  language: 'python3',
  source: `import time\ntime.sleep(${seconds})\n${PYTHON_APLUSB}`,
  tests: aplusbTests(tests),
  limits: { timeMs: 2_000, wallMs },
});

// Sleeps well past any test's patience: only a cancel or a kill ends it.
export const sleeper = (seconds = 25) => ({
  language: 'python3',
  source: `import time\ntime.sleep(${seconds})\nprint(3)\n`,
  tests: [{ name: 'sleep', stdin: '', expected: '3\n' }],
  limits: { timeMs: 1_000, wallMs: (seconds + 5) * 1_000 },
});

// A Prometheus sample's value, or 0 when the series is absent.
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const have = new Map<string, string>();
    for (const match of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(match[1] as string, match[2] as string);
    if (Object.entries(labels).every(([key, value]) => have.get(key) === value)) return Number(line.slice(close + 1).trim());
  }
  return 0;
}
