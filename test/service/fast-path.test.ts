// The fast path (queue/local.ts): `cellblock serve` hands a sync request straight
// to an idle slot of its own worker, the job recorded and held (delayed) in the
// queue meanwhile, on a redis-server the test reads directly. Its answer is what
// the queued path stores; a big submission still goes through the queue; a serve
// SIGKILLed mid-run leaves the held job to another worker, which finishes it
// once; cancel, webhooks and idempotency keys behave as on the queued path.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { listWorkers } from '../../queue/workers.js';
import { uniqueToken } from '../helpers/fixtures.js';
import { isAlive } from '../helpers/host.js';
import {
  aplusbTests,
  asView,
  call,
  describeReply,
  eventuallyAsync,
  eventuallyTrue,
  Receiver,
  sandboxPidsBelow,
  type Service,
  serviceEnv,
  slowAplusb,
  startHttp,
  startRedis,
  stop,
  stopAll,
  tempDir,
  type TestRedis,
} from './helpers.js';

interface RunView {
  id: string;
  status: 'queued' | 'running' | 'done' | 'cancelled';
  result?: { status: string; exitCode: number | null; stdout: string; stderr: string };
}

const QUEUE = 'bull:cellblock-submissions';

describe('service: the fast path (a sync request straight to an idle slot of serve\'s worker)', () => {
  let redis: TestRedis;
  let inspect: Redis;
  let queue: Queue;
  let server: Service;
  let base: string;
  let receiver: Receiver;
  let dir: string;

  const env = () =>
    serviceEnv({
      REDIS_URL: redis.url,
      CELLBLOCK_DATA: join(dir, 'data'),
      CELLBLOCK_STORE: join(dir, 'store'),
      CELLBLOCK_WEBHOOK_SECRET: uniqueToken('secret'),
      CELLBLOCK_WAIT_MS: '20000',
    });

  // The id of the one job held in the queue, once there is one.
  async function heldJob(): Promise<string> {
    let held: string[] = [];
    const seen = await eventuallyAsync(async () => (held = await inspect.zrange(`${QUEUE}:delayed`, '0', '-1')).length > 0, 15_000, 10);
    assert.ok(seen, 'no job held in the queue');
    assert.equal(held.length, 1, `held: ${held.join(', ')}`);
    return held[0] as string;
  }

  const jobGone = (id: string) => eventuallyAsync(async () => (await inspect.exists(`${QUEUE}:${id}`)) === 0, 10_000);

  const runView = async (id: string): Promise<RunView> => {
    const reply = await call(base, 'GET', `/v1/runs/${id}`);
    assert.equal(reply.status, 200, describeReply(reply));
    return reply.json as RunView;
  };

  before(async () => {
    dir = tempDir();
    redis = await startRedis(dir);
    inspect = new Redis({ path: redis.socket });
    queue = new Queue('cellblock-submissions', { connection: inspect });
    receiver = new Receiver();
    await receiver.listen();
    server = await startHttp('serve', ['--workers', '2'], env());
    base = server.url;
  });

  after(async () => {
    await queue?.close();
    inspect?.disconnect();
    await receiver?.close();
    await stopAll();
  });

  it('a sync run goes to an idle slot, recorded and held in the queue while it runs; the answer is what is stored, as the queued path stores it', async () => {
    const argv = ['/bin/sh', '-c', 'sleep 1; echo fast'];
    const answering = call(base, 'POST', '/v1/runs?wait=true', { body: { argv } });
    const id = await heldJob();
    assert.equal(await inspect.hget(`cellblock:run:${id}`, 'status'), 'running');
    assert.ok(await eventuallyTrue(() => sandboxPidsBelow(server.pid).length > 0, 10_000), 'the run is not in serve\'s own slot');
    // the dashboard counts the slot busy, on serve's worker
    const workers = await listWorkers(queue);
    assert.deepEqual(workers.map((worker) => [worker.pid, worker.busy]), [[server.pid, 1]], JSON.stringify(workers));
    const reply = await answering;
    assert.equal(reply.status, 200, describeReply(reply));
    const answered = reply.json as RunView;
    assert.equal(answered.id, id);
    assert.equal(answered.status, 'done');
    assert.equal(answered.result?.stdout, 'fast\n');
    assert.deepEqual(await runView(id), answered);
    assert.ok(await jobGone(id), 'the held job is left in the queue');

    // the same run through the queue
    const queued = await call(base, 'POST', '/v1/runs', { body: { argv } });
    assert.equal(queued.status, 202, describeReply(queued));
    const queuedId = (queued.json as RunView).id;
    let last: RunView | undefined;
    assert.ok(await eventuallyAsync(async () => (last = await runView(queuedId)).status === 'done', 20_000), JSON.stringify(last));
    const outcome = (view: RunView | undefined) => ({ status: view?.result?.status, exitCode: view?.result?.exitCode, stdout: view?.result?.stdout, stderr: view?.result?.stderr });
    assert.deepEqual(outcome(last), outcome(answered));
  });

  it('a submission with few tests takes the fast path; one with more than ten, or a run allowed more than ten seconds, goes through the queue', async () => {
    const small = call(base, 'POST', '/v1/submissions?wait=true', { body: slowAplusb(1, 1, 5_000) });
    const smallId = await heldJob();
    const judged = asView(await small);
    assert.equal(judged.id, smallId);
    assert.equal(judged.verdict, 'AC', JSON.stringify(judged));
    assert.ok(await jobGone(smallId), 'the held job is left in the queue');

    // the first test sleeps, long enough to see where the job is meanwhile
    const source = 'import time\ndata = open(0).read()\nif data.startswith("0 "): time.sleep(1)\na, b = map(int, data.split())\nprint(a + b)\n';
    const big = { language: 'python3', source, tests: aplusbTests(11) };
    const bigAnswer = call(base, 'POST', '/v1/submissions?wait=true', { body: big });
    let active: string[] = [];
    assert.ok(await eventuallyAsync(async () => (active = await inspect.lrange(`${QUEUE}:active`, '0', '-1')).length > 0, 15_000, 10), 'never active in the queue');
    assert.deepEqual(await inspect.zrange(`${QUEUE}:delayed`, '0', '-1'), [], 'a big submission was held');
    const view = asView(await bigAnswer);
    assert.deepEqual(active, [view.id]);
    assert.equal(view.status, 'done', JSON.stringify(view));

    // a run with a wall limit above ten seconds goes through the queue too
    const long = call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 1; echo long'], limits: { wallMs: 15_000 } } });
    assert.ok(await eventuallyAsync(async () => (active = await inspect.lrange(`${QUEUE}:active`, '0', '-1')).length > 0, 15_000, 10), 'never active in the queue');
    assert.deepEqual(await inspect.zrange(`${QUEUE}:delayed`, '0', '-1'), [], 'a long run was held');
    const ran = await long;
    assert.equal(ran.status, 200, describeReply(ran));
    assert.deepEqual(active, [(ran.json as RunView).id]);
    assert.equal((ran.json as RunView).result?.stdout, 'long\n');
  });

  it('cancelled mid-run: its sandbox is killed, the wait answers "cancelled", the held job goes and nothing runs it again', async () => {
    const answering = call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 30'] } });
    const id = await heldJob();
    assert.ok(await eventuallyTrue(() => sandboxPidsBelow(server.pid).length > 0, 10_000), 'not running');
    const cancelled = await call(base, 'DELETE', `/v1/runs/${id}`);
    assert.equal((cancelled.json as RunView).status, 'cancelled', describeReply(cancelled));
    const reply = await answering;
    assert.equal(reply.status, 200, describeReply(reply));
    assert.equal((reply.json as RunView).status, 'cancelled');
    assert.ok(await eventuallyTrue(() => sandboxPidsBelow(server.pid).length === 0, 10_000), 'the sandbox outlived the cancel');
    assert.ok(await jobGone(id), 'the held job is left in the queue');
    assert.equal((await runView(id)).status, 'cancelled');
  });

  it('a webhook is delivered once, with the result the request was answered', async () => {
    const hook = `/fast/${uniqueToken('hook')}`;
    const answering = call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 0.5; echo hook'], callbackUrl: `${receiver.url}${hook}` } });
    const id = await heldJob();
    const reply = await answering;
    assert.equal(reply.status, 200, describeReply(reply));
    const answered = reply.json as RunView;
    assert.equal(answered.id, id);
    assert.ok(await eventuallyTrue(() => receiver.to(hook).length > 0, 20_000), 'no delivery');
    await delay(1_000);
    assert.equal(receiver.to(hook).length, 1, 'delivered more than once');
    assert.deepEqual(JSON.parse(receiver.to(hook)[0]!.body), answered);
    assert.ok(await jobGone(answered.id), 'the held job is left in the queue');
  });

  it('a retry with the same Idempotency-Key is answered with the first run and its result', async () => {
    const request = { body: { argv: ['/bin/sh', '-c', 'echo once'] }, headers: { 'idempotency-key': uniqueToken('key') } };
    const first = await call(base, 'POST', '/v1/runs?wait=true', request);
    assert.equal(first.status, 200, describeReply(first));
    assert.equal((first.json as RunView).result?.stdout, 'once\n');
    const again = await call(base, 'POST', '/v1/runs?wait=true', request);
    assert.equal(again.status, 200, describeReply(again));
    assert.deepEqual(again.json, first.json);
    assert.ok(await jobGone((first.json as RunView).id), 'the held job is left in the queue');
  });

  it('a run\'s output is published when someone may listen (its wait can end first), and not when no one can', async () => {
    const events = new Redis({ path: redis.socket });
    const outputs = new Map<string, number>();
    const shortWait = await startHttp('serve', ['--workers', '1'], { ...env(), CELLBLOCK_WAIT_MS: '1000' }, 'short-wait-serve');
    try {
      await events.psubscribe('cellblock:events:*');
      events.on('pmessage', (_pattern: string, channel: string, message: string) => {
        const id = channel.slice('cellblock:events:'.length);
        if ((JSON.parse(message) as { type: string }).type === 'output') outputs.set(id, (outputs.get(id) ?? 0) + 1);
      });
      // a 20 s wait outlasts a run of at most 10 s: answered before anyone knows its id
      const quiet = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo quiet'] } });
      assert.equal(quiet.status, 200, describeReply(quiet));
      assert.equal((quiet.json as RunView).result?.stdout, 'quiet\n');
      // (its held job goes after the answer: gone before the next one is looked for)
      assert.ok(await jobGone((quiet.json as RunView).id), 'the held job is left in the queue');
      // a 1 s wait does not: the answer gives the id, and the stream has the output
      const heard = call(shortWait.url, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo first; sleep 2; echo second'], limits: { wallMs: 5_000 } } });
      const id = await heldJob();
      const reply = await heard;
      assert.equal(reply.status, 202, describeReply(reply));
      assert.equal((reply.json as RunView).id, id);
      let last: RunView | undefined;
      assert.ok(await eventuallyAsync(async () => (last = await runView(id)).status === 'done', 20_000), JSON.stringify(last));
      assert.equal(last?.result?.stdout, 'first\nsecond\n');
      assert.ok(await jobGone(id), 'the held job is left in the queue');
      await delay(200);
      assert.equal(outputs.get((quiet.json as RunView).id) ?? 0, 0, 'output published where no one could listen');
      assert.ok((outputs.get(id) ?? 0) >= 2, `output events: ${outputs.get(id) ?? 0}`);
    } finally {
      events.disconnect();
      await stop(shortWait);
    }
  });

  it('a serve SIGKILLed mid-run: the held job comes due, another worker finishes it, and the result is written once', async () => {
    const doomed = await startHttp('serve', ['--workers', '1'], env(), 'doomed-serve');
    const answering = call(doomed.url, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 2; echo survived'] } }).catch((error: unknown) => error);
    const id = await heldJob();
    assert.ok(await eventuallyTrue(() => sandboxPidsBelow(doomed.pid).length > 0, 10_000), 'not running in the doomed serve');
    const sandboxes = sandboxPidsBelow(doomed.pid);
    const events = new Redis({ path: redis.socket });
    let done = 0;
    try {
      await events.subscribe(`cellblock:events:${id}`);
      events.on('message', (_channel: string, message: string) => {
        if ((JSON.parse(message) as { type: string }).type === 'done') done++;
      });
      await stop(doomed, 'SIGKILL');
      assert.ok(await answering instanceof Error, 'the dead serve answered');
      assert.ok(await eventuallyTrue(() => sandboxes.every((pid) => !isAlive(pid)), 5_000), 'its sandbox outlived it');
      let last: RunView | undefined;
      assert.ok(await eventuallyAsync(async () => (last = await runView(id)).status === 'done', 40_000, 200), `not finished: ${JSON.stringify(last)}`);
      assert.equal(last?.result?.stdout, 'survived\n');
      await delay(1_000);
      assert.equal(done, 1, 'done events');
      assert.ok(await jobGone(id), 'the job is left in the queue');
    } finally {
      events.disconnect();
    }
  });
});
