// Tenants: API keys from a config file (CELLBLOCK_CONFIG, stored as SHA-256),
// open mode off. A tenant never sees another's submissions; a wrong or missing
// key is 401; each key has its rate, its cap on active submissions and its limit
// ceilings.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiKey } from '../../config/schema.js';
import { uniqueToken } from '../helpers/fixtures.js';
import {
  aplusb,
  aplusbTests,
  asView,
  assertError,
  call,
  describeReply,
  isFinal,
  type Reply,
  type Service,
  serviceEnv,
  sleeper,
  slowAplusb,
  startHttp,
  stopAll,
  submit,
  tempDir,
  waitForView,
  writeConfig,
} from './helpers.js';

const KEYS = {
  alice: uniqueToken('key-alice'),
  bob: uniqueToken('key-bob'),
  limited: uniqueToken('key-limited'),
  small: uniqueToken('key-small'),
};
const LIMITED_RATE = 4;
const SMALL_CEILINGS = { timeMs: 2_000, memoryKb: 65_536, tests: 2 };
const GLOBAL_WALL_CEILING = 3_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('service tenants (API keys, open mode off)', () => {
  let base: string;
  let server: Service;

  before(async () => {
    const dir = tempDir();
    const config = writeConfig(dir, {
      apiKeys: [
        { name: 'alice', sha256: sha256(KEYS.alice) },
        { name: 'bob', sha256: sha256(KEYS.bob) },
        { name: 'limited', sha256: sha256(KEYS.limited), ratePerMinute: LIMITED_RATE },
        { name: 'small', sha256: sha256(KEYS.small), maxActive: 1, ceilings: SMALL_CEILINGS, runCeilings: { wallMs: 2_000 } },
      ],
      ceilings: { wallMs: GLOBAL_WALL_CEILING },
    });
    server = await startHttp(
      'serve',
      ['--data', join(dir, 'data'), '--workers', '2'],
      serviceEnv({ CELLBLOCK_CONFIG: config, CELLBLOCK_OPEN_MODE: 'false', CELLBLOCK_SHUTDOWN_GRACE_MS: '1000' }),
    );
    base = server.url;
  });

  after(stopAll);

  it('no key, or a key nobody has, is 401 UNAUTHORIZED on every /v1 route that takes one', async () => {
    const id = 'A'.repeat(24);
    const wrong = uniqueToken('key-wrong');
    const attempts: Record<string, string>[] = [{}, bearer(wrong), { 'x-api-key': wrong }, { authorization: `Bearer ${KEYS.alice}x` }];
    for (const headers of attempts) {
      assertError(await call(base, 'POST', '/v1/submissions', { body: aplusb(), headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'POST', '/v1/submissions/batch', { body: { submissions: [aplusb()] }, headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'GET', `/v1/submissions/${id}`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'DELETE', `/v1/submissions/${id}`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'GET', `/v1/submissions/${id}/events`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'POST', '/v1/testsets', { body: { tests: aplusbTests(1) }, headers }), 401, 'UNAUTHORIZED');
    }
    // the ops routes need no key
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);
  });

  it("a tenant never sees another's submissions (404), and cannot cancel them", async () => {
    const id = await submit(base, aplusb(aplusbTests(2)), bearer(KEYS.alice));
    for (const headers of [bearer(KEYS.bob), bearer(KEYS.small)]) {
      assertError(await call(base, 'GET', `/v1/submissions/${id}`, { headers }), 404, 'NOT_FOUND');
      assertError(await call(base, 'DELETE', `/v1/submissions/${id}`, { headers }), 404, 'NOT_FOUND');
      assertError(await call(base, 'GET', `/v1/submissions/${id}/events`, { headers }), 404, 'NOT_FOUND');
    }
    // the owner, by either header, sees it judged: bob's DELETE did nothing
    const view = await waitForView(base, id, isFinal, 20_000, { 'x-api-key': KEYS.alice });
    assert.equal(view.status, 'done');
    assert.equal(view.verdict, 'AC');
    // one Idempotency-Key, two tenants: two submissions
    const key = uniqueToken('idem');
    const aliceId = await submit(base, aplusb(), { ...bearer(KEYS.alice), 'idempotency-key': key });
    const bobId = await submit(base, aplusb(), { ...bearer(KEYS.bob), 'idempotency-key': key });
    assert.notEqual(aliceId, bobId);
    assertError(await call(base, 'GET', `/v1/submissions/${aliceId}`, { headers: bearer(KEYS.bob) }), 404, 'NOT_FOUND');
    assert.equal((await waitForView(base, bobId, isFinal, 20_000, bearer(KEYS.bob))).verdict, 'AC');
  });

  it(`a key over its rate (${LIMITED_RATE}/minute) gets 429 RATE_LIMITED with Retry-After; others do not`, async () => {
    // a fixed one-minute window: start well inside one
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 52_000) await delay(60_000 - intoMinute + 200);
    const headers = bearer(KEYS.limited);
    const unknown = `/v1/submissions/${'B'.repeat(24)}`;
    for (let i = 0; i < LIMITED_RATE; i++) assertError(await call(base, 'GET', unknown, { headers }), 404, 'NOT_FOUND');
    const limited = await call(base, 'GET', unknown, { headers });
    assertError(limited, 429, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${limited.headers.get('retry-after')}`);
    assertError(await call(base, 'POST', '/v1/submissions', { body: aplusb(), headers }), 429, 'RATE_LIMITED');
    // the limit is the key's alone
    assertError(await call(base, 'GET', unknown, { headers: bearer(KEYS.alice) }), 404, 'NOT_FOUND');
  });

  describe('ceilings', () => {
    // BUG: wallMs, when not given, is derived by the judge (test-run.ts:
    // max(3·timeMs, timeMs + 2000)) after checkCeilings looked only at the stated
    // value: timeMs 2000 runs with a 6000 ms wall limit under a 3000 ms ceiling.
    it('a wall limit derived from timeMs stays under the wallMs ceiling', async () => {
      const alice = bearer(KEYS.alice);
      const body = { ...slowAplusb(4.5, 1), limits: { timeMs: 2_000 } };
      const reply = await call(base, 'POST', '/v1/submissions?wait=true', { body, headers: alice });
      if (reply.status === 422) {
        assertError(reply, 422, 'LIMIT_ABOVE_CEILING');
        return;
      }
      const view = reply.status === 200 ? asView(reply) : await waitForView(base, asView(reply).id, isFinal, 20_000, alice);
      const wallMs = view.tests?.[0]?.wallMs ?? 0;
      assert.equal(view.verdict, 'TLE', `ran ${Math.round(wallMs)} ms of wall time under a ${GLOBAL_WALL_CEILING} ms ceiling: ${JSON.stringify(view.tests)}`);
      assert.ok(wallMs <= GLOBAL_WALL_CEILING + 500, `ran ${wallMs} ms`);
    });

    const small = bearer(KEYS.small);
    const within = { ...aplusb(aplusbTests(2)), limits: { timeMs: SMALL_CEILINGS.timeMs, memoryKb: SMALL_CEILINGS.memoryKb, wallMs: GLOBAL_WALL_CEILING } };

    // A refusal expected: anything accepted by mistake is cancelled at once, so
    // that it does not hold the key's one active place for the next test.
    async function refused(body: unknown, headers: Record<string, string>): Promise<Reply> {
      const reply = await call(base, 'POST', '/v1/submissions', { body, headers });
      if (reply.status === 202) await call(base, 'DELETE', `/v1/submissions/${asView(reply).id}`, { headers });
      return reply;
    }

    it("a limit above the key's ceiling is 422 LIMIT_ABOVE_CEILING (alone and in a batch)", async () => {
      const over: [string, unknown][] = [
        ['limits.timeMs', { ...within, limits: { ...within.limits, timeMs: SMALL_CEILINGS.timeMs + 1 } }],
        ['limits.memoryKb', { ...within, limits: { ...within.limits, memoryKb: SMALL_CEILINGS.memoryKb * 2 } }],
        ['tests', { ...within, tests: aplusbTests(SMALL_CEILINGS.tests + 1) }],
      ];
      for (const [name, body] of over) {
        const reply = await refused(body, small);
        assertError(reply, 422, 'LIMIT_ABOVE_CEILING');
        assert.match(reply.text, new RegExp(name.replace('.', '\\.')), describeReply(reply));
      }
      const batch = await call(base, 'POST', '/v1/submissions/batch', { body: { submissions: over.map(([, body]) => body) }, headers: small });
      assert.equal(batch.status, 202, describeReply(batch));
      const codes = (batch.json as { submissions: { id?: string; error?: { code: string } }[] }).submissions.map((entry) => entry.error?.code);
      assert.deepEqual(codes, ['LIMIT_ABOVE_CEILING', 'LIMIT_ABOVE_CEILING', 'LIMIT_ABOVE_CEILING'], describeReply(batch));
      // at the ceilings exactly: accepted and judged
      const id = await submit(base, within, small);
      assert.equal((await waitForView(base, id, isFinal, 20_000, small)).verdict, 'AC');
    });

    it("a key without ceilings of its own has the config's: its wallMs is capped, its timeMs not the other key's", async () => {
      const alice = bearer(KEYS.alice);
      assertError(await refused({ ...within, limits: { wallMs: GLOBAL_WALL_CEILING + 1 } }, alice), 422, 'LIMIT_ABOVE_CEILING');
      const id = await submit(base, { ...within, limits: { timeMs: SMALL_CEILINGS.timeMs + 1_000, wallMs: GLOBAL_WALL_CEILING } }, alice);
      assert.equal((await waitForView(base, id, isFinal, 20_000, alice)).verdict, 'AC');
    });

    // BUG: ApiKey.ceilings is Ceilings.partial().default({}); zod 4's partial()
    // keeps the field defaults, so a key that sets one ceiling gets the schema's
    // defaults for the others (wallMs 30000, memoryKb 1 GiB, tests 1000), which
    // then override the config's ceilings in tenantOf().
    it("a key that sets some ceilings keeps the config's for the others", async () => {
      assertError(await refused({ ...within, limits: { ...within.limits, wallMs: GLOBAL_WALL_CEILING + 1 } }, small), 422, 'LIMIT_ABOVE_CEILING');
    });

    it('a key at its cap of active submissions (1) gets 429 TOO_MANY_ACTIVE until one ends', async () => {
      const running = await submit(base, { ...sleeper(2), limits: within.limits }, small);
      assertError(await call(base, 'POST', '/v1/submissions', { body: within, headers: small }), 429, 'TOO_MANY_ACTIVE');
      const cancelled = await call(base, 'DELETE', `/v1/submissions/${running}`, { headers: small });
      assert.equal(asView(cancelled).status, 'cancelled', describeReply(cancelled));
      // cancelling freed the place; judging frees it again
      const next = await submit(base, within, small);
      assertError(await call(base, 'POST', '/v1/submissions', { body: within, headers: small }), 429, 'TOO_MANY_ACTIVE');
      assert.equal((await waitForView(base, next, isFinal, 20_000, small)).verdict, 'AC');
      const last = await submit(base, within, small);
      assert.equal((await waitForView(base, last, isFinal, 20_000, small)).verdict, 'AC');
    });

    // The cap is checked where the record is written, in one step: requests
    // that arrive together cannot all see the last place free.
    it('concurrent submissions and runs at a cap of 1: exactly one is admitted, the others get 429 TOO_MANY_ACTIVE', async () => {
      const posts = Array.from({ length: 8 }, (_, i) =>
        i % 2 === 0
          ? call(base, 'POST', '/v1/submissions', { body: { ...sleeper(2), limits: within.limits }, headers: small })
          : call(base, 'POST', '/v1/runs', { body: { argv: ['/bin/sleep', '2'], limits: { wallMs: 2_000 } }, headers: small }),
      );
      const replies = await Promise.all(posts);
      const admitted = replies.filter((reply) => reply.status === 202);
      assert.equal(admitted.length, 1, replies.map(describeReply).join('\n'));
      for (const reply of replies) if (reply.status !== 202) assertError(reply, 429, 'TOO_MANY_ACTIVE');
      const { id } = admitted[0]!.json as { id: string };
      const path = replies.indexOf(admitted[0]!) % 2 === 0 ? 'submissions' : 'runs';
      assert.equal(asView(await call(base, 'DELETE', `/v1/${path}/${id}`, { headers: small })).status, 'cancelled');
    });

    // BUG: checkCeilings counts request.tests only; a stored test set of any size
    // passes the tests ceiling.
    it('the tests ceiling holds for a stored test set too', async () => {
      const stored = await call(base, 'POST', '/v1/testsets', { body: { tests: aplusbTests(SMALL_CEILINGS.tests + 1) }, headers: small });
      assert.equal(stored.status, 201, describeReply(stored));
      const { testSet } = stored.json as { testSet: string };
      assertError(await refused({ language: 'python3', source: aplusb().source, testSet, limits: within.limits }, small), 422, 'LIMIT_ABOVE_CEILING');
    });

    // The engine's default limits count: memoryKb defaults to 262144, above this
    // key's ceiling, so a submission stating no limits is refused (or, were the
    // default clamped instead, limited).
    it("a submission that states no limits is held to the key's ceilings", async () => {
      const hungry = {
        language: 'python3',
        source: 'x = bytearray(160 * 1024 * 1024)\nprint(len(x) // (1024 * 1024))\n',
        tests: [{ name: 'hungry', stdin: '', expected: '160\n' }],
      };
      const reply = await call(base, 'POST', '/v1/submissions?wait=true', { body: hungry, headers: small });
      if (reply.status === 422) {
        assertError(reply, 422, 'LIMIT_ABOVE_CEILING');
        return;
      }
      const view = reply.status === 200 ? asView(reply) : await waitForView(base, asView(reply).id, isFinal, 20_000, small);
      assert.notEqual(view.verdict, 'AC', `160 MiB allocated under a ${SMALL_CEILINGS.memoryKb} KiB ceiling: ${JSON.stringify(view.tests)}`);
    });
  });

  it("runs: a key is needed, a tenant never sees another's, and a key's run ceilings hold", async () => {
    const id = 'A'.repeat(24);
    const hash = sha256('x');
    for (const headers of [{}, bearer(uniqueToken('key-wrong'))]) {
      assertError(await call(base, 'POST', '/v1/runs', { body: { argv: ['/bin/true'] }, headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'GET', `/v1/runs/${id}`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'DELETE', `/v1/runs/${id}`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'GET', `/v1/runs/${id}/events`, { headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'PUT', `/v1/files/${hash}`, { raw: 'x', headers }), 401, 'UNAUTHORIZED');
      assertError(await call(base, 'GET', `/v1/files/${hash}`, { headers }), 401, 'UNAUTHORIZED');
    }
    const accepted = await call(base, 'POST', '/v1/runs?wait=true', { body: { argv: ['/bin/echo', 'alice'], limits: { wallMs: 3_000 } }, headers: bearer(KEYS.alice) });
    assert.equal(accepted.status, 200, describeReply(accepted));
    const run = accepted.json as { id: string; result: { stdout: string } };
    assert.equal(run.result.stdout, 'alice\n');
    assertError(await call(base, 'GET', `/v1/runs/${run.id}`, { headers: bearer(KEYS.bob) }), 404, 'NOT_FOUND');
    assertError(await call(base, 'DELETE', `/v1/runs/${run.id}`, { headers: bearer(KEYS.bob) }), 404, 'NOT_FOUND');
    assertError(await call(base, 'GET', `/v1/submissions/${run.id}`, { headers: bearer(KEYS.alice) }), 404, 'NOT_FOUND');
    assertError(await call(base, 'POST', '/v1/runs', { body: { argv: ['/bin/true'], limits: { wallMs: 3_000 } }, headers: bearer(KEYS.small) }), 422, 'LIMIT_ABOVE_CEILING');
  });
});

describe('tenants: names', () => {
  it('a key may not be named "open": it would share the tenant (rate, cap, submissions) of requests without a key', () => {
    const sha256 = createHash('sha256').update('k').digest('hex');
    assert.equal(ApiKey.safeParse({ name: 'opener', sha256 }).success, true);
    assert.equal(ApiKey.safeParse({ name: 'open', sha256 }).success, false);
  });
});
