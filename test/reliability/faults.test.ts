// Faults of the service's own processes, with submissions queued and running:
// Redis SIGKILLed and kept down a while (an outage), Redis restarted, and the
// API process SIGKILLed and started again. While Redis is down the API answers
// 503 with Retry-After (never 500), /readyz fails and /healthz stays up; the
// workers reconnect by themselves; every submission acknowledged with 202
// before the fault gets its result, once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  aplusb,
  assertError,
  asView,
  call,
  describeReply,
  eventuallyAsync,
  getView,
  isFinal,
  slowAplusb,
  startRedis,
  stop,
  stopAll,
  submit,
  type View,
} from '../service/helpers.js';
import { type Deployment, deploy, eventLog, type EventLog, inPool, report, size, timed } from './harness.js';

const SUBMISSIONS = size(40, 400);
const OUTAGE_MS = size(12_000, 20_000);
const RECOVERY_BOUND_MS = 5_000;

// Half quick, half sleeping half a second: some queued, some running at the fault.
const mixed = (i: number) => (i % 2 === 0 ? aplusb() : slowAplusb(0.5, 1, 10_000));

describe('reliability: Redis and API process faults', () => {
  let deployment: Deployment;
  let events: EventLog;

  before(async () => {
    deployment = await deploy();
    events = await eventLog(deployment.redis.url);
    await Promise.all([deployment.startWorker('faults-a', 1), deployment.startWorker('faults-b', 1)]);
  });

  after(async () => {
    await events?.close();
    await stopAll();
  });

  const acceptAll = (count: number): Promise<string[]> =>
    inPool(Array.from({ length: count }, (_, i) => i), 8, (i) => submit(deployment.api.url, mixed(i)));

  // Every id judged (AC), each finished once; the figures.
  async function settle(scenario: string, ids: string[], extra: Record<string, number>, latencies: number[]): Promise<void> {
    const deadline = Date.now() + size(90_000, 900_000);
    const views = new Map<string, View>();
    while (views.size < ids.length && Date.now() < deadline) {
      for (const id of ids) {
        if (views.has(id)) continue;
        const view = await getView(deployment.api.url, id);
        if (isFinal(view)) views.set(id, view);
      }
      if (views.size < ids.length) await delay(250);
    }
    const completed = [...views.values()].filter((view) => view.status === 'done').length;
    const duplicated = ids.filter((id) => events.done(id) > 1).length;
    report(scenario, { submitted: ids.length, completed, lost: ids.length - completed, duplicated, leaked: 0, ...extra, latencies });
    assert.equal(completed, ids.length, `without a result: ${ids.filter((id) => !views.has(id)).join(', ')}`);
    assert.deepEqual([...views.values()].filter((view) => view.verdict !== 'AC').map((view) => view.verdict), []);
    assert.equal(duplicated, 0, 'a result written twice');
  }

  for (const fault of ['outage', 'restart'] as const) {
    it(`Redis ${fault === 'outage' ? `SIGKILLed and down ${OUTAGE_MS} ms` : 'restarted (SIGTERM)'}: 503 + Retry-After meanwhile, workers reconnect, every accepted submission judged once`, async () => {
      const base = deployment.api.url;
      const ids = await acceptAll(SUBMISSIONS);
      await delay(200); // some judged, some running, most queued
      await stop(deployment.redis.proc, fault === 'outage' ? 'SIGKILL' : 'SIGTERM');
      const downAt = Date.now();
      const statuses = new Map<number, number>();
      const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
      let probes = 0;
      do {
        probes++;
        for (const reply of [
          await call(base, 'POST', '/v1/submissions', { body: aplusb() }),
          await call(base, 'GET', `/v1/submissions/${ids[probes % ids.length]}`),
          await call(base, 'POST', '/submissions?base64_encoded=false', { body: { source_code: 'print(1)', language_id: 71 } }),
        ]) {
          count(reply.status);
          assertError(reply, 503, 'SERVICE_UNAVAILABLE');
          assert.ok(Number(reply.headers.get('retry-after')) > 0, 'no Retry-After');
        }
        const ready = await call(base, 'GET', '/readyz');
        assert.equal(ready.status, 503, describeReply(ready));
        assert.equal((await call(base, 'GET', '/healthz')).status, 200);
        await delay(100);
      } while (fault === 'outage' && Date.now() - downAt < OUTAGE_MS);

      const restartedAt = Date.now();
      deployment.redis = await startRedis(deployment.redis.dir);
      const recoveryMs: number[] = [];
      const ready = await eventuallyAsync(async () => {
        const reply = await timed(() => call(base, 'GET', '/readyz'), recoveryMs);
        return reply.status === 200 && (reply.json as { workers: number }).workers === 2;
      }, 30_000, 100);
      assert.ok(ready, `not ready with both workers: ${describeReply(await call(base, 'GET', '/readyz'))}`);
      const readyAfterMs = Date.now() - restartedAt;
      // the workers take jobs again soon after Redis is back, not after a long pause
      assert.ok(readyAfterMs < RECOVERY_BOUND_MS, `workers back ${readyAfterMs} ms after Redis`);
      // accepted after the restart too
      ids.push(await submit(base, aplusb()));
      await settle(`redis-${fault}`, ids, { downMs: restartedAt - downAt, readyAfterMs, answered503: statuses.get(503) ?? 0 }, recoveryMs);
    });
  }

  it('the API process SIGKILLed and started again: queued work and results survive', async () => {
    const judged = asView(await call(deployment.api.url, 'POST', '/v1/submissions?wait=true', { body: aplusb() }));
    assert.equal(judged.verdict, 'AC');
    const ids = await acceptAll(SUBMISSIONS);
    await stop(deployment.api, 'SIGKILL');
    const startedAt = Date.now();
    const api = await deployment.restartApi();
    const restartMs = Date.now() - startedAt;
    assert.deepEqual(await getView(api.url, judged.id), judged, 'a result lost with the API process');
    await settle('api-restart', [...ids, judged.id], { restartMs }, []);
  });
});
