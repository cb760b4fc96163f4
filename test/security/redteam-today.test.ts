// Red team of three changes: the sweep of jobs admitted but never queued (the
// tenant's active set and the sweep's index, queue/submissions.ts), a run's
// stdio made ahead of it on the sandbox's thread (native/supervisor.cc,
// SpareStdio), and a fast-path sync request answered at once when its Redis
// connection closes (api/jobs.ts submitAndWait). Real redis-server, real addon,
// real service. Found and fixed: a job whose BullMQ job failed for good without
// ending it held its place until its record expired; the API connection's
// "any number of listeners" was turned into 6 by BullMQ.
import assert from 'node:assert/strict';
import { closeSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { type ApiContext } from '../../api/context.js';
import { submitAndWait } from '../../api/jobs.js';
import { imageStore } from '../../images/images.js';
import { type Submission } from '../../judge/schema.js';
import { redisOptions } from '../../queue/redis.js';
import { runs } from '../../queue/runs.js';
import { QUEUE_SUBMISSIONS } from '../../queue/schema.js';
import { eventHub, type Submissions, submissions } from '../../queue/submissions.js';
import { openPipe, releaseWarmSandboxes, run } from '../../sandbox/run.js';
import { type RunSpec } from '../../sandbox/schema.js';
import { directoryStore } from '../../store/content.js';
import { startWorker } from '../../worker/worker.js';
import { makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { aplusb, call, describeReply, eventuallyAsync, PYTHON_APLUSB, serviceEnv, startHttp, startRedis, startTestStore, startWorkerProcess, stop, stopAll, tempDir, type TestRedis, type TestStore } from '../service/helpers.js';

describe('red team: the sweep, the active set and the index', () => {
  let testStore: TestStore;
  let redis: TestRedis;
  let connection: Redis;
  let store: Submissions;

  before(async () => {
    testStore = await startTestStore('cb-red5-');
    ({ redis, connection, store } = testStore);
  });

  after(async () => {
    await testStore?.close();
    await stopAll();
  });

  const job = () => aplusb() as Submission;
  const activeOf = async (tenant: string) => (await connection.zrange(`cellblock:active:${tenant}`, '0', '-1')).sort();
  const jobExists = (id: string) => testStore.jobExists(id);
  // the tenant's records still queued or running, as members of its active set
  async function unfinishedOf(tenant: string): Promise<string[]> {
    const members: string[] = [];
    for (const key of await connection.keys('cellblock:submission:*')) {
      const [owner, status] = await connection.hmget(key, 'tenant', 'status');
      if (owner === tenant && (status === 'queued' || status === 'running')) members.push(`submission:${key.slice('cellblock:submission:'.length)}`);
    }
    return members.sort();
  }

  it('admits, cancels and sweeps racing each other: never above the cap, the active set ends as the unfinished records, no cancelled job queued', async () => {
    const tenant = 'red.race-1';
    const cap = 3;
    const admitted: string[] = [];
    const cancelled = new Set<string>();
    const swept: string[] = [];
    let most = 0;
    // rounds of admits racing sweeps, the active count, and the cancels of the round before
    let cancelling: string[] = [];
    for (let round = 0; round < 8; round++) {
      const work: Promise<unknown>[] = cancelling.map(async (id) => {
        if ((await store.cancel(tenant, id)) === 'cancelled') cancelled.add(id);
      });
      cancelling = [];
      for (let i = 0; i < 6; i++) {
        work.push(
          store.admit(job(), { tenant, maxActive: cap }).then(
            ({ id }) => {
              admitted.push(id);
              if (i % 2 === 0) cancelling.push(id);
            },
            () => undefined,
          ),
        );
        if (i % 3 === 0) work.push(store.sweep(0).then(({ queued }) => swept.push(...queued)));
        work.push(connection.zcard(`cellblock:active:${tenant}`).then((n) => (most = Math.max(most, n))));
      }
      await Promise.all(work);
    }
    swept.push(...(await store.sweep(0)).queued);
    assert.ok(most <= cap, `${most} active at once, over the cap of ${cap}`);
    assert.ok(admitted.length > cap, `only ${admitted.length} admitted: the cancels freed no place`);
    assert.deepEqual(await activeOf(tenant), await unfinishedOf(tenant), 'the active set is not the unfinished records');
    // (one swept before its cancel may be on the queue: a worker finds it cancelled and skips it)
    for (const id of (await store.sweep(0)).queued) assert.ok(!cancelled.has(id), `the sweep queued ${id}, cancelled`);
  });

  it("tenants whose names share a prefix or hold ':' or '.': the sweep and the cancels free only the tenant's own place", async () => {
    // (config allows [A-Za-z0-9_.-]; the store is attacked with ':' as well)
    const tenants = ['red', 'red.b', 'red-b', 'red:b', 'red:b:c', 'b'];
    const ids = new Map<string, string>();
    for (const tenant of tenants) ids.set(tenant, (await store.admit(job(), { tenant, maxActive: 1 })).id);
    // red:b's record expired; red's cancelled; red-b's done
    await connection.del(`cellblock:submission:${ids.get('red:b')}`);
    assert.equal(await store.cancel('red', ids.get('red')!), 'cancelled');
    assert.equal(await store.finish(ids.get('red-b')!, 'done', { verdict: 'AC' } as never), true);
    const swept = (await store.sweep(0)).queued;
    assert.deepEqual(swept.sort(), [ids.get('red.b')!, ids.get('red:b:c')!, ids.get('b')!].sort(), 'the sweep queued what it should not, or missed an orphan');
    for (const tenant of tenants) {
      const gone = ['red:b', 'red', 'red-b'].includes(tenant);
      assert.deepEqual(await activeOf(tenant), gone ? [] : [`submission:${ids.get(tenant)}`], `tenant ${tenant}'s places`);
    }
    const index = await connection.zrange('cellblock:unfinished:submission', '0', '-1');
    for (const tenant of ['red:b', 'red', 'red-b']) assert.ok(!index.includes(`${ids.get(tenant)}:${tenant}`), `${tenant}'s job left in the index`);
    // each remaining tenant at its cap of 1; the freed ones admit again
    for (const tenant of tenants) {
      const again = store.admit(job(), { tenant, maxActive: 1 });
      if (['red:b', 'red', 'red-b'].includes(tenant)) await again;
      else await assert.rejects(again, /queued or running/);
    }
  });

  it('a job done or cancelled while on the queue, an idempotent retry of it, and a record expired while queued: never queued again, nothing left', async () => {
    const tenant = 'red-final';
    const done = await store.submit(job(), { tenant, maxActive: 2, idempotencyKey: 'k-done' });
    const cancelledJob = await store.submit(job(), { tenant, maxActive: 2, idempotencyKey: 'k-cancel' });
    // done by a worker: its BullMQ job completed and removed (removeOnComplete)
    await store.finish(done.id, 'done', { verdict: 'AC' } as never);
    await store.queue.remove(done.id);
    assert.equal(await store.cancel(tenant, cancelledJob.id), 'cancelled');
    // retried: the first ids, no place taken, nothing written
    const retries = await Promise.all([store.submit(job(), { tenant, maxActive: 2, idempotencyKey: 'k-done' }), store.submit(job(), { tenant, maxActive: 2, idempotencyKey: 'k-cancel' })]);
    assert.deepEqual(retries.map((r) => [r.id, r.duplicate, r.job]), [[done.id, true, undefined], [cancelledJob.id, true, undefined]]);
    // one more expires while queued
    const expired = await store.submit(job(), { tenant, maxActive: 2 });
    await connection.del(`cellblock:submission:${expired.id}`);
    await store.queue.remove(expired.id);
    const swept = (await store.sweep(0)).queued;
    for (const { id } of [done, cancelledJob, expired]) assert.ok(!swept.includes(id), `${id} swept`);
    for (const { id } of [done, cancelledJob, expired]) assert.equal(await jobExists(id), false, `${id} queued again`);
    assert.deepEqual(await activeOf(tenant), []);
    const index = await connection.zrange('cellblock:unfinished:submission', '0', '-1');
    assert.deepEqual(index.filter((entry) => entry.endsWith(`:${tenant}`)), [], 'left in the index');
  });

  it("a job that fails for good (the worker's internal-error path, after its retries) leaves neither its place nor its entry in the index", async () => {
    const dir = tempDir('cb-red5w-');
    const worker = await startWorkerProcess(serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: dir, CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_ORPHAN_GRACE_MS: '60000' }), 'red5-worker', 1);
    try {
      const tenant = 'red-ie';
      // (a long grace: the sweep must not be what frees them)
      // a language this host does not have: the engine refuses it on every attempt
      const { id } = await store.submit({ ...job(), language: 'no-such-language' }, { tenant, maxActive: 1 });
      assert.ok(await eventuallyAsync(async () => (await store.load(id))?.status === 'done', 30_000, 100), `never ended: ${JSON.stringify(await store.load(id))}`);
      assert.equal((await store.load(id))?.result?.verdict, 'IE');
      assert.deepEqual(await activeOf(tenant), [], 'its place under the cap is kept');
      const index = await connection.zrange('cellblock:unfinished:submission', '0', '-1');
      assert.ok(!index.includes(`${id}:${tenant}`), 'left in the index');
    } finally {
      await stop(worker);
    }
  });
});

describe('red team: a BullMQ job failed for good without its record ended', () => {
  it('(stalled past its limit, or its result lost to Redis on the last attempt) is ended with an internal error by the sweep, and its place freed', async () => {
    const testStore = await startTestStore('cb-red5f-');
    const { redis, dir, connection, store } = testStore;
    const taker = new Worker(QUEUE_SUBMISSIONS, null, { connection });
    try {
      const tenant = 'red-lost';
      const { id } = await store.submit(aplusb() as Submission, { tenant, maxActive: 1 });
      // what BullMQ does to a job stalled more often than maxStalledCount: failed,
      // no attempt left, without the worker's handler (nor its internal error)
      const taken = await taker.getNextJob('red5-token');
      assert.equal(taken?.id, id);
      await taken.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), 'red5-token');
      assert.equal(await store.queue.getJobState(id), 'failed');
      const worker = await startWorkerProcess(serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: dir, CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_ORPHAN_GRACE_MS: '2000' }), 'red5-sweeper', 1);
      try {
        assert.ok(await eventuallyAsync(async () => (await store.load(id))?.status === 'done', 15_000, 100), `never ended: ${JSON.stringify(await store.load(id))}`);
        assert.equal((await store.load(id))?.result?.verdict, 'IE');
        assert.equal(await connection.zcard(`cellblock:active:${tenant}`), 0, 'its place under the cap is kept');
        assert.equal(await connection.zcard('cellblock:unfinished:submission'), 0, 'left in the index');
      } finally {
        await stop(worker);
      }
    } finally {
      await taker.close();
      await testStore.close();
      await stopAll();
    }
  });
});

// The program's stdio as it finds it, then left as awkward as it can be: non
// blocking and appending, pipes resized.
const PROBE = String.raw`
import fcntl, os, sys
F_GETPIPE_SZ, F_SETPIPE_SZ = 1032, 1031
seen = []
for fd in (0, 1, 2):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_NONBLOCK | os.O_APPEND | os.O_ACCMODE)
    try:
        size = fcntl.fcntl(fd, F_GETPIPE_SZ)
    except OSError:
        size = None
    seen.append((fd, flags, size))
data = os.read(0, 4096) if not (fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK) else b'nonblocking'
print(repr((seen, data, sorted(os.listdir('/proc/self/fd')))), flush=True)
for fd in (0, 1, 2):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK | os.O_APPEND)
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
`;

describe("red team: a run's stdio made ahead of it", () => {
  let fixtures: string;
  before(() => {
    fixtures = makeFixtureDir('cellblock-red5-');
  });
  after(() => {
    releaseWarmSandboxes();
    removeFixtureDir(fixtures);
  });

  // one shape (a key of its own: the work dir's size), so its sandbox is reused
  const probe = (extra: Partial<RunSpec> = {}): RunSpec => ({ argv: [PYTHON, '-c', PROBE], limits: { diskKb: 71_305 }, ...extra });
  // the process's pipes and opened files (what a run's stdio is made of); the
  // addon's cached user namespaces and their slots grow to their pool's size
  const fds = () =>
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`).replace(/[0-9]+/g, 'N');
        return target.startsWith('pipe:') || target === '/dev/null' || target.startsWith(fixtures) ? [target] : [];
      } catch {
        return []; // the directory's own
      }
    });
  // the addon duplicated the ends when run() was called: ours are closed, as the judge's interactor does
  const closePipe = (pipe: { read: number; write: number }) => [pipe.read, pipe.write].forEach((fd) => closeSync(fd));

  it('spares left unused by a run with stdin data or its own stdout (an interactor) are as new for the next; what a run did to its own is not seen', async () => {
    const first = await run(probe());
    assert.equal(first.status, 'ok', first.stderr);
    const fresh = first.stdout;
    // its stdin its own: the spare /dev/null stays for the next run
    const withData = await run(probe({ stdin: { text: 'data' } }));
    assert.equal(withData.status, 'ok', withData.stderr);
    // its stdout its own (an interactor's pipe): the spare stdout pipe stays
    const pipe = openPipe();
    const interacting = run(probe({ stdoutFd: pipe.write }));
    const reading = run({ argv: ['/bin/cat'], stdin: { fd: pipe.read } });
    closePipe(pipe);
    const [own, cat] = await Promise.all([interacting, reading]);
    assert.equal(own.status, 'ok', own.stderr);
    assert.match(cat.stdout, /\(0, 0, None\)/, 'the interacting run did not write to its own pipe');
    for (let i = 0; i < 3; i++) {
      const next = await run(probe());
      assert.equal(next.status, 'ok', next.stderr);
      assert.equal(next.stdout, fresh, `run ${i} after them found its stdio changed`);
    }
    // as new: /dev/null read-only and blocking, pipes of the default size, only 0-2 (and listdir's) open
    assert.match(fresh, /^\(\[\(0, 0, None\), \(1, 1, 65536\), \(2, 1, 65536\)\], b'', \['0', '1', '2', '3'\]\)\n$/);
  });

  it("the Node process's descriptors stay flat over a few hundred runs of every kind, and sandboxes torn down with spares open", async () => {
    const stdinFile = join(fixtures, 'stdin.txt');
    writeFileSync(stdinFile, '1 2\n');
    const kinds: (() => Promise<unknown>)[] = [
      () => run({ argv: ['/bin/cat'], stdin: { text: 'text' }, limits: { diskKb: 71_306 } }),
      () => run({ argv: ['/bin/cat'], stdin: { file: stdinFile }, limits: { diskKb: 71_306 } }),
      () => run({ argv: ['/bin/true'], limits: { diskKb: 71_306 } }),
      async () => {
        const pipe = openPipe();
        const both = Promise.all([run({ argv: ['/bin/echo', 'hi'], stdoutFd: pipe.write, limits: { diskKb: 71_307 } }), run({ argv: ['/bin/cat'], stdin: { fd: pipe.read }, limits: { diskKb: 71_307 } })]);
        closePipe(pipe);
        await both;
      },
      () => run({ argv: ['/bin/sh', '-c', 'while :; do :; done'], limits: { cpuMs: 50, diskKb: 71_308 } }),
      async () => {
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 30);
        await run({ argv: ['/bin/sleep', '5'], limits: { diskKb: 71_309 } }, { signal: abort.signal });
      },
      // not reusable (a process left behind): rebuilt
      () => run({ argv: ['/bin/sh', '-c', '(sleep 30 &) ; echo left'], limits: { diskKb: 71_310 } }),
      // a start that fails after the spares were made: stdin file gone
      () => run({ argv: ['/bin/true'], stdin: { file: join(fixtures, 'gone') }, limits: { diskKb: 71_306 } }).catch(() => undefined),
    ];
    // warm the pools and the addon's own descriptors (cached user namespaces and their slots) first
    for (let round = 0; round < 2; round++) for (const kind of kinds) await kind();
    releaseWarmSandboxes();
    const before = fds();
    for (let round = 0; round < 30; round++) for (const kind of kinds) await kind();
    releaseWarmSandboxes();
    let afterRuns = fds();
    if (afterRuns.length > before.length) {
      // a pipe of the runner's own may come and go meanwhile: a leak stays
      await delay(1_000);
      afterRuns = fds();
    }
    const more = afterRuns.filter((fd, i, all) => all.filter((same) => same === fd).length > before.filter((same) => same === fd).length);
    assert.ok(afterRuns.length <= before.length, `${afterRuns.length - before.length} descriptors more after ${30 * kinds.length} runs: ${[...new Set(more)].join(', ')}`);
  });
});

describe("red team: a fast-path wait's listener on Redis's 'close'", () => {
  describe('in this process: the API context and a worker of one slot', () => {
    let connection: Redis;
    let inspect: Redis;
    let subs: Submissions;
    let ctx: ApiContext;
    let close = async () => {};
    before(async () => {
      const dir = tempDir('cb-red5l-');
      const redis = await startRedis(dir);
      connection = new Redis({ path: redis.socket, maxRetriesPerRequest: null });
      inspect = new Redis({ path: redis.socket });
      const subscriber = new Redis({ path: redis.socket, maxRetriesPerRequest: null });
      const events = new Redis({ path: redis.socket, maxRetriesPerRequest: null });
      subs = submissions(connection, 3_600);
      const settings = {
        slots: 1,
        pinCpus: false,
        webhookSecret: 'red5',
        webhookPolicy: { attempts: 1, backoffMs: 100, timeoutMs: 1_000 },
        store: directoryStore(join(dir, 'store')),
        runs: runs(connection, 3_600, subs.queue),
        images: imageStore(join(dir, 'store')),
        orphanGraceMs: 60_000,
      };
      const worker = startWorker(redisOptions(redis.url), subscriber, subs, settings, pino({ level: 'silent' }));
      const hub = await eventHub(events);
      // what submitAndWait reads of the API's context
      ctx = { redis: connection, local: worker.local, hub } as unknown as ApiContext;
      close = async () => {
        await worker.close(1_000);
        await hub.close();
        await subs.queue.close();
        for (const c of [connection, subscriber, events, inspect]) c.disconnect();
      };
    });
    after(async () => {
      await close();
      await stopAll();
    });

    // (a submission with its wall limit, as the API derives it, is small enough for the fast path)
    const wait = (tenant: string, source = PYTHON_APLUSB, idempotencyKey?: string) =>
      submitAndWait(ctx, { kind: 'submission', store: subs, job: { ...aplusb(), source, limits: { wallMs: 5_000 } } as Submission, options: { tenant, ...(idempotencyKey ? { idempotencyKey } : {}) } }, 20_000);
    const SLOW = `import time\ntime.sleep(1.5)\n${PYTHON_APLUSB}`;
    // the tenant's job held on the queue while the fast path runs it
    const heldId = async (tenant: string) => {
      let held: string | undefined;
      const find = async () => {
        for (const id of await inspect.zrange('bull:cellblock-submissions:delayed', '0', '-1')) {
          if ((await inspect.hget(`cellblock:submission:${id}`, 'tenant')) === tenant) held = id;
        }
        return held !== undefined;
      };
      assert.ok(await eventuallyAsync(find, 10_000, 10), 'not held');
      return held!;
    };

    it("a fast-path wait that ends, or a duplicate's, leaves no listener on the connection's 'close' (its count flat over many)", async () => {
      assert.equal((await wait('red-listen')).view?.status, 'done');
      const before = connection.listenerCount('close');
      for (let i = 0; i < 40; i++) {
        const { view } = await wait('red-listen', PYTHON_APLUSB, i % 8 === 0 ? 'same-key' : undefined);
        assert.equal(view?.status, 'done', JSON.stringify(view));
      }
      assert.equal(connection.listenerCount('close'), before, "listeners on the connection's 'close' left by ended waits");
    });

    it('a fast-path wait whose job is cancelled answers cancelled, leaves no listener, frees the place', async () => {
      const before = connection.listenerCount('close');
      const waiting = wait('red-cancel', SLOW);
      const id = await heldId('red-cancel');
      assert.equal(await subs.cancel('red-cancel', id), 'cancelled');
      const { view } = await waiting;
      assert.equal(view?.status, 'cancelled', JSON.stringify(view));
      assert.equal(connection.listenerCount('close'), before);
      assert.equal(await inspect.zcard('cellblock:active:red-cancel'), 0);
    });

    it("a 'close' that is only a reconnect blip answers running with the id at once; the job still ends once, its place freed", async () => {
      const before = connection.listenerCount('close');
      const waiting = wait('red-blip', SLOW);
      const id = await heldId('red-blip');
      connection.stream.destroy(); // ioredis reconnects at once
      const { id: answered, view } = await waiting;
      assert.deepEqual([answered, view], [id, { id, status: 'running' }]);
      assert.ok(await eventuallyAsync(async () => (await subs.load(id))?.status === 'done', 15_000, 50), `never done: ${JSON.stringify(await subs.load(id))}`);
      assert.equal((await subs.load(id))?.result?.verdict, 'AC');
      assert.ok(await eventuallyAsync(async () => (await inspect.zcard('cellblock:active:red-blip')) === 0, 5_000), 'its place is kept');
      assert.equal(connection.listenerCount('close'), before);
    });
  });

  it('as many fast-path waits at once as the slots: no MaxListeners warning (the connection allows any number, whatever BullMQ adds to its limit)', async () => {
    const dir = tempDir('cb-red5m-');
    const redis = await startRedis(dir);
    const slots = 8;
    const server = await startHttp('serve', ['--workers', String(slots)], serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: join(dir, 'data'), CELLBLOCK_STORE: join(dir, 'store') }));
    try {
      const replies = await Promise.all(
        Array.from({ length: slots }, (_, i) => call(server.url, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', `sleep 1; echo ${i}`] } })),
      );
      replies.forEach((reply, i) => assert.equal((reply.json as { result?: { stdout: string } }).result?.stdout, `${i}\n`, describeReply(reply)));
      assert.doesNotMatch(server.stderr(), /MaxListenersExceededWarning/);
    } finally {
      await stopAll();
    }
  });
});
