// The job store (queue/submissions.ts) on a redis-server of the test's own: a
// job admitted whose BullMQ job cannot be added is withdrawn, so nothing waits
// for a worker that will never come and its tenant's place under the cap and its
// idempotency key are free again. A job admitted by an API that died before it
// could queue it (or withdraw it) is queued by the sweep, and a worker judges
// it; a place under the cap held by a record that is gone is freed by it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Redis } from 'ioredis';
import { type Submission } from '../../judge/schema.js';
import { NotAdmitted, type Submissions } from '../../queue/submissions.js';
import { uniqueToken } from '../helpers/fixtures.js';
import { aplusb, eventuallyAsync, serviceEnv, startTestStore, startWorkerProcess, stop, stopAll, tempDir, type TestRedis, type TestStore } from './helpers.js';

describe('job store: admission and queueing', () => {
  let testStore: TestStore;
  let redis: TestRedis;
  let connection: Redis;
  let store: Submissions;
  const tenant = 'store-test';

  before(async () => {
    testStore = await startTestStore();
    ({ redis, connection, store } = testStore);
  });

  after(async () => {
    await testStore?.close();
    await stopAll();
  });

  const active = async (of = tenant) => connection.zcard(`cellblock:active:${of}`);
  const jobExists = (id: string) => testStore.jobExists(id);

  it('a job BullMQ refuses to add is withdrawn: no record, its place under the cap and its idempotency key free again', async () => {
    const submission = aplusb() as Submission;
    const before = await active();
    // BullMQ refuses a priority above its limit before writing anything: Redis is
    // reachable all along, only the add fails
    const refused = { tenant, maxActive: 1, idempotencyKey: 'retry-me', priority: 3_000_000 };
    await assert.rejects(store.submit(submission, refused), /Priority/);
    assert.equal(await active(), before, 'the place under the cap is still taken');
    assert.deepEqual(await connection.keys('cellblock:submission:*'), [], 'a record is left with no job');
    // the retry is a new submission, admitted under the same cap of 1 and queued
    const retried = await store.submit(submission, { ...refused, priority: 1 });
    assert.equal(retried.duplicate, false, 'the retry was answered with the withdrawn id');
    assert.ok(retried.job, 'the retry was not queued');
    assert.equal((await store.load(retried.id))?.status, 'queued');
    assert.equal(await active(), before + 1);
  });

  it('a job admitted and never queued (its API died) is queued by the sweep once its grace has passed, and only once', async () => {
    const { id } = await store.admit(aplusb() as Submission, { tenant });
    assert.equal(await jobExists(id), false);
    assert.deepEqual((await store.sweep(60_000)).queued, [], 'queued within its grace: its API may still be queueing it');
    await delay(150);
    // two workers sweeping at once: one of them queues it
    const [first, second] = await Promise.all([store.sweep(100), store.sweep(100)]);
    assert.deepEqual([...first.queued, ...second.queued], [id]);
    assert.equal(await jobExists(id), true, 'the sweep did not queue it');
    assert.equal((await store.load(id))?.status, 'queued');
    await delay(150);
    assert.deepEqual((await store.sweep(100)).queued, [], 'a job on the queue was queued again');
  });

  it('a place under the cap held by a record that is gone (expired before its job ended) is freed by the sweep', async () => {
    const capped = { tenant: 'store-capped', maxActive: 1 };
    const { id } = await store.submit(aplusb() as Submission, capped);
    await connection.del(`cellblock:submission:${id}`);
    await assert.rejects(store.admit(aplusb() as Submission, capped), NotAdmitted);
    await delay(150);
    assert.deepEqual((await store.sweep(100)).queued, [], 'a job whose record is gone was queued');
    assert.equal(await active('store-capped'), 0, 'its place is still taken');
    const next = await store.submit(aplusb() as Submission, capped);
    assert.ok(next.job, 'the next job was not admitted and queued');
  });

  it("a worker's sweep queues a job its API admitted and never queued, and judges it", async () => {
    const dir = tempDir();
    const env = serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: dir, CELLBLOCK_STORE: `${dir}/store`, CELLBLOCK_WEBHOOK_SECRET: uniqueToken('secret'), CELLBLOCK_ORPHAN_GRACE_MS: '2000' });
    const worker = await startWorkerProcess(env, 'sweeping-worker', 1);
    try {
      const { id } = await store.admit(aplusb() as Submission, { tenant: 'store-orphan' });
      assert.ok(await eventuallyAsync(async () => (await store.load(id))?.status === 'done', 60_000, 100), `never judged: ${JSON.stringify(await store.load(id))}`);
      assert.equal((await store.load(id))?.result?.verdict, 'AC');
      assert.equal(await active('store-orphan'), 0, 'its place under the cap was kept after it ended');
    } finally {
      await stop(worker);
    }
  });
});
