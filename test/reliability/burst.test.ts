// Burst: submissions posted as fast as the API takes them (CI 300, soak 1,000)
// to an api and two workers. Every one gets exactly one result — none lost,
// none judged twice (one "running" and one "done" event each, seen on Redis
// itself) — and GETs stay quick while the queue drains.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { aplusb, aplusbTests, asView, call, describeReply, stopAll } from '../service/helpers.js';
import { type Deployment, deploy, eventLog, type EventLog, inPool, percentile, report, size, timed } from './harness.js';

const SUBMISSIONS = size(300, 1_000);
// GETs answered while the queue drains: the 99th percentile stays under this
// (a loaded 2-core CI machine; typical figures are a few ms)
const GET_P99_BOUND_MS = 1_000;

describe('reliability: a burst of submissions', () => {
  let deployment: Deployment;
  let events: EventLog;

  before(async () => {
    deployment = await deploy();
    events = await eventLog(deployment.redis.url);
    await Promise.all([deployment.startWorker('burst-a', 1), deployment.startWorker('burst-b', 1)]);
  });

  after(async () => {
    await events?.close();
    await stopAll();
  });

  it(`${SUBMISSIONS} submissions: each judged once, none lost; GET latency bounded while draining`, async () => {
    const base = deployment.api.url;
    const ids: string[] = [];
    const acceptMs: number[] = [];
    const getMs: number[] = [];
    const started = Date.now();
    // the same source for all (compiled once, a cache hit after), distinct tests
    const posted = inPool(Array.from({ length: SUBMISSIONS }, (_, i) => i), 16, async (i) => {
      const reply = await timed(() => call(base, 'POST', '/v1/submissions', { body: aplusb([aplusbTests(i + 1)[i]!]) }), acceptMs);
      assert.equal(reply.status, 202, describeReply(reply));
      ids.push(asView(reply).id);
    });
    // GETs of what was accepted, all along, until everything is judged
    let draining = true;
    const reader = (async () => {
      let finished = 0;
      while (draining) {
        const id = ids[Math.floor(Math.random() * ids.length)];
        if (id === undefined) {
          await delay(10);
          continue;
        }
        const reply = await timed(() => call(base, 'GET', `/v1/submissions/${id}`), getMs);
        assert.equal(reply.status, 200, describeReply(reply));
        finished = ids.filter((each) => events.done(each) > 0).length;
        if (finished === SUBMISSIONS) break;
        await delay(5);
      }
    })();
    await posted;
    const acceptedAt = Date.now();
    const deadline = Date.now() + size(120_000, 900_000);
    while (ids.some((id) => events.done(id) === 0) && Date.now() < deadline) await delay(200);
    draining = false;
    await reader;
    const drainedAt = Date.now();

    const views = await inPool(ids, 16, async (id) => asView(await call(base, 'GET', `/v1/submissions/${id}`)));
    const completed = views.filter((view) => view.status === 'done').length;
    const wrong = views.filter((view) => view.status === 'done' && view.verdict !== 'AC');
    const duplicated = ids.filter((id) => events.done(id) > 1 || events.running(id) > 1).length;
    report('burst', {
      submitted: SUBMISSIONS,
      completed,
      lost: SUBMISSIONS - completed,
      duplicated,
      leaked: 0,
      acceptP50Ms: Math.round(percentile(acceptMs, 50)),
      acceptP99Ms: Math.round(percentile(acceptMs, 99)),
      gets: getMs.length,
      latencies: getMs,
      acceptSeconds: (acceptedAt - started) / 1000,
      drainSeconds: (drainedAt - started) / 1000,
    });
    assert.equal(new Set(ids).size, SUBMISSIONS, 'an id given twice');
    assert.equal(completed, SUBMISSIONS, `lost: ${views.filter((view) => view.status !== 'done').map((view) => `${view.id} ${view.status}`).join(', ')}`);
    assert.deepEqual(wrong.map((view) => view.verdict), [], 'not AC');
    assert.equal(duplicated, 0, 'judged or finished twice');
    assert.ok(getMs.length >= 20, `only ${getMs.length} GETs while draining`);
    assert.ok(percentile(getMs, 99) < GET_P99_BOUND_MS, `GET p99 ${percentile(getMs, 99)} ms while draining`);
  });
});
