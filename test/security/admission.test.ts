// Admission attacked: a tenant's rate, its cap on active jobs and its
// idempotency keys under concurrent requests, on the queued path and on the
// fast path (`cellblock serve` runs small sync requests in an idle slot of its
// own worker); what a refused request leaves behind (nothing); the tenant's
// active count after every kind of end; Redis failing after a job is admitted;
// and request bodies read from Node's stream under the body limit. A real
// redis-server the test reads directly, the real service, real HTTP.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { uniqueToken } from '../helpers/fixtures.js';
import {
  assertError,
  call,
  describeReply,
  eventuallyAsync,
  type Reply,
  type Service,
  serviceEnv,
  startHttp,
  startRedis,
  stop,
  stopAll,
  tempDir,
  type TestRedis,
  writeConfig,
} from '../service/helpers.js';

interface RunView {
  id: string;
  status: 'queued' | 'running' | 'done' | 'cancelled';
  result?: { status: string; stdout: string };
}

const QUEUE = 'bull:cellblock-submissions';
const BODY_MAX = 256 * 1024;
const KEYS = {
  rated: uniqueToken('key-rated'),
  capped: uniqueToken('key-capped'),
  idem: uniqueToken('key-idem'),
  stored: uniqueToken('key-stored'),
  faulty: uniqueToken('key-faulty'),
  bodies: uniqueToken('key-bodies'),
};
const ADMIN_KEY = uniqueToken('admin');
const RATE = 5;
const STORED_RATE = 2;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

// A fixed one-minute window: start well inside one.
async function freshMinute(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 45_000) await delay(60_000 - into + 300);
}

// What a raw HTTP exchange got back before the server closed the connection
// (or `timeoutMs` passed): the text, and whether the server closed it.
function rawExchange(base: string, send: (write: (data: string | Buffer) => void) => Promise<void>, timeoutMs: number): Promise<{ text: string; closed: boolean; error?: string }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closed, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (e) => (error = e.message));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      void send((data) => {
        if (!socket.destroyed) socket.write(data);
      }).catch(() => undefined);
    });
  });
}

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

describe('security: admission (rate, cap, idempotency) and request bodies, attacked', () => {
  let dir: string;
  let redis: TestRedis;
  let inspect: Redis;
  let server: Service;
  let base: string;
  const store = () => join(dir, 'store');

  // records of a tenant's jobs in Redis (runs and submissions)
  async function recordsOf(tenant: string): Promise<string[]> {
    const keys = [...(await inspect.keys('cellblock:run:*')), ...(await inspect.keys('cellblock:submission:*'))];
    const owners = await Promise.all(keys.map((key) => inspect.hget(key, 'tenant')));
    return keys.filter((_, i) => owners[i] === tenant);
  }
  const active = async (tenant: string) => inspect.zcard(`cellblock:active:${tenant}`);
  const jobCount = async () => (await inspect.keys(`${QUEUE}:*`)).filter((key) => /:[A-Za-z0-9_-]{24}$/.test(key)).length;
  // jobs this worker has started (each observes its wait once, fast path included)
  const runsStarted = async () => {
    const found = /^cellblock_queue_wait_seconds_count (\d+)$/m.exec((await call(base, 'GET', '/metrics')).text);
    assert.ok(found, 'no cellblock_queue_wait_seconds_count');
    return Number(found[1]);
  };
  const settlesAt = (tenant: string, count: number) => eventuallyAsync(async () => (await active(tenant)) === count, 20_000, 100);

  before(async () => {
    dir = tempDir('cb-adm-');
    redis = await startRedis(dir);
    inspect = new Redis({ path: redis.socket });
    const config = writeConfig(dir, {
      apiKeys: [
        { name: 'rated', sha256: sha256(KEYS.rated), ratePerMinute: RATE },
        { name: 'capped', sha256: sha256(KEYS.capped), maxActive: 1 },
        { name: 'idem', sha256: sha256(KEYS.idem) },
        { name: 'stored', sha256: sha256(KEYS.stored), ratePerMinute: STORED_RATE },
        { name: 'faulty', sha256: sha256(KEYS.faulty), maxActive: 2 },
        { name: 'bodies', sha256: sha256(KEYS.bodies) },
      ],
    });
    server = await startHttp(
      'serve',
      ['--workers', '2'],
      serviceEnv({
        REDIS_URL: redis.url,
        CELLBLOCK_CONFIG: config,
        CELLBLOCK_OPEN_MODE: 'false',
        CELLBLOCK_DATA: join(dir, 'data'),
        CELLBLOCK_STORE: store(),
        CELLBLOCK_WAIT_MS: '20000',
        CELLBLOCK_BODY_MAX_BYTES: String(BODY_MAX),
        CELLBLOCK_REQUEST_TIMEOUT_MS: '3000',
        CELLBLOCK_ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
        CELLBLOCK_SHUTDOWN_GRACE_MS: '1000',
      }),
    );
    base = server.url;
  });

  after(async () => {
    inspect?.disconnect();
    await stopAll();
  });

  describe('admission under concurrency', () => {
    it(`12 concurrent runs (sync and async) against a rate of ${RATE} a minute: ${RATE} admitted and run, the rest 429 RATE_LIMITED, never started, leaving nothing behind`, async () => {
      await freshMinute();
      const headers = bearer(KEYS.rated);
      const [jobsBefore, started] = [await jobCount(), await runsStarted()];
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) => call(base, 'POST', `/v1/runs${i % 2 === 0 ? '?wait=true' : ''}`, { body: { argv: ['/bin/true'] }, headers })),
      );
      const admitted = replies.filter((reply) => reply.status === 200 || reply.status === 202);
      assert.equal(admitted.length, RATE, replies.map(describeReply).join('\n'));
      for (const reply of replies) if (!admitted.includes(reply)) assertError(reply, 429, 'RATE_LIMITED');
      assert.deepEqual((await recordsOf('rated')).sort(), admitted.map((reply) => `cellblock:run:${(reply.json as RunView).id}`).sort());
      assert.ok(await settlesAt('rated', 0), `active count: ${await active('rated')}`);
      assert.equal((await runsStarted()) - started, RATE, 'runs started, the refused ones included');
      // the window full and the slots idle: a refused sync run is not started
      for (const reply of await Promise.all([1, 2].map(() => call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/true'] }, headers })))) {
        assertError(reply, 429, 'RATE_LIMITED');
      }
      assert.equal((await runsStarted()) - started, RATE, 'a refused run was started');
      assert.ok(await eventuallyAsync(async () => (await jobCount()) === jobsBefore, 10_000), 'jobs left in the queue');
    });

    it('one Idempotency-Key retried 8 times at once: one record, one job, one "done", everyone answered with its id and result', async () => {
      const key = uniqueToken('idem');
      const headers = { ...bearer(KEYS.idem), 'idempotency-key': key };
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => call(base, 'POST', `/v1/runs${i % 4 === 3 ? '' : '?wait=true'}`, { body: { argv: ['/bin/sh', '-c', 'sleep 0.5; echo once'] }, headers })),
      );
      const ids = new Set(replies.map((reply) => (reply.json as RunView | undefined)?.id));
      assert.equal(ids.size, 1, replies.map(describeReply).join('\n'));
      const [id] = [...ids] as [string];
      for (const reply of replies) assert.ok(reply.status === 200 || reply.status === 202, describeReply(reply));
      for (const reply of replies.filter((r) => r.status === 200)) assert.equal((reply.json as RunView).result?.stdout, 'once\n', describeReply(reply));
      assert.deepEqual(await recordsOf('idem'), [`cellblock:run:${id}`]);
      assert.equal(await inspect.get(`cellblock:idempotency:idem:${key}`), id);
      assert.ok(await settlesAt('idem', 0), `active count: ${await active('idem')}`);
      assert.ok(await eventuallyAsync(async () => (await inspect.exists(`${QUEUE}:${id}`)) === 0, 10_000), 'the job is left in the queue');
      assert.equal(await inspect.hget(`cellblock:run:${id}`, 'status'), 'done');
    });

    it('at a cap of 1, refused sync runs start no sandbox and leave no record, job, count or idempotency key; the count is 0 after done, cancel, a kill and a duplicate', async () => {
      const headers = bearer(KEYS.capped);
      const jobs = (await jobCount()) + 1;
      const occupying = call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 3; echo first'] }, headers });
      assert.ok(await eventuallyAsync(async () => (await active('capped')) === 1 && (await jobCount()) === jobs, 10_000, 10), 'the first run is not active and held');
      const [records, started] = [await recordsOf('capped'), await runsStarted()];
      const key = uniqueToken('refused');
      const refused = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          call(base, 'POST', `/v1/runs${i < 4 ? '?wait=true' : ''}`, { body: { argv: ['/bin/sh', '-c', 'echo burnt'] }, headers: { ...headers, 'idempotency-key': `${key}-${i % 2}` } }),
        ),
      );
      for (const reply of refused) {
        assertError(reply, 429, 'TOO_MANY_ACTIVE');
        assert.ok(Number(reply.headers.get('retry-after')) >= 1, 'no Retry-After');
      }
      assert.equal(await runsStarted(), started, 'a refused run was started');
      assert.deepEqual(await recordsOf('capped'), records);
      assert.equal(await jobCount(), jobs);
      assert.equal(await active('capped'), 1);
      assert.equal(await inspect.exists(`cellblock:idempotency:capped:${key}-0`, `cellblock:idempotency:capped:${key}-1`), 0);
      const first = await occupying;
      assert.equal((first.json as RunView).result?.stdout, 'first\n', describeReply(first));
      assert.ok(await settlesAt('capped', 0), `after done: ${await active('capped')}`);

      // the refused key, retried once there is room: admitted as new
      const again = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo later'] }, headers: { ...headers, 'idempotency-key': `${key}-0` } });
      assert.equal((again.json as RunView).result?.stdout, 'later\n', describeReply(again));
      assert.ok(await settlesAt('capped', 0), `after the retry: ${await active('capped')}`);
      // a duplicate of it changes nothing
      const duplicate = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo later'] }, headers: { ...headers, 'idempotency-key': `${key}-0` } });
      assert.equal((duplicate.json as RunView).id, (again.json as RunView).id);
      assert.equal(await active('capped'), 0, 'after a duplicate');
      // killed at its wall limit
      const killed = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sleep', '30'], limits: { wallMs: 300 } }, headers });
      assert.equal((killed.json as RunView).result?.status, 'wall_time_limit', describeReply(killed));
      assert.ok(await settlesAt('capped', 0), `after a kill: ${await active('capped')}`);
      // cancelled mid-run (fast path)
      const known = new Set(await recordsOf('capped'));
      const cancelling = call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sleep', '30'] }, headers });
      let id: string | undefined;
      assert.ok(await eventuallyAsync(async () => (id = (await recordsOf('capped')).find((k) => !known.has(k))?.split(':')[2]) !== undefined, 10_000, 20));
      assert.equal((await call(base, 'DELETE', `/v1/runs/${id}`, { headers })).status, 200);
      assert.equal(((await cancelling).json as RunView).status, 'cancelled');
      assert.ok(await settlesAt('capped', 0), `after a cancel: ${await active('capped')}`);
    });

    it('a batch over the cap: the admitted ones get their ids, the others TOO_MANY_ACTIVE (Judge0: "queue is full"), one entry each; a single Judge0 submission past it: 503 as Judge0; Piston: 429 {message}', async () => {
      const headers = bearer(KEYS.capped);
      const submission = { language: 'python3', source: 'import time\ntime.sleep(2)\nprint(1)\n', tests: [{ name: 't', stdin: '', expected: '1\n' }] };
      const records = (await recordsOf('capped')).length;
      const reply = await call(base, 'POST', '/v1/submissions/batch', { body: { submissions: [submission, submission, submission] }, headers });
      assert.equal(reply.status, 202, describeReply(reply));
      const entries = (reply.json as { submissions: ({ id: string } | { error: { code: string } })[] }).submissions;
      assert.equal(entries.length, 3);
      assert.ok('id' in entries[0]!, describeReply(reply));
      for (const entry of entries.slice(1)) assert.equal('error' in entry && entry.error.code, 'TOO_MANY_ACTIVE', describeReply(reply));
      assert.equal((await recordsOf('capped')).length, records + 1, 'a record no answer names');
      assert.equal((await call(base, 'DELETE', `/v1/submissions/${(entries[0] as { id: string }).id}`, { headers })).status, 200);
      assert.ok(await settlesAt('capped', 0));

      const judge0 = await call(base, 'POST', '/submissions/batch', { body: { submissions: [{ source_code: 'import time\ntime.sleep(2)\nprint(1)', language_id: 71 }, { source_code: 'print(2)', language_id: 71 }] }, headers: { 'x-auth-token': KEYS.capped } });
      assert.equal(judge0.status, 201, describeReply(judge0));
      const tokens = (judge0.json as { token?: string }[]).flatMap((entry) => (entry.token ? [entry.token] : []));
      assert.equal(tokens.length, 1, describeReply(judge0));
      // as Judge0 answers past its MAX_QUEUE_SIZE
      assert.deepEqual((judge0.json as unknown[])[1], { error: 'queue is full' }, describeReply(judge0));
      const single = await call(base, 'POST', '/submissions', { body: { source_code: 'print(3)', language_id: 71 }, headers: { 'x-auth-token': KEYS.capped } });
      assert.equal(single.status, 503, describeReply(single));
      assert.deepEqual(single.json, { error: 'queue is full' });
      // and Piston's shape: {message}
      const piston = await call(base, 'POST', '/api/v2/execute', { body: { language: 'python', version: '*', files: [{ content: 'print(4)' }] }, headers });
      assert.equal(piston.status, 429, describeReply(piston));
      assert.match((piston.json as { message?: string }).message ?? '', /queued or running already/, describeReply(piston));
      assert.equal((await recordsOf('capped')).length, records + 2, 'a record no answer names');
      assert.ok(await settlesAt('capped', 0));
    });

    it('a request over its rate stores none of its files, and requests refused after storing files are counted in the rate', async () => {
      await freshMinute();
      const headers = bearer(KEYS.stored);
      // files given twice: refused (400) once they are stored
      const twice = (tag: string) => ({ argv: ['/bin/true'], files: [{ path: 'a', text: `${tag}-1` }, { path: 'a', text: `${tag}-2` }] });
      const tag = uniqueToken('twice');
      for (let i = 0; i < STORED_RATE; i++) assertError(await call(base, 'POST', '/v1/runs', { body: twice(`${tag}${i}`), headers }), 400, 'INVALID_REQUEST');
      assertError(await call(base, 'POST', '/v1/runs', { body: twice(`${tag}x`), headers }), 429, 'RATE_LIMITED');
      const secret = uniqueToken('never-stored');
      assertError(await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/true'], files: [{ path: 'f', text: secret }] }, headers }), 429, 'RATE_LIMITED');
      const hash = sha256(secret);
      assert.equal(existsSync(join(store(), hash.slice(0, 2), hash.slice(2, 4), hash)), false, 'a file of a refused request was stored');
    });
  });

  describe('Redis failing after admission', () => {
    // Redis's ACL lets the job be admitted (its keys are cellblock:*, given an
    // idempotency key and a rate) but not queued (BullMQ's keys are bull:*),
    // for as long as it says so.
    async function withoutQueue<T>(work: () => Promise<T>): Promise<T> {
      await inspect.call('ACL', 'SETUSER', 'default', 'resetkeys', '~cellblock:*');
      try {
        return await work();
      } finally {
        await inspect.call('ACL', 'SETUSER', 'default', 'allkeys');
      }
    }

    it('a job admitted but not queued (sync or async) is answered 5xx and leaves no record, count or idempotency key; the slots stay right', async () => {
      const headers = bearer(KEYS.faulty);
      const [key, other] = [uniqueToken('fault'), uniqueToken('fault')];
      const [sync, queued] = await withoutQueue(() =>
        Promise.all([
          call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo lost'] }, headers: { ...headers, 'idempotency-key': key } }),
          call(base, 'POST', '/v1/submissions', { body: { language: 'python3', source: 'print(1)', tests: [{ name: 't', stdin: '', expected: '1\n' }] }, headers: { ...headers, 'idempotency-key': other } }),
        ]),
      );
      for (const reply of [sync, queued]) assert.ok(reply.status >= 500, describeReply(reply));
      assert.ok(await eventuallyAsync(async () => (await recordsOf('faulty')).length === 0, 5_000), `records left: ${await recordsOf('faulty')}`);
      assert.equal(await active('faulty'), 0, 'the active count leaked');
      assert.equal(await inspect.exists(`cellblock:idempotency:faulty:${key}`, `cellblock:idempotency:faulty:${other}`), 0, 'an idempotency key names a job that is not there');
      // both slots idle again: two sync runs at once both take the fast path
      const [a, b] = await Promise.all([
        call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 1; echo a'] }, headers: { ...headers, 'idempotency-key': key } }),
        call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 1; echo b'] }, headers: bearer(KEYS.idem) }),
      ]);
      assert.equal((a.json as RunView).result?.stdout, 'a\n', describeReply(a));
      assert.equal((b.json as RunView).result?.stdout, 'b\n', describeReply(b));
      assert.ok(await settlesAt('faulty', 0));
    });
  });

  describe('request bodies', () => {
    const headers = bearer(KEYS.bodies);
    const raw = (lines: string[], body = '') => `${lines.join('\r\n')}\r\nAuthorization: Bearer ${KEYS.bodies}\r\nConnection: close\r\n\r\n${body}`;

    it('a Content-Length over the limit is 413 at once, without the body', async () => {
      const reply = await rawExchange(base, async (write) => write(raw(['POST /v1/submissions HTTP/1.1', 'Host: x', 'Content-Type: application/json', `Content-Length: ${BODY_MAX * 100}`])), 5_000);
      assert.equal(statusOf(reply.text), 413, reply.text);
      assert.match(reply.text, /BODY_TOO_LARGE/);
    });

    it('a chunked body sent slowly past the limit is 413 BODY_TOO_LARGE, answered before the connection goes', async () => {
      const reply = await rawExchange(
        base,
        async (write) => {
          write(raw(['POST /v1/runs HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']));
          const chunk = 'x'.repeat(64 * 1024);
          for (let i = 0; i < 8; i++) {
            write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
            await delay(50);
          }
          write('0\r\n\r\n');
        },
        10_000,
      );
      assert.equal(statusOf(reply.text), 413, `${reply.text} ${reply.error ?? ''}`);
      assert.match(reply.text, /BODY_TOO_LARGE/);
    });

    it('a Content-Length shorter than the body: the rest is not a request (400), nothing is admitted, the service lives', async () => {
      const records = (await recordsOf('bodies')).length;
      const body = JSON.stringify({ argv: ['/bin/true'] });
      const reply = await rawExchange(base, async (write) => write(raw(['POST /v1/runs?wait=true HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 5'], body)), 5_000);
      assert.equal(statusOf(reply.text), 400, reply.text);
      assert.ok(reply.closed);
      assert.equal((await recordsOf('bodies')).length, records);
      assert.equal((await call(base, 'GET', '/healthz')).status, 200);
    });

    it('a Content-Length longer than the body, or a body that stalls: the connection is closed by the request timeout, nothing is admitted', async () => {
      const records = (await recordsOf('bodies')).length;
      const started = Date.now();
      const reply = await rawExchange(base, async (write) => write(raw(['POST /v1/runs?wait=true HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 1000'], '{"argv": ["/bin/true"]')), 20_000);
      assert.ok(reply.closed, `still open after ${Date.now() - started} ms: ${reply.text}`);
      assert.ok(statusOf(reply.text) === 0 || statusOf(reply.text) === 408, reply.text);
      assert.equal((await recordsOf('bodies')).length, records);
      assert.equal((await call(base, 'GET', '/healthz')).status, 200);
    });

    it('a client gone mid-body: the service lives, answers the next request, and logs no error of its own', async () => {
      const failuresBefore = server.stderr().split('request failed').length;
      await rawExchange(base, async (write) => write(raw(['POST /v1/runs HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 100000'], '{"argv"')), 300);
      const next = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo alive'] }, headers });
      assert.equal((next.json as RunView).result?.stdout, 'alive\n', describeReply(next));
      assert.equal(server.stderr().split('request failed').length, failuresBefore, server.stderr().slice(-2_000));
    });

    it('a body on GET and DELETE, even over the limit, is ignored: the route answers', async () => {
      const id = 'C'.repeat(24);
      for (const method of ['GET', 'DELETE']) {
        const big = 'x'.repeat(BODY_MAX * 2);
        const reply = await rawExchange(base, async (write) => write(raw([`${method} /v1/runs/${id} HTTP/1.1`, 'Host: x', `Content-Length: ${big.length}`], big)), 10_000);
        assert.equal(statusOf(reply.text), 404, reply.text.slice(0, 500));
        assert.match(reply.text, /NOT_FOUND/);
      }
    });

    it('bytes uploaded (PUT /v1/files) come back byte for byte; a body that does not hash to its name is refused', async () => {
      const bytes = randomBytes(200 * 1024);
      const hash = sha256(bytes);
      const put = await fetch(`${base}/v1/files/${hash}`, { method: 'PUT', body: bytes, headers: { ...headers, 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 201, await put.text());
      const got = Buffer.from(await (await fetch(`${base}/v1/files/${hash}`, { headers })).arrayBuffer());
      assert.ok(got.equals(bytes), 'the bytes changed on the way');
      const wrong = await fetch(`${base}/v1/files/${sha256('other')}`, { method: 'PUT', body: bytes, headers });
      assert.equal(wrong.status, 400, await wrong.text());
    });

    it('the admin sign-in form is read (urlencoded and multipart)', async () => {
      const wrong = await fetch(`${base}/admin/login`, { method: 'POST', body: new URLSearchParams({ key: 'wrong' }), redirect: 'manual' });
      assert.equal(wrong.status, 401);
      const right = await fetch(`${base}/admin/login`, { method: 'POST', body: new URLSearchParams({ key: ADMIN_KEY }), redirect: 'manual' });
      assert.equal(right.status, 303, await right.text());
      assert.match(right.headers.get('set-cookie') ?? '', /cellblock_admin=/);
      const form = new FormData();
      form.set('key', ADMIN_KEY);
      const multipart = await fetch(`${base}/admin/login`, { method: 'POST', body: form, redirect: 'manual' });
      assert.equal(multipart.status, 303, await multipart.text());
    });

    it('non-JSON bodies: 400 INVALID_JSON on /v1, 400 on Judge0 and Piston; Piston without a Content-Type runs', async () => {
      const notJson = async (path: string, extra: Record<string, string>): Promise<Reply> => call(base, 'POST', path, { raw: '{"no', headers: { ...extra, 'content-type': 'application/json' } });
      assertError(await notJson('/v1/runs', headers), 400, 'INVALID_JSON');
      assert.equal((await notJson('/submissions', { 'x-auth-token': KEYS.bodies })).status, 400);
      assert.equal((await notJson('/api/v2/execute', headers)).status, 400);
      const piston = await fetch(`${base}/api/v2/execute`, {
        method: 'POST',
        body: JSON.stringify({ language: 'python', version: '*', files: [{ content: 'print(6 * 7)' }] }),
        headers: { ...headers, 'content-type': '' },
      });
      const text = await piston.text();
      assert.equal(piston.status, 200, text);
      assert.equal((JSON.parse(text) as { run: { stdout: string } }).run.stdout, '42\n');
    });
  });
});

describe('security: Redis killed under a fast-path run', () => {
  const WAIT_MS = 6_000;
  it('the request is answered at once with its id (202, running), not after its wait; with Redis back the slot is free, the job finishes once, the count is 0', async () => {
    const dir = tempDir('cb-adm2-');
    let redis = await startRedis(dir);
    const server = await startHttp('serve', ['--workers', '1'], serviceEnv({ REDIS_URL: redis.url, CELLBLOCK_DATA: join(dir, 'data'), CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_WAIT_MS: String(WAIT_MS) }));
    let inspect = new Redis({ path: redis.socket, lazyConnect: true });
    try {
      await inspect.connect();
      const answering = call(server.url, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'sleep 2; echo twice'] } });
      let held: string[] = [];
      assert.ok(await eventuallyAsync(async () => (held = await inspect.zrange(`${QUEUE}:delayed`, '0', '-1')).length > 0, 10_000, 10), 'not held');
      inspect.disconnect();
      await stop(redis.proc, 'SIGKILL');
      const started = Date.now();
      const reply = await answering;
      // the slot's result waits for Redis in the worker's connection: the
      // request is answered with the id as soon as the API's connection closes
      assert.equal(reply.status, 202, describeReply(reply));
      assert.deepEqual(reply.json, { id: held[0], status: 'running' });
      assert.ok(Date.now() - started < 2_000, `answered after ${Date.now() - started} ms (its wait: ${WAIT_MS} ms)`);

      redis = await startRedis(dir);
      inspect = new Redis({ path: redis.socket });
      assert.ok(await eventuallyAsync(async () => (await call(server.url, 'GET', '/readyz')).status === 200, 20_000, 200), 'not ready again');
      // the one slot is free: a sync run is answered in time
      const next = await call(server.url, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/sh', '-c', 'echo next'] } });
      assert.equal((next.json as RunView).result?.stdout, 'next\n', describeReply(next));
      // the held job came due and ran; the count went back to 0
      const id = held[0]!;
      assert.ok(await eventuallyAsync(async () => (await inspect.hget(`cellblock:run:${id}`, 'status')) === 'done', 40_000, 200), `not done: ${await inspect.hget(`cellblock:run:${id}`, 'status')}`);
      assert.ok(await eventuallyAsync(async () => (await inspect.zcard('cellblock:active:open')) === 0, 10_000), 'the active count leaked');
    } finally {
      inspect.disconnect();
      await stopAll();
    }
  });
});
