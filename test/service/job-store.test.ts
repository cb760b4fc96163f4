// The job store (queue/submissions.ts) on a redis-server of the test's own: a
// job admitted whose BullMQ job cannot be added is withdrawn, so nothing waits
// for a worker that will never come and its tenant's place under the cap and its
// idempotency key are free again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type Submission } from '../../judge/schema.js';
import { type Submissions, submissions } from '../../queue/submissions.js';
import { aplusb, startRedis, stopAll, tempDir, type TestRedis } from './helpers.js';

describe('job store: admission and queueing', () => {
  let redis: TestRedis;
  let connection: Redis;
  let store: Submissions;
  const tenant = 'store-test';

  before(async () => {
    redis = await startRedis(tempDir());
    connection = new Redis({ path: redis.socket, maxRetriesPerRequest: null });
    store = submissions(connection, 3_600);
  });

  after(async () => {
    await store?.queue.close();
    connection?.disconnect();
    await stopAll();
  });

  const active = async () => Number((await connection.get(`cellblock:active:${tenant}`)) ?? 0);

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
});
