// Filesystem: the program sees a read-only root assembled from a few host dirs,
// and may write only its work dir (/box) and /tmp — one tmpfs with a byte and an
// inode limit. Secrets planted on the host must stay out of reach, every write
// outside the tmpfs must fail, and the host must be unchanged afterwards.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';

// argv: paths. For each: "<path> read <content>" or "<path> <ERRNO>".
const READER = `
import errno, sys
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            print(path, 'read', f.read().strip())
    except OSError as e:
        print(path, errno.errorcode.get(e.errno, e.errno))
`;

// argv: paths. For each: "<path> wrote" or "<path> <ERRNO>"; tries create, then append.
const WRITER = `
import errno, os, sys
for path in sys.argv[1:]:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, b'written-from-the-sandbox\\n')
        os.close(fd)
        print(path, 'wrote')
    except OSError as e:
        print(path, errno.errorcode.get(e.errno, e.errno))
`;

const lines = (text: string): Map<string, string> =>
  new Map(
    text
      .trim()
      .split('\n')
      .map((line) => {
        const space = line.indexOf(' ');
        return [line.slice(0, space), line.slice(space + 1)] as [string, string];
      }),
  );

describe('filesystem', () => {
  let fixtures: string;
  const secret = uniqueToken('secret');
  const secretPaths: string[] = [];

  before(() => {
    fixtures = makeFixtureDir();
    // World-readable on the host (0644, in world-searchable dirs where possible).
    const secretName = `${uniqueToken('secret-file')}.txt`;
    for (const dir of ['/root', tmpdir(), fixtures]) {
      const path = join(dir, secretName);
      writeFileSync(path, `${secret}\n`, { mode: 0o644 });
      secretPaths.push(path);
    }
  });

  after(() => {
    for (const path of secretPaths) rmSync(path, { force: true });
    removeFixtureDir(fixtures);
  });

  it('secrets planted on the host are not present inside, also not through /proc/1/root or /proc/self/root', async () => {
    const attempts = secretPaths.flatMap((path) => [path, `/proc/1/root${path}`, `/proc/self/root${path}`, `/box/../..${path}`]);
    const result = await run({ argv: [PYTHON, '-c', READER, ...attempts] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'the secret leaked');
    const outcomes = lines(result.stdout);
    assert.equal(outcomes.size, attempts.length);
    for (const attempt of attempts) assert.equal(outcomes.get(attempt), 'ENOENT', attempt);
  });

  it('nothing outside /box and /tmp is writable, and the host is unchanged', async () => {
    const probe = uniqueToken('probe');
    // a host dir bound read-only, with a file that must keep its content
    const roDir = join(fixtures, 'ro');
    mkdirSync(roDir, { mode: 0o777 });
    writeFileSync(join(roDir, 'existing'), 'original\n', { mode: 0o666 });
    const outside = [
      `/${probe}`,
      `/etc/${probe}`,
      '/etc/passwd',
      `/usr/${probe}`,
      `/usr/bin/${probe}`,
      `/bin/${probe}`,
      `/lib/${probe}`,
      '/proc/sys/kernel/hostname',
      `/dev/${probe}`,
      `${roDir}/${probe}`,
      `${roDir}/existing`,
    ];
    const inside = [`/box/${probe}`, `/tmp/${probe}`];
    const result = await run({ argv: [PYTHON, '-c', WRITER, ...outside, ...inside], readOnly: [roDir] });
    assert.equal(result.status, 'ok', result.stderr);
    const outcomes = lines(result.stdout);
    for (const path of outside) assert.match(outcomes.get(path) ?? 'missing', /^(EROFS|EACCES|EPERM)$/, path);
    for (const path of inside) assert.equal(outcomes.get(path), 'wrote', path);

    for (const path of [`/${probe}`, `/etc/${probe}`, `/usr/${probe}`, `/usr/bin/${probe}`, `/lib/${probe}`, `${roDir}/${probe}`])
      assert.equal(existsSync(path), false, `${path} appeared on the host`);
    assert.equal(readFileSync(join(roDir, 'existing'), 'utf8'), 'original\n');
    assert.ok(!readFileSync('/etc/passwd', 'utf8').includes('written-from-the-sandbox'));
    assert.deepEqual(readdirSync(roDir), ['existing']);
  });

  it('filling the work dir stops at diskKb with ENOSPC, a runtime error of the program', async () => {
    const result = await run({
      argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=/box/fill bs=64k count=64 2>&1; status=$?; wc -c < /box/fill; exit $status'],
      limits: { diskKb: 1024 },
    });
    assert.equal(result.status, 'runtime_error');
    assert.equal(result.error, undefined);
    assert.equal(result.exitCode, 1);
    assert.match(result.stdout, /No space left on device/);
    const written = Number(result.stdout.trim().split('\n').at(-1));
    assert.ok(written > 512 * 1024 && written <= 1024 * 1024, `wrote ${written} bytes under a 1 MiB limit`);
  });

  it('/tmp and /box share the one limit', async () => {
    const result = await run({
      argv: [
        '/bin/sh',
        '-c',
        'dd if=/dev/zero of=/tmp/a bs=64k count=12 2>/dev/null && echo tmp-ok; dd if=/dev/zero of=/box/b bs=64k count=12 2>&1',
      ],
      limits: { diskKb: 1024 },
    });
    assert.equal(result.status, 'runtime_error');
    assert.match(result.stdout, /^tmp-ok\n/);
    assert.match(result.stdout, /No space left on device/);
  });

  it('creating files stops at the inode limit with ENOSPC', async () => {
    const script = `
import errno, os
n = 0
try:
    while n < 1000:
        open('/box/f%d' % n, 'w').close()
        n += 1
    print('created', n)
except OSError as e:
    print('created', n, errno.errorcode.get(e.errno))
    raise SystemExit(3)
`;
    const result = await run({ argv: [PYTHON, '-c', script], limits: { inodes: 64 } });
    assert.equal(result.status, 'runtime_error', result.stderr);
    assert.equal(result.exitCode, 3);
    const match = /^created (\d+) ENOSPC$/.exec(result.stdout.trim());
    assert.ok(match, result.stdout);
    const created = Number(match[1]);
    assert.ok(created >= 32 && created < 64, `created ${created} files under a 64-inode limit`);
  });

  // The sandbox stages its root on a tmpfs mounted over /tmp in its mount
  // namespace before it binds and copies host paths, so any host path under /tmp
  // is hidden from the launcher itself and the run fails with an internal error.
  describe('host paths under /tmp', () => {
    let hostTmpDir: string;

    before(() => {
      hostTmpDir = mkdtempSync(join(tmpdir(), 'cellblock-test-'));
      // mkdtemp makes it 0700 and root's: the sandbox's unprivileged uid could not search it
      chmodSync(hostTmpDir, 0o755);
      writeFileSync(join(hostTmpDir, 'data.txt'), 'from the host tmp\n', { mode: 0o644 });
      writeFileSync(join(hostTmpDir, 'prog.sh'), '#!/bin/sh\necho copied-in program ran\n', { mode: 0o755 });
    });

    after(() => {
      rmSync(hostTmpDir, { recursive: true, force: true });
    });

    it('a readOnly path under the host /tmp appears at the same path', async () => {
      const result = await run({ argv: ['/bin/cat', join(hostTmpDir, 'data.txt')], readOnly: [hostTmpDir] });
      assert.equal(result.error, undefined, `${result.error?.code}: ${result.error?.message}`);
      assert.equal(result.status, 'ok', result.stderr);
      assert.equal(result.stdout, 'from the host tmp\n');
    });

    // a path nested in one bound before it is there already, read-only: it is
    // bound again, not created (that failed: EROFS), also a file of the host's /usr
    it('a readOnly path nested in another (a dir and a file in it, a file in /usr) is bound as given', async () => {
      const result = await run({ argv: ['/bin/cat', join(hostTmpDir, 'data.txt')], readOnly: [hostTmpDir, join(hostTmpDir, 'data.txt'), '/usr/bin/cat'] });
      assert.equal(result.error, undefined, `${result.error?.code}: ${result.error?.message}`);
      assert.equal(result.stdout, 'from the host tmp\n');
    });

    it('a file copied in from the host /tmp arrives in /box', async () => {
      const result = await run({ argv: ['./prog.sh'], files: [{ path: 'prog.sh', source: join(hostTmpDir, 'prog.sh') }] });
      assert.equal(result.error, undefined, `${result.error?.code}: ${result.error?.message}`);
      assert.equal(result.status, 'ok', result.stderr);
      assert.equal(result.stdout, 'copied-in program ran\n');
    });
  });
});
