// Webhook receivers that are down (connection refused), slow (never answer)
// or failing (HTTP 500): deliveries are retried with a growing backoff, given up
// after the configured attempts (then nothing more is sent, and the delivery
// lies in the webhook queue's failed set), and judging goes on at its usual pace
// meanwhile.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { QUEUE_WEBHOOKS } from '../../queue/schema.js';
import { redisOptions } from '../../queue/redis.js';
import { DELIVERY_CONCURRENCY } from '../../worker/webhooks.js';
import { uniqueToken } from '../helpers/fixtures.js';
import { eventuallyAsync, Receiver, stopAll } from '../service/helpers.js';
import { type Deployment, deploy, judgeAplusb, percentile, report, size } from './harness.js';

const ATTEMPTS = 4;
const BACKOFF_MS = 300;
const TIMEOUT_MS = 1_000;
const PER_RECEIVER = size(5, 50);

// Takes requests and never answers them.
async function silentServer(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer(() => {
    requests++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// A port nothing listens on.
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('reliability: webhook receivers down, slow or failing', () => {
  let deployment: Deployment;
  let failing: Receiver;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let down: string;

  before(async () => {
    failing = new Receiver(() => 500);
    await failing.listen();
    silent = await silentServer();
    down = await closedPort();
    deployment = await deploy();
    await deployment.startWorker('webhook-worker', 2, {
      CELLBLOCK_WEBHOOK_ATTEMPTS: String(ATTEMPTS),
      CELLBLOCK_WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
      CELLBLOCK_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    });
  });

  after(async () => {
    await failing?.close();
    await silent?.close();
    await stopAll();
  });

  const judgeAll = (count: number, callback: (i: number) => string | undefined, into: number[]) =>
    judgeAplusb(deployment.api.url, count, into, (i) => {
      const url = callback(i);
      return url ? { callbackUrl: url } : {};
    });

  it(`retries with backoff, gives up after ${ATTEMPTS} attempts, and never delays judging`, async () => {
    const baseline: number[] = [];
    await judgeAll(PER_RECEIVER * 3, () => undefined, baseline);

    const paths = Array.from({ length: PER_RECEIVER }, () => `/fail/${uniqueToken('hook')}`);
    const withBadHooks: number[] = [];
    const startedAt = Date.now();
    await judgeAll(PER_RECEIVER * 3, (i) => [`${failing.url}${paths[Math.floor(i / 3)]}`, `${silent.url}/slow`, `${down}/down`][i % 3], withBadHooks);

    // the last retry of the slowest: every attempt waits the timeout, plus the backoffs
    // (the silent receiver's attempts share the worker's delivery slots)
    const rounds = Math.ceil((PER_RECEIVER * ATTEMPTS) / DELIVERY_CONCURRENCY);
    const bound = Math.max(ATTEMPTS, rounds) * TIMEOUT_MS + BACKOFF_MS * (2 ** ATTEMPTS - 1) + 5_000;
    const queue = new Queue(QUEUE_WEBHOOKS, { connection: redisOptions(deployment.redis.url) });
    try {
      const gaveUp = await eventuallyAsync(async () => {
        const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed');
        return counts.failed === PER_RECEIVER * 3 && (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.active ?? 0) === 0;
      }, bound, 250);
      const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'completed');
      const gaveUpAfterMs = Date.now() - startedAt;
      await delay(BACKOFF_MS * 2 ** ATTEMPTS); // nothing more after giving up
      const perFailing = paths.map((path) => failing.to(path).length);
      const gaps = paths.flatMap((path) => {
        const times = failing.to(path).map((delivery) => delivery.at);
        return times.slice(1).map((at, i) => at - (times[i] as number));
      });
      report('webhooks', {
        submitted: PER_RECEIVER * 3,
        completed: withBadHooks.length,
        lost: 0,
        duplicated: 0,
        leaked: 0,
        attemptsPerFailingHook: Math.max(...perFailing),
        slowRequests: silent.requests(),
        gaveUpAfterMs,
        judgeP50BaselineMs: Math.round(percentile(baseline, 50)),
        judgeP99BaselineMs: Math.round(percentile(baseline, 99)),
        latencies: withBadHooks,
        firstGapMs: Math.min(...gaps),
        lastGapMs: Math.max(...gaps),
      });
      assert.ok(gaveUp, `not given up within ${bound} ms: ${JSON.stringify(counts)}`);
      assert.deepEqual(perFailing, paths.map(() => ATTEMPTS), 'attempts per failing receiver');
      assert.equal(silent.requests(), PER_RECEIVER * ATTEMPTS, 'attempts at the silent receiver');
      // backoff: the first retry waits the backoff, and each wait is longer than the one before
      for (const path of paths) {
        const times = failing.to(path).map((delivery) => delivery.at);
        const waits = times.slice(1).map((at, i) => at - (times[i] as number));
        assert.ok((waits[0] ?? 0) >= BACKOFF_MS * 0.9, `first retry after ${waits[0]} ms`);
        for (let i = 1; i < waits.length; i++) assert.ok((waits[i] as number) > (waits[i - 1] as number), `waits: ${waits.join(', ')}`);
      }
      // judging at its pace: bad receivers add nothing to a submission's time
      assert.ok(percentile(withBadHooks, 50) < percentile(baseline, 50) * 2 + 250, `judge p50 ${percentile(withBadHooks, 50)} ms with bad receivers, ${percentile(baseline, 50)} ms without`);
    } finally {
      await queue.close();
    }
  });
});
