// Fuzzing the HTTP surface: random and mutated requests (fast-check) to every
// route of our API and of the Judge0 and Piston layers — wrong methods, odd
// paths and ids, random headers and queries, bodies valid, mutated, truncated,
// garbage or over the size limit — sent to a real `cellblock api` with a worker
// judging what gets through. Every answer is 2xx or 4xx (never 5xx), our routes'
// errors carry a stable code, the process never dies, and its memory stays
// bounded. CI sends 10,000 requests; the soak 100,000.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiErrorCode } from '../../api/errors.js';
import { stopAll } from '../service/helpers.js';
import { type Deployment, deploy, inPool, report, rssKb, size, timed } from './harness.js';

const REQUESTS = size(10_000, 100_000);
const BODY_MAX = 64 * 1024;
// growth of the API's resident memory over the run
const RSS_GROWTH_BOUND_KB = size(150 * 1024, 300 * 1024);
const SEED = Number(process.env.CELLBLOCK_FUZZ_SEED ?? Date.now() % 2 ** 31);

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

// A value of the right shape most of the time, anything now and then.
const loose = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 5, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.anything() });
const someKeys = <T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) => fc.record(fields, { requiredKeys: [] });

const oddText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '..', '%00', '%2e%2e%2f', '../../etc/passwd', 'null', '[]', '{}', 'a'.repeat(300), '\u0000', 'ЖЖЖ'),
);
const idLike = fc.oneof(oddText, fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/), fc.stringMatching(/^[0-9a-f]{64}$/));
const smallInt = fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.constantFrom(0, -1, 1e12, 2 ** 53, Number.NaN, 0.5));

// Bodies that pass validation, or nearly: these reach the queue and the worker.
const pythonSource = fc.oneof(fc.constant('print(sum(map(int, input().split())))\n'), fc.string({ maxLength: 60 }));
const testCase = someKeys({ name: loose(fc.stringMatching(/^[a-z0-9]{1,8}$/)), stdin: loose(fc.string({ maxLength: 20 })), expected: loose(fc.string({ maxLength: 20 })) });
const ourSubmission = someKeys({
  language: loose(fc.constantFrom('python3', 'bash', 'python3', 'nope', 'cpp')),
  source: loose(pythonSource),
  tests: loose(fc.array(testCase, { minLength: 0, maxLength: 3 })),
  testSet: loose(fc.stringMatching(/^[0-9a-f]{64}$/)),
  limits: loose(someKeys({ timeMs: loose(smallInt), wallMs: loose(smallInt), memoryKb: loose(smallInt), outputKb: loose(smallInt), pids: loose(smallInt) })),
  checker: loose(fc.oneof(fc.constant({ kind: 'tokens' }), fc.constant({ kind: 'float', absolute: -1 }), fc.record({ kind: fc.constant('program'), program: fc.record({ executable: fc.constant('/bin/true') }) }))),
  stopOnFirstFailure: loose(fc.boolean()),
  priority: loose(smallInt),
  callbackUrl: loose(fc.constantFrom('http://127.0.0.1:9/x', 'ftp://x', 'not a url', 'file:///etc/passwd')),
  groups: loose(fc.array(someKeys({ name: oddText, tests: fc.array(oddText, { maxLength: 2 }), points: smallInt }), { maxLength: 2 })),
});
const judge0Submission = someKeys({
  source_code: loose(pythonSource),
  language_id: loose(fc.constantFrom(71, 46, 54, 0, -1, 9_999)),
  stdin: loose(fc.string({ maxLength: 20 })),
  expected_output: loose(fc.string({ maxLength: 20 })),
  cpu_time_limit: loose(smallInt),
  wall_time_limit: loose(smallInt),
  memory_limit: loose(smallInt),
  enable_network: loose(fc.boolean()),
  callback_url: loose(oddText),
  number_of_runs: loose(smallInt),
});
const pistonRequest = someKeys({
  language: loose(fc.constantFrom('python', 'py', 'bash', 'cobol', 'c++')),
  version: loose(fc.constantFrom('*', '3', '3.11', 'x', '99')),
  files: loose(fc.array(someKeys({ name: loose(oddText), content: loose(pythonSource), encoding: loose(fc.constantFrom('utf8', 'base64', 'hex', 'rot13')) }), { maxLength: 2 })),
  stdin: loose(fc.string({ maxLength: 20 })),
  args: loose(fc.array(oddText, { maxLength: 3 })),
  run_timeout: loose(smallInt),
  run_memory_limit: loose(smallInt),
  compile_timeout: loose(smallInt),
});

interface Route {
  methods: string[];
  path: fc.Arbitrary<string>;
  body?: fc.Arbitrary<unknown>;
}

const withId = (template: (id: string) => string) => idLike.map((id) => template(encodeURIComponent(id)));
const ROUTES: Route[] = [
  { methods: ['POST'], path: fc.constantFrom('/v1/submissions', '/v1/submissions?wait=true', '/v1/submissions?wait=maybe'), body: ourSubmission },
  { methods: ['POST'], path: fc.constant('/v1/submissions/batch'), body: someKeys({ submissions: loose(fc.array(ourSubmission, { maxLength: 4 })) }) },
  { methods: ['GET', 'DELETE'], path: withId((id) => `/v1/submissions/${id}`) },
  { methods: ['GET'], path: withId((id) => `/v1/submissions/${id}/events`) },
  { methods: ['GET'], path: fc.constantFrom('/v1/languages', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs') },
  { methods: ['POST'], path: fc.constant('/v1/testsets'), body: someKeys({ tests: loose(fc.array(testCase, { maxLength: 3 })) }) },
  { methods: ['POST'], path: fc.constantFrom('/submissions', '/submissions?base64_encoded=true', '/submissions?wait=true&fields=*', '/submissions?fields=stdout,nope'), body: judge0Submission },
  { methods: ['POST'], path: fc.constantFrom('/submissions/batch', '/submissions/batch?base64_encoded=true'), body: someKeys({ submissions: loose(fc.array(judge0Submission, { maxLength: 4 })) }) },
  { methods: ['GET'], path: fc.array(idLike, { maxLength: 4 }).map((ids) => `/submissions/batch?tokens=${ids.map(encodeURIComponent).join(',')}`) },
  { methods: ['GET', 'DELETE'], path: withId((id) => `/submissions/${id}?base64_encoded=true&fields=status,stdout`) },
  { methods: ['GET'], path: fc.oneof(fc.constantFrom('/languages', '/languages/all', '/statuses', '/about', '/version', '/config_info', '/workers'), withId((id) => `/languages/${id}`)) },
  { methods: ['GET'], path: fc.constant('/api/v2/runtimes') },
  { methods: ['POST'], path: fc.constant('/api/v2/execute'), body: pistonRequest },
];

const rarely = (value: fc.Arbitrary<string>) => fc.oneof({ weight: 9, arbitrary: fc.constant('') }, { weight: 1, arbitrary: value });
const ASCII_HEADER = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);
const headers = someKeys({
  'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', ''),
  // now and then: a key in open mode is checked, and an unknown one is refused
  authorization: rarely(fc.oneof(ASCII_HEADER, fc.constant('Bearer nope'))),
  'x-api-key': rarely(ASCII_HEADER),
  'idempotency-key': fc.oneof(ASCII_HEADER, fc.constant('k'.repeat(200))),
  accept: fc.constantFrom('*/*', 'text/event-stream', 'application/xml'),
}).map((given) => Object.fromEntries(Object.entries(given).filter(([, value]) => value !== '')) as Record<string, string>);

// The body as sent: JSON of the value, truncated JSON, garbage, deep nesting, or over the limit.
const encoded = (value: fc.Arbitrary<unknown>): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 12, arbitrary: value.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: fc.tuple(value, fc.nat()).map(([v, cut]) => { const text = JSON.stringify(v) ?? ''; return text.slice(0, cut % (text.length + 1)); }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 5_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)) },
    { weight: 1, arbitrary: fc.constant(`{"source":"${'x'.repeat(BODY_MAX)}"}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const routeRequest = (route: Route): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...route.methods) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') }),
    path: route.path,
    headers,
    body: encoded(route.body ?? fc.jsonValue()),
  });

const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
  ...ROUTES.map((route) => ({ weight: 4, arbitrary: routeRequest(route) })),
  { weight: 2, arbitrary: fc.record({ method: fc.constantFrom('GET', 'POST', 'DELETE'), path: fc.webPath(), headers, body: encoded(fc.jsonValue()) }) },
);

// Our routes' errors carry one of the stable codes; the compat layers answer in
// their own shapes (Judge0's {field: [...]}, Piston's {message}).
const ours = (path: string) => path.startsWith('/v1/') || ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'].includes(path.split('?')[0] ?? '');

interface Answer {
  status: number;
  text: string;
}

async function send(base: string, req: FuzzRequest): Promise<Answer> {
  const hasBody = req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD';
  const response = await fetch(`${base}${req.path.startsWith('/') ? '' : '/'}${req.path}`, {
    method: req.method,
    headers: req.headers,
    ...(hasBody ? { body: req.body } : {}),
    signal: AbortSignal.timeout(120_000),
  });
  // an event stream stays open while its submission runs: the headers are the answer
  if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, text: '' };
  }
  return { status: response.status, text: await response.text() };
}


describe('reliability: fuzzing the HTTP surface', () => {
  let deployment: Deployment;

  before(async () => {
    deployment = await deploy({ CELLBLOCK_BODY_MAX_BYTES: String(BODY_MAX), CELLBLOCK_WAIT_MS: '100', CELLBLOCK_BATCH_MAX: '3' });
    await deployment.startWorker('fuzz-worker', 2);
  });

  after(async () => {
    await stopAll();
  });

  it(`${REQUESTS} random and mutated requests: 2xx or 4xx with stable codes, no crash, memory bounded`, async () => {
    const base = deployment.api.url;
    const api = deployment.api;
    const requests = fc.sample(request, { numRuns: REQUESTS, seed: SEED });
    // warm the process up before the first memory reading
    await inPool(requests.slice(0, 200), 8, (req) => send(base, req));
    const rssBefore = rssKb(api.pid);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const latencies: number[] = [];
    await inPool(requests, 16, async (req) => {
      let answer: Answer;
      try {
        answer = await timed(() => send(base, req), latencies);
      } catch (error) {
        failures.push(`${req.method} ${req.path}: ${String(error)} (no answer)`);
        return;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const describe = () => `${req.method} ${req.path} ${JSON.stringify(req.headers)} ${String(req.body).slice(0, 300)} → ${answer.status} ${answer.text.slice(0, 300)}`;
      if (answer.status >= 500 || answer.status < 200) failures.push(describe());
      else if (answer.status >= 400 && ours(req.path) && req.method !== 'HEAD') {
        let code: unknown;
        try {
          code = (JSON.parse(answer.text) as { error?: { code?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        if (!ApiErrorCode.safeParse(code).success) failures.push(`no stable code: ${describe()}`);
      }
    });
    const rssAfter = rssKb(api.pid);
    const running = (proc: { child: { exitCode: number | null; signalCode: string | null } }) => proc.child.exitCode === null && proc.child.signalCode === null;
    const alive = running(api);
    const workerAlive = deployment.workers.every(running);
    report('fuzz', {
      submitted: REQUESTS,
      completed: [...statuses.values()].reduce((a, b) => a + b, 0),
      failures: failures.length,
      seed: SEED,
      statuses: JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b))),
      rssBeforeKb: rssBefore,
      rssAfterKb: rssAfter,
      latencies,
    });
    assert.ok(alive, `the api died: ${api.stderr().slice(-2_000)}`);
    assert.ok(workerAlive, 'the worker died judging what the fuzz got through');
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} bad answers (seed ${SEED}; CELLBLOCK_FUZZ_SEED replays)`);
    assert.ok(rssAfter - rssBefore < RSS_GROWTH_BOUND_KB, `the api grew from ${rssBefore} to ${rssAfter} kB`);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});
