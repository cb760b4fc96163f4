// Bad input: a spec that is wrong is refused before anything is built, with a
// stable error code; a program that is not there is a judged run that failed to
// start. Either way nothing is left behind.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ErrorCode, SandboxError } from '../../sandbox/errors.js';
import { run } from '../../sandbox/run.js';
import type { RunSpec } from '../../sandbox/schema.js';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import { OWNER_ENV } from '../helpers/host.js';
import { assertNothingLeft, type Snapshot, snapshot } from '../helpers/leaks.js';

// Specs that break the schema's rules; some also break its types, as a caller
// from plain JavaScript or JSON could.
const invalid = (spec: unknown): RunSpec => spec as RunSpec;

const INVALID: [what: string, spec: RunSpec][] = [
  ['empty argv', { argv: [] }],
  ['an empty program name', { argv: [''] }],
  ['a NUL byte in an argument', { argv: ['/bin/echo', 'a\0b'] }],
  ['argv that is not an array', invalid({ argv: '/bin/true' })],
  ['no argv at all', invalid({})],
  ['a relative readOnly path', { argv: ['/bin/true'], readOnly: ['usr/share'] }],
  ['a readOnly path with ..', { argv: ['/bin/true'], readOnly: ['/usr/../etc'] }],
  ['a files path with ..', { argv: ['/bin/true'], files: [{ path: '../escape', content: 'x' }] }],
  ['a files path climbing out midway', { argv: ['/bin/true'], files: [{ path: 'a/../../etc/passwd', content: 'x' }] }],
  ['an absolute files path', { argv: ['/bin/true'], files: [{ path: '/etc/passwd', content: 'x' }] }],
  ['a relative files source', { argv: ['/bin/true'], files: [{ path: 'x', source: 'etc/passwd' }] }],
  ['cpuMs -1', { argv: ['/bin/true'], limits: { cpuMs: -1 } }],
  ['cpuMs 0', { argv: ['/bin/true'], limits: { cpuMs: 0 } }],
  ['fractional cpuMs', { argv: ['/bin/true'], limits: { cpuMs: 1.5 } }],
  ['cpuMs NaN', { argv: ['/bin/true'], limits: { cpuMs: Number.NaN } }],
  ['cpuMs Infinity', { argv: ['/bin/true'], limits: { cpuMs: Number.POSITIVE_INFINITY } }],
  ['memoryKb 1e12', { argv: ['/bin/true'], limits: { memoryKb: 1e12 } }],
  ['memoryKb below the minimum', { argv: ['/bin/true'], limits: { memoryKb: 1 } }],
  ['wallMs 1e12', { argv: ['/bin/true'], limits: { wallMs: 1e12 } }],
  ['pids 0', { argv: ['/bin/true'], limits: { pids: 0 } }],
  ['diskKb 1e15', { argv: ['/bin/true'], limits: { diskKb: 1e15 } }],
  ['a limit given as a string', invalid({ argv: ['/bin/true'], limits: { cpuMs: '100' } })],
  ['an env name with a dash', { argv: ['/bin/true'], env: { 'BAD-NAME': 'x' } }],
  ['a cpus list that is not one', { argv: ['/bin/true'], cpus: 'all' }],
  ['a seccomp policy name with a path', { argv: ['/bin/true'], seccomp: { policy: '../../etc/passwd' } }],
];

async function assertRejects(spec: RunSpec, code: ErrorCode, what: string): Promise<void> {
  await assert.rejects(run(spec), (error: unknown) => {
    assert.ok(error instanceof SandboxError, `${what}: ${String(error)}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return true;
  });
}

describe('bad input', () => {
  let fixtures: string;
  let baseline: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    // Warm up (host checks, the first user namespace slot), then take the baseline.
    assert.equal((await run({ argv: ['/bin/true'] })).status, 'ok');
    baseline = snapshot();
  });

  after(() => removeFixtureDir(fixtures));

  for (const [what, spec] of INVALID) {
    it(`${what}: throws SandboxError INVALID_SPEC`, async () => {
      await assertRejects(spec, 'INVALID_SPEC', what);
    });
  }

  it('control: the same shapes, valid, run', async () => {
    const result = await run({
      argv: ['/bin/cat', 'dir/file'],
      readOnly: ['/usr/share'],
      files: [{ path: 'dir/file', content: 'x' }],
      limits: { cpuMs: 1_000, memoryKb: 65_536, wallMs: 5_000, pids: 8, diskKb: 1_024 },
      env: { GOOD_NAME: 'x' },
      cpus: '0',
    });
    assert.equal(result.status, 'ok', JSON.stringify(result.error));
    assert.equal(result.stdout, 'x');
  });

  it('a missing readOnly path throws PATH_NOT_FOUND', async () => {
    await assertRejects({ argv: ['/bin/true'], readOnly: [`${fixtures}/missing`] }, 'PATH_NOT_FOUND', 'readOnly');
  });

  it('a missing file to copy in throws PATH_NOT_FOUND', async () => {
    await assertRejects({ argv: ['/bin/true'], files: [{ path: 'f', source: `${fixtures}/missing` }] }, 'PATH_NOT_FOUND', 'files');
  });

  it('a missing stdin file throws PATH_NOT_FOUND', async () => {
    await assertRejects({ argv: ['/bin/true'], stdin: { file: `${fixtures}/missing` } }, 'PATH_NOT_FOUND', 'stdin');
  });

  it('a missing program is an internal_error EXEC_NOT_FOUND, by name or by path', async () => {
    for (const program of ['cellblock-no-such-program', '/usr/bin/cellblock-no-such-program', './missing']) {
      const result = await run({ argv: [program], env: OWNER_ENV });
      assert.equal(result.status, 'internal_error', program);
      assert.equal(result.error?.code, 'EXEC_NOT_FOUND', `${program}: ${JSON.stringify(result.error)}`);
      assert.equal(result.exitCode, null);
    }
  });

  it('a program that is a directory is an internal_error EXEC_FAILED', async () => {
    const result = await run({ argv: ['/usr'], env: OWNER_ENV });
    assert.equal(result.status, 'internal_error');
    assert.equal(result.error?.code, 'EXEC_FAILED', JSON.stringify(result.error));
  });

  it('nothing is left behind after all of the above', async () => {
    await assertNothingLeft(baseline);
  });
});
