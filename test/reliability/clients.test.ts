// Slow and hostile clients: slowloris connections (headers a byte at a time, or
// a body that never finishes) and an event-stream client that never reads. The
// API cuts each within its request timeout, and submissions are judged at their
// usual pace meanwhile: a client holds a socket, never a worker.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { readText } from '../helpers/host.js';
import { aplusb, asView, call, describeReply, stopAll } from '../service/helpers.js';
import { type Deployment, deploy, judgeAplusb, percentile, report, size } from './harness.js';

const TIMEOUT_MS = 2_000;
const SLOW_CLIENTS = size(40, 400);
// the API checks its connections' deadlines every TIMEOUT_MS / 4
const CUT_BOUND_MS = TIMEOUT_MS * 2 + 1_000;

interface Slow {
  socket: Socket;
  openedAt: number;
  closedAt?: number;
}

// A connection that sends what it sends one byte every `everyMs`, never finishing.
function slowloris(url: string, kind: 'headers' | 'body', everyMs: number): Slow {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const slow: Slow = { socket, openedAt: Date.now() };
  const head =
    kind === 'headers'
      ? `GET /v1/languages HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(10_000)}`
      : `POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"language":"python3","source":"`;
  let sent = kind === 'body' ? head.length : 20;
  socket.on('connect', () => socket.write(head.slice(0, sent)));
  const timer = setInterval(() => {
    if (socket.destroyed) return;
    socket.write(kind === 'headers' ? (head[sent++] ?? 'a') : 'x');
  }, everyMs);
  socket.on('error', () => undefined);
  socket.on('data', () => undefined); // a 408, if the server says so
  socket.on('close', () => {
    clearInterval(timer);
    slow.closedAt = Date.now();
  });
  return slow;
}

// The API side of a TCP connection, from /proc/net/tcp: 'ESTABLISHED' while it holds it.
const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '0B': 'CLOSING' };
function serverSide(apiPort: number, clientPort: number): string {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readText('/proc/net/tcp').split('\n').slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(apiPort)}`) && remote?.endsWith(`:${hex(clientPort)}`)) return TCP_STATES[state ?? ''] ?? state ?? '?';
  }
  return 'gone';
}

describe('reliability: slow and hostile clients', () => {
  let deployment: Deployment;

  before(async () => {
    deployment = await deploy({ CELLBLOCK_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    await deployment.startWorker('clients-worker', 2);
  });

  after(async () => {
    await stopAll();
  });

  const judgeSome = (count: number, into: number[]) => judgeAplusb(deployment.api.url, count, into);

  it(`${SLOW_CLIENTS} slowloris connections are cut within the request timeout; judging goes on`, async () => {
    const baseline: number[] = [];
    await judgeSome(10, baseline);
    const slow = Array.from({ length: SLOW_CLIENTS }, (_, i) => slowloris(deployment.api.url, i % 2 === 0 ? 'headers' : 'body', 200));
    const during: number[] = [];
    await judgeSome(10, during);
    const deadline = Date.now() + CUT_BOUND_MS + 5_000;
    while (slow.some((s) => s.closedAt === undefined) && Date.now() < deadline) await delay(100);
    for (const s of slow) s.socket.destroy();
    const cutAfter = slow.filter((s) => s.closedAt !== undefined).map((s) => (s.closedAt as number) - s.openedAt);
    report('slowloris', {
      submitted: SLOW_CLIENTS,
      completed: cutAfter.length,
      leaked: SLOW_CLIENTS - cutAfter.length,
      latencies: cutAfter,
      judgeP50BaselineMs: Math.round(percentile(baseline, 50)),
      judgeP50DuringMs: Math.round(percentile(during, 50)),
    });
    assert.equal(cutAfter.length, SLOW_CLIENTS, 'slow connections still open');
    assert.ok(Math.max(...cutAfter) < CUT_BOUND_MS, `cut after ${Math.max(...cutAfter)} ms (timeout ${TIMEOUT_MS} ms)`);
    assert.ok(percentile(during, 50) < percentile(baseline, 50) * 2 + 250, `judge p50 ${percentile(during, 50)} ms among slow clients, ${percentile(baseline, 50)} ms before`);
  });

  it('an event-stream client that never reads is cut within the request timeout', async () => {
    // a result of 16 MB: far more than the sockets' buffers hold
    const big = {
      language: 'python3',
      source: "import sys\nsys.stdout.write('x' * 16_000_000)\n",
      tests: [{ name: 'big', stdin: '', expected: '' }],
      checker: { kind: 'none' },
      keepOutput: true,
    };
    const judged = await call(deployment.api.url, 'POST', '/v1/submissions?wait=true', { body: big });
    assert.equal(judged.status, 200, describeReply(judged).slice(0, 300));
    const { id } = asView(judged);
    const { port } = new URL(deployment.api.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // reads nothing, ever
    socket.write(`GET /v1/submissions/${id}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
    const clientPort = socket.localPort as number;
    const openedAt = Date.now();
    try {
      await delay(300);
      assert.equal(serverSide(Number(port), clientPort), 'ESTABLISHED', 'the stream did not start');
      let state = 'ESTABLISHED';
      while (state === 'ESTABLISHED' && Date.now() - openedAt < CUT_BOUND_MS + 5_000) {
        await delay(100);
        state = serverSide(Number(port), clientPort);
      }
      const cutAfterMs = Date.now() - openedAt;
      report('sse-never-reads', { submitted: 1, completed: state === 'ESTABLISHED' ? 0 : 1, leaked: state === 'ESTABLISHED' ? 1 : 0, cutAfterMs, apiSide: state });
      assert.notEqual(state, 'ESTABLISHED', 'the API still holds the stream of a client that does not read');
      assert.ok(cutAfterMs < CUT_BOUND_MS, `cut after ${cutAfterMs} ms`);
      // judging unaffected
      const reply = await call(deployment.api.url, 'POST', '/v1/submissions?wait=true', { body: aplusb() });
      assert.equal(asView(reply).verdict, 'AC');
    } finally {
      socket.destroy();
    }
  });
});
