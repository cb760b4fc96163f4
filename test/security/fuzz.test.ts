// Fuzzing the two ways in: thousands of random run specs (random argv, env,
// limits including absurd values, paths with "..", NUL bytes, unicode, huge
// strings, wrong types) must each give a result or a SandboxError with a code
// of ErrorCode — never another exception, a crash of the process, a hang or a
// leak; random argument lists for `cellblock run` must parse or be refused with
// a message, and a few hundred real CLI invocations must exit 0, 1 or 2 with a
// message, never a stack trace. Programs that actually launch are small (true,
// echo, env) so thousands finish fast.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { specFromArgs } from '../../cli/run.js';
import { ErrorCode, SandboxError } from '../../sandbox/errors.js';
import { parseSpec, run } from '../../sandbox/run.js';
import { RunResult, type RunSpec } from '../../sandbox/schema.js';
import { startCli } from '../helpers/cli.js';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import { OWNER_ENV } from '../helpers/host.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, baseline } from './helpers.js';

const CODES: readonly string[] = ErrorCode.options;
const HANG_MS = 20_000;

async function withinTime<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle in ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const describeSpec = (spec: unknown): string => {
  try {
    return JSON.stringify(spec, (_, value: unknown) => (value instanceof Uint8Array ? `<${value.length} bytes>` : value))?.slice(0, 2_000) ?? String(spec);
  } catch {
    return String(spec);
  }
};

// One spec through run(): its outcome ("ok", "error:INVALID_SPEC" ...), after
// checking that it is one of the two allowed shapes.
async function outcomeOf(spec: unknown): Promise<string> {
  let result: RunResult;
  try {
    result = await withinTime(run(spec as RunSpec), describeSpec(spec));
  } catch (error) {
    assert.ok(error instanceof SandboxError, `not a SandboxError: ${error instanceof Error ? error.stack : String(error)}\nspec: ${describeSpec(spec)}`);
    assert.ok(CODES.includes(error.code), `unknown code ${error.code}`);
    assert.ok(error.message.length > 0, `no message for ${error.code}`);
    return `error:${error.code}`;
  }
  const parsed = RunResult.safeParse(result);
  assert.ok(parsed.success, `the result breaks its own schema: ${describeSpec(result)}`);
  if (result.status === 'internal_error') {
    assert.ok(result.error !== undefined, `internal_error without an error: ${describeSpec(result)}\nspec: ${describeSpec(spec)}`);
    assert.ok(CODES.includes(result.error.code), `unknown code ${result.error.code}`);
    return `internal_error:${result.error.code}`;
  }
  return result.status;
}

// -- Arbitraries --------------------------------------------------------------

const odd = fc.constantFrom('', '\0', 'a\0b', '..', '../..', '/', '//', '.', './x', 'é', '\u{1F600}', '\uD800', ' ', '\n', '$(id)', '`id`', '%s%n', '-', '--');
const anyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: odd },
  { weight: 1, arbitrary: fc.string({ minLength: 256, maxLength: 4_096, unit: 'binary-ascii' }) },
);
const garbage = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.double(), fc.boolean(), fc.constant([]), fc.constant({}), anyString);

const PROGRAMS = ['/bin/true', '/bin/false', '/bin/echo', 'echo', 'true', '/usr/bin/env', 'printf', '/usr/bin/head'];
const argvArb = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...PROGRAMS), fc.array(anyString, { maxLength: 6 })).map(([program, args]) => [program, ...args]) },
  { weight: 1, arbitrary: fc.array(anyString, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], [''], ['a\0b'], ['/no/such/program'], ['/etc/passwd'], ['/box'], ['.'], ['/'], '/bin/true', null, [1]) },
);

const limitValue = (min: number, max: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min, max }) },
    { weight: 3, arbitrary: fc.constantFrom(min - 1, max + 1, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE, 2 ** 53, 1e300) },
    { weight: 1, arbitrary: garbage },
  );

// Valid ranges kept small where a real run would take long (wall time, output).
const limitsArb = fc.record(
  {
    cpuMs: limitValue(1, 2_000),
    wallMs: limitValue(1, 2_000),
    memoryKb: limitValue(4_096, 64 * 1024 * 1024),
    pids: limitValue(1, 4_096),
    outputKb: limitValue(1, 1_024),
    fileSizeKb: limitValue(1, 16 * 1024 * 1024),
    openFiles: limitValue(8, 20_000),
    stackKb: limitValue(64, 16 * 1024 * 1024),
    diskKb: limitValue(64, 1024 * 1024),
    inodes: limitValue(16, 1_000_000),
  },
  { requiredKeys: [] },
);

const envArb = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(fc.oneof(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,12}$/), anyString), anyString, { maxKeys: 5 }) },
  { weight: 1, arbitrary: garbage },
);

describe('security: fuzzing run specs and the CLI', () => {
  let fixtures: string;
  let dataFile: string;
  let start: Snapshot;
  const seen = new Map<string, number>();

  const hostPaths = (): string[] => [dataFile, fixtures, '/usr/share', '/nonexistent/path', 'relative/path', '/usr/../etc', '/a\0b', '/proc', '/dev/null', '/', `${fixtures}/../..`, `/${'x'.repeat(300)}`];
  const workPaths = ['out', 'dir/out', 'a/b/c', '../x', 'a/../../x', '/abs', 'a\0b', 'x'.repeat(255), 'x'.repeat(256), 'é\u{1F600}', '.', 'a//b', ' ', 'dir'];

  const fileArb = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ path: fc.oneof(fc.constantFrom(...workPaths), anyString), content: fc.oneof(anyString, fc.uint8Array({ maxLength: 64 })), mode: fc.oneof(fc.integer({ min: 0, max: 0o777 }), garbage) }, { requiredKeys: ['path', 'content'] }) },
      { weight: 2, arbitrary: fc.record({ path: fc.constantFrom(...workPaths), source: fc.constantFrom(...hostPaths()) }) },
      { weight: 1, arbitrary: garbage },
    );

  const stdinArb = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.record({ text: anyString }),
      fc.record({ bytes: fc.uint8Array({ maxLength: 256 }) }),
      fc.record({ file: fc.constantFrom(...hostPaths()) }),
      // only fds that are surely closed (or out of range): never one of Node's
      fc.record({ fd: fc.constantFrom(999_999, 1 << 20, -1, 2 ** 21, 1.5) }),
      garbage,
    );

  // A spec that passes validation: programs from a short list with odd (but
  // NUL-free) arguments, limits in range, existing host paths, work dir paths
  // without "..".
  const clean = (arb: fc.Arbitrary<string>): fc.Arbitrary<string> => arb.filter((text) => !text.includes('\0'));
  const validSpecArb = (): fc.Arbitrary<Record<string, unknown>> =>
    fc.record(
      {
        argv: fc.tuple(fc.constantFrom(...PROGRAMS), fc.array(clean(anyString).filter((a) => a !== ''), { maxLength: 6 })).map(([program, args]) => [program, ...args]),
        env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,12}$/), clean(anyString), { maxKeys: 4 }),
        limits: fc.record(
          {
            cpuMs: fc.integer({ min: 1, max: 2_000 }),
            wallMs: fc.integer({ min: 1, max: 2_000 }),
            memoryKb: fc.integer({ min: 4_096, max: 64 * 1024 * 1024 }),
            pids: fc.integer({ min: 1, max: 4_096 }),
            outputKb: fc.integer({ min: 1, max: 1_024 }),
            fileSizeKb: fc.integer({ min: 1, max: 16 * 1024 * 1024 }),
            openFiles: fc.integer({ min: 8, max: 20_000 }),
            stackKb: fc.integer({ min: 64, max: 16 * 1024 * 1024 }),
            diskKb: fc.integer({ min: 64, max: 1024 * 1024 }),
            inodes: fc.integer({ min: 16, max: 1_000_000 }),
          },
          { requiredKeys: [] },
        ),
        readOnly: fc.uniqueArray(fc.constantFrom(fixtures, dataFile, '/usr/share', '/proc', '/dev'), { maxLength: 2 }),
        files: fc.uniqueArray(
          fc.oneof(
            fc.record({ path: fc.constantFrom('in.txt', 'dir/in', 'a/b/c', 'é\u{1F600}', 'x'.repeat(200)), content: fc.oneof(clean(anyString), fc.uint8Array({ maxLength: 64 })), mode: fc.integer({ min: 0, max: 0o777 }) }),
            fc.record({ path: fc.constantFrom('copy', 'd/copy'), source: fc.constantFrom(dataFile, '/usr/bin/true', fixtures) }),
          ),
          { maxLength: 3, selector: (file) => file.path },
        ),
        stdin: fc.oneof(fc.record({ text: anyString }), fc.record({ bytes: fc.uint8Array({ maxLength: 256 }) }), fc.record({ file: fc.constantFrom(dataFile, fixtures, '/dev/null') })),
        collect: fc.array(fc.constantFrom('out', 'in.txt', 'dir', 'copy', 'a/b/c', 'none'), { maxLength: 3 }),
        truncateOutput: fc.boolean(),
        cpus: fc.constantFrom('0', '1', '0-1', '0,1', '0', '1', '1-0', '99'),
        seccomp: fc.record({ policy: fc.constantFrom('default', 'default', 'default', 'nope'), allow: fc.array(fc.constantFrom('getpid', 'not_a_syscall'), { maxLength: 1 }) }, { requiredKeys: [] }),
      },
      { requiredKeys: ['argv'] },
    );

  // Values a caller should never send: one of them replaces a field of a valid spec.
  const badValue = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      garbage,
      argvArb,
      envArb,
      limitsArb,
      fc.array(fc.oneof(fc.constantFrom(...hostPaths()), anyString), { maxLength: 3 }),
      fc.array(fileArb(), { maxLength: 3 }),
      stdinArb(),
      fc.array(fc.oneof(fc.constantFrom(...workPaths), anyString), { maxLength: 3 }),
      fc.constantFrom(999_999, -1, 'x', '0-', 'all'),
    );
  const FIELDS = ['argv', 'env', 'limits', 'readOnly', 'files', 'stdin', 'stdoutFd', 'collect', 'truncateOutput', 'cpus', 'seccomp', 'unknownField'];

  const specArb = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: 5, arbitrary: validSpecArb() },
      {
        weight: 4,
        arbitrary: fc
          .tuple(validSpecArb(), fc.array(fc.tuple(fc.constantFrom(...FIELDS), badValue()), { minLength: 1, maxLength: 2 }))
          .map(([spec, mutations]) => ({ ...spec, ...Object.fromEntries(mutations) })),
      },
      { weight: 1, arbitrary: garbage },
    );

  before(async () => {
    fixtures = makeFixtureDir();
    dataFile = join(fixtures, 'data.txt');
    writeFileSync(dataFile, 'data\n', { mode: 0o644 });
    mkdirSync(join(fixtures, 'dir'), { mode: 0o755 });
    start = await baseline(4);
  });

  after(() => removeFixtureDir(fixtures));

  it('3000 random run specs, one at a time: a result or a SandboxError, every time', async () => {
    await fc.assert(
      fc.asyncProperty(specArb(), async (spec) => {
        const outcome = await outcomeOf(spec);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      }),
      { numRuns: 3_000, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    // The fuzz must reach the sandbox, not only the schema: runs really launched,
    // and the refusals came with their codes.
    const launched = [...seen].filter(([outcome]) => !outcome.startsWith('error:')).reduce((sum, [, n]) => sum + n, 0);
    assert.ok(launched >= 600, `only ${launched} of 3000 specs got past validation: ${JSON.stringify([...seen])}`);
    assert.ok((seen.get('error:INVALID_SPEC') ?? 0) >= 200, `few refusals: ${JSON.stringify([...seen])}`);
  });

  it('400 random run specs, 4 at a time: the same', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(specArb(), { minLength: 4, maxLength: 4 }), async (specs) => {
        for (const outcome of await Promise.all(specs.map(outcomeOf))) seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      }),
      { numRuns: 100, verbose: 1 },
    );
  });

  // A NUL cannot be passed to execve: argv refuses it with INVALID_SPEC; an
  // environment value must not be silently cut at it instead.
  it('a NUL byte in an environment value is refused like one in argv, not silently truncated', async () => {
    await assert.rejects(run({ argv: ['/bin/echo', 'a\0b'] }), (error: unknown) => error instanceof SandboxError && error.code === 'INVALID_SPEC');
    let result: RunResult | undefined;
    try {
      result = await run({ argv: ['/usr/bin/env'], env: { INJECTED: 'visible\0LD_PRELOAD=/box/evil.so' } });
    } catch (error) {
      assert.ok(error instanceof SandboxError && error.code === 'INVALID_SPEC', String(error));
      return;
    }
    assert.fail(`accepted and truncated: the program saw ${JSON.stringify(result.stdout.split('\n').find((line) => line.startsWith('INJECTED=')))}`);
  });

  // -- The CLI ------------------------------------------------------------------

  const cliArgsArb = (): fc.Arbitrary<string[]> => {
    const sizes = ['256M', '64K', '1G', '4096', '0', '-5M', '1T', 'lots', '9999999999G', '1.5M', ''];
    const times = ['1s', '500ms', '0', '-1', '1e3', '2.5', '99999999999999999999', 'abc', '', '1 s', '5m', '1h', '0.0001'];
    const values: Record<string, string[]> = {
      '--time': times,
      '--wall': times,
      '--memory': sizes,
      '--pids': ['64', '0', '-1', '1.5', 'NaN', '1e9', ''],
      '--output': sizes,
      '--disk': sizes,
      '--ro': [fixtures, '/usr/share', '/nonexistent', 'relative/path', '.', '/', '/proc', ''],
      '--copy-in': [dataFile, `${dataFile}:x`, `${dataFile}:../x`, `${dataFile}:/abs`, ':', '/nonexistent', fixtures, `${dataFile}:`, `${dataFile}:a:b`],
      '--stdin': [dataFile, '/nonexistent', fixtures, '/dev/null', ''],
      '--env': ['A=1', 'A=', '=x', 'BAD-NAME=1', 'PATH=/nowhere', 'noequals', 'A=\u00e9\u{1F600}'],
      '--cpus': ['0', '0-1', '1', '5', '1-0', 'all', ''],
    };
    const option = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...Object.keys(values)).chain((name) => fc.constantFrom(...(values[name] ?? [''])).map((value) => [name, value])) },
      { weight: 1, arbitrary: fc.constantFrom(...Object.keys(values)).chain((name) => fc.constantFrom(...(values[name] ?? [''])).map((value) => [`${name}=${value}`])) },
      { weight: 2, arbitrary: fc.constantFrom(['--json'], ['--allow-weaker'], ['--unknown'], ['-x'], ['---'], ['--time'], ['-'], ['--json=yes']) },
    );
    const command = fc.oneof(
      { weight: 6, arbitrary: fc.array(fc.stringMatching(/^[a-z0-9 ._=-]{0,10}$/), { maxLength: 3 }).map((args) => ['--', '/bin/echo', ...args]) },
      { weight: 2, arbitrary: fc.constantFrom(['--', '/bin/true'], ['/bin/true'], ['--', '/bin/false'], ['--', '/nonexistent'], ['--'], [], ['--', ''], ['--', '/bin/echo', '--help']) },
    );
    return fc.tuple(fc.array(option, { maxLength: 5 }), command).map(([options, cmd]) => [...options.flat(), ...cmd]);
  };

  it('3000 random argument lists for `run`: a spec or a refusal with a message, and every spec it makes is valid or refused by code', async () => {
    const refusals = new Map<string, number>();
    await fc.assert(
      fc.property(cliArgsArb(), (args) => {
        let spec: RunSpec;
        try {
          ({ spec } = specFromArgs(args));
        } catch (error) {
          assert.ok(error instanceof Error, `${JSON.stringify(args)} threw a non-Error: ${String(error)}`);
          assert.ok(error.message.length > 0, `${JSON.stringify(args)}: an empty message`);
          refusals.set('parse', (refusals.get('parse') ?? 0) + 1);
          return;
        }
        try {
          parseSpec(spec);
          refusals.set('valid', (refusals.get('valid') ?? 0) + 1);
        } catch (error) {
          assert.ok(error instanceof SandboxError, `${JSON.stringify(args)}: ${String(error)}`);
          assert.equal(error.code, 'INVALID_SPEC');
          refusals.set('invalid', (refusals.get('invalid') ?? 0) + 1);
        }
      }),
      { numRuns: 3_000, verbose: 1 },
    );
    for (const kind of ['parse', 'valid', 'invalid']) assert.ok((refusals.get(kind) ?? 0) >= 100, `too few "${kind}": ${JSON.stringify([...refusals])}`);
  });

  it('120 real `cellblock run` invocations, 4 at a time: exit 0, 1 or 2 with a message, never a stack trace', async () => {
    const samples = fc.sample(cliArgsArb(), { numRuns: 120, seed: 42 });
    const codes = new Map<number, number>();
    const env = { ...process.env, ...OWNER_ENV };
    for (let i = 0; i < samples.length; i += 4) {
      const batch = samples.slice(i, i + 4);
      const outcomes = await Promise.all(batch.map((args) => withinTime(startCli(['run', ...args], env).outcome, `cellblock run ${JSON.stringify(args)}`)));
      outcomes.forEach((outcome, j) => {
        const args = JSON.stringify(batch[j]);
        const code = outcome.code ?? -1;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.ok([0, 1, 2].includes(code), `${args}: exit ${code}\n${outcome.stderr}`);
        assert.doesNotMatch(outcome.stderr, /^\s+at .+:\d+:\d+\)?$/m, `${args}: a stack trace\n${outcome.stderr}`);
        assert.doesNotMatch(outcome.stderr + outcome.stdout, /node:internal|TypeError|ReferenceError|Uncaught/, `${args}\n${outcome.stderr}`);
        if (code !== 0) assert.match(outcome.stderr, /^cellblock: \S/, `${args}: exit ${code} without a message`);
        if (code === 0 && batch[j]?.includes('--json') && !batch[j]?.includes('--help')) {
          const parsed = RunResult.safeParse(JSON.parse(outcome.stdout));
          assert.ok(parsed.success, `${args}: --json printed ${outcome.stdout}`);
        }
      });
    }
    for (const code of [0, 1, 2]) assert.ok((codes.get(code) ?? 0) >= 10, `exit ${code} too rare: ${JSON.stringify([...codes])}`);
  });

  it('leaves nothing behind', async (t) => {
    t.diagnostic(`outcomes: ${JSON.stringify([...seen].sort())}`);
    assert.ok(seen.size > 3, JSON.stringify([...seen]));
    await assertNothingLeftBehind(start);
  });
});
