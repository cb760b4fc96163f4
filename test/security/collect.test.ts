// The supervisor never trusts what the program left behind. Replays of
// Judge0's CVE-2024-28185 (the program turns its output file into a symlink to
// a host file and the judge, reading it as root, leaks the host file) and
// CVE-2024-28189 (the program plants a symlink where the judge later chowns or
// chmods as root), then FIFOs and device nodes where a file is expected (the
// run must not block), a file still growing when collected, files over the
// budget, and mode bits that must not come back.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxError } from '../../sandbox/errors.js';
import type { RunResult } from '../../sandbox/schema.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import {
  assertAtimeWitnessWorks,
  assertNothingLeftBehind,
  assertSecretsSafe,
  assertStatus,
  baseline,
  plantSecret,
  removeSecrets,
  sandbox,
  type Secret,
} from './helpers.js';

const LINK_REFUSED = 'a link or a mount point';

const refusedReasons = (result: RunResult): Map<string, string> => new Map((result.refused ?? []).map((r) => [r.path, r.reason]));
const collected = (result: RunResult): Map<string, string> =>
  new Map((result.files ?? []).map((f) => [f.path, Buffer.from(f.data).toString('latin1')]));

// A host file's owner, mode and times: a chown, chmod or write (through any
// link) changes ctime; reading it would disturb the secrets' atime witness.
interface HostFileState {
  uid: number;
  gid: number;
  mode: number;
  size: number;
  ctimeMs: number;
  mtimeMs: number;
}

const stateOf = (path: string): HostFileState => {
  const stat = statSync(path);
  return { uid: stat.uid, gid: stat.gid, mode: stat.mode, size: stat.size, ctimeMs: stat.ctimeMs, mtimeMs: stat.mtimeMs };
};

describe('security: the supervisor never trusts what the program left behind', () => {
  let fixtures: string;
  let secrets: Secret[];
  let rootSecret: Secret;
  let varTmpSecret: Secret;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    // 0600 root: only a process running as host root could read them — the supervisor.
    rootSecret = plantSecret(join('/root', `${uniqueToken('collect')}.secret`), 0o600);
    varTmpSecret = plantSecret(join(fixtures, 'private.secret'), 0o600);
    secrets = [rootSecret, varTmpSecret];
    assertAtimeWitnessWorks(rootSecret);
    start = await baseline();
  });

  after(() => {
    removeSecrets(secrets);
    removeFixtureDir(fixtures);
  });

  describe('CVE-2024-28185: the output file is a symlink to a host file', () => {
    // [what, the program's shell, the path the judge collects]
    const cases = (): [string, string, string][] => [
      ['a symlink to /etc/shadow', 'ln -s /etc/shadow out', 'out'],
      ['a symlink to /proc/1/environ (init: Node\'s environment)', 'ln -s /proc/1/environ out', 'out'],
      ['a symlink to /proc/self/environ', 'ln -s /proc/self/environ out', 'out'],
      ['a symlink to a 0600 secret of root', `ln -s ${rootSecret.path} out`, 'out'],
      ['a symlink to a 0600 secret under /var/tmp', `ln -s ${varTmpSecret.path} out`, 'out'],
      ['a relative symlink climbing out with ..', `ln -s ../../../../../..${varTmpSecret.path} out`, 'out'],
      ['a symlinked parent directory (to /root)', 'ln -s /root d', `d/${basename(rootSecret.path)}`],
      ['a symlinked parent directory (to /)', 'ln -s / r', 'r/etc/shadow'],
      ['a symlink deep in a tree of real directories', `mkdir -p a/b && ln -s ${fixtures} a/b/c`, 'a/b/c/private.secret'],
      ['a magic link (/proc/self/root)', 'ln -s /proc/self/root m', 'm/etc/passwd'],
      ['a chain of symlinks', `ln -s ${rootSecret.path} one && ln -s one two && ln -s two out`, 'out'],
      ['a symlink in /tmp reached through /box', `ln -s /tmp t && ln -s ${rootSecret.path} /tmp/out`, 't/out'],
    ];

    it('each is refused as a link, never followed, and the host file is not even read', async () => {
      const shadow = readFileSync('/etc/shadow', 'latin1');
      for (const [what, script, path] of cases()) {
        const result = await sandbox({ argv: ['/bin/sh', '-c', `${script} && echo planted`], collect: [path] });
        assertStatus(result, 'ok');
        assert.equal(result.stdout, 'planted\n', `${what}: the link was not planted`);
        assert.deepEqual(result.files ?? [], [], `${what}: a file came back`);
        assert.equal(refusedReasons(result).get(path), LINK_REFUSED, `${what}: ${JSON.stringify(result.refused)}`);
        assertSecretsSafe(secrets, result);
        const firstShadowLine = shadow.split('\n')[0] ?? '';
        assert.ok(!(result.files ?? []).some((f) => Buffer.from(f.data).toString('latin1').includes(firstShadowLine)), what);
      }
    });

    it('a link swapped in and out while the program exits is never followed (100 tries)', async () => {
      // A regular file and a symlink to the secret, renamed over "out" in a
      // loop by a child that outlives the program: whatever "out" is when the
      // supervisor looks, it gets the regular file or a refusal.
      const script = `
echo regular > file
(while :; do ln -sf ${rootSecret.path} link.tmp; mv -f link.tmp out; cp file out.tmp; mv -f out.tmp out; done) &
sleep 0.01`;
      const outcomes = new Set<string>();
      for (let i = 0; i < 100; i++) {
        const result = await sandbox({ argv: ['/bin/sh', '-c', script], collect: ['out'] });
        assertStatus(result, 'ok');
        assertSecretsSafe(secrets, result);
        const got = collected(result).get('out');
        const refused = refusedReasons(result).get('out');
        assert.ok(got === 'regular\n' || refused === LINK_REFUSED || refused === 'No such file or directory', `${got} / ${refused}`);
        outcomes.add(got !== undefined ? 'file' : refused ?? '?');
      }
      // control: the race was really run — the supervisor met both states
      assert.ok(outcomes.has('file') && outcomes.has(LINK_REFUSED), `outcomes: ${[...outcomes].join(', ')}`);
    });

    it('a collect path with "..", absolute, empty segments or NUL is refused before the run', async () => {
      for (const path of ['../out', 'a/../../etc/shadow', '/etc/shadow', 'a//b', './out', 'a/./b', '..', '', 'out\0x']) {
        await assert.rejects(sandbox({ argv: ['/bin/true'], collect: [path] }), (error: unknown) => {
          assert.ok(error instanceof SandboxError, String(error));
          assert.equal(error.code, 'INVALID_SPEC', path);
          return true;
        });
      }
    });
  });

  describe('CVE-2024-28189: symlinks planted where the judge touches files as root', () => {
    it("host files' owner, mode, content and ctime are unchanged by runs that plant links named like the judge's files", async () => {
      const targets = {
        rootOwned: join(fixtures, 'root-owned.txt'),
        private: varTmpSecret.path,
        dir: join(fixtures, 'a-dir'),
      };
      writeFileSync(targets.rootOwned, 'owned by root\n', { mode: 0o644 });
      mkdirSync(targets.dir, { mode: 0o755 });
      const watched = [...Object.values(targets), '/etc/passwd', '/etc/shadow', '/root', fixtures];
      const before = new Map(watched.map((path) => [path, stateOf(path)]));
      // The names a judge touches: sources, binaries, inputs, outputs, results.
      const names = ['main', 'main.c', 'main.py', 'Main.java', 'input.txt', 'output.txt', 'stdout', 'stderr', 'result.json', 'answer.txt', 'checker'];
      const targetsInOrder = [targets.rootOwned, targets.private, targets.dir, '/etc/passwd', '/etc/shadow', '/root'];
      const plant = names.map((name, i) => `ln -sf ${targetsInOrder[i % targetsInOrder.length]} ${name}; ln -sf ${targetsInOrder[i % targetsInOrder.length]} /tmp/${name}`).join('; ');
      for (let round = 0; round < 3; round++) {
        const result = await sandbox({ argv: ['/bin/sh', '-c', `${plant}; chmod -h 777 * 2>/dev/null; echo planted`], collect: names });
        assertStatus(result, 'ok');
        assert.equal(result.stdout, 'planted\n');
        assert.deepEqual(result.files ?? [], []);
        for (const name of names) assert.equal(refusedReasons(result).get(name), LINK_REFUSED, name);
        // and a later run copies files in under the same names: they land in its own work dir
        const next = await sandbox({
          argv: ['/bin/sh', '-c', 'for f in "$@"; do test -L "$f" && echo "link $f"; cat "$f"; done', 'sh', ...names.slice(0, 4)],
          files: names.slice(0, 4).map((name) => ({ path: name, content: `${name} content\n`, mode: 0o666 })),
        });
        assertStatus(next, 'ok');
        assert.equal(next.stdout, names.slice(0, 4).map((name) => `${name} content\n`).join(''));
      }
      for (const path of watched) assert.deepEqual(stateOf(path), before.get(path), `${path} changed on the host`);
      assertSecretsSafe(secrets);
    });
  });

  describe('special files where a file is expected', () => {
    it('a FIFO is refused without blocking, even with a writer holding it open', async () => {
      const started = Date.now();
      const result = await sandbox({
        argv: ['/bin/sh', '-c', 'mkfifo out && mkfifo idle && (echo data > out &) && echo planted'],
        collect: ['out', 'idle'],
        limits: { wallMs: 3_000 },
      });
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'planted\n');
      assert.deepEqual(refusedReasons(result), new Map([['out', 'not a regular file'], ['idle', 'not a regular file']]));
      assert.ok(Date.now() - started < 2_800, `the run took ${Date.now() - started} ms`);
    });

    it('device nodes cannot be made; links to /dev/zero and /dev/urandom are refused without reading them', async () => {
      const started = Date.now();
      const script = 'mknod zero c 1 5 2>/dev/null || echo mknod refused; ln /dev/zero hard 2>/dev/null || echo link refused; ln -s /dev/zero z; ln -s /dev/urandom u; echo planted';
      const result = await sandbox({ argv: ['/bin/sh', '-c', script], collect: ['zero', 'hard', 'z', 'u'], limits: { wallMs: 3_000 } });
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'mknod refused\nlink refused\nplanted\n');
      const reasons = refusedReasons(result);
      assert.equal(reasons.get('zero'), 'No such file or directory');
      assert.equal(reasons.get('hard'), 'No such file or directory');
      assert.equal(reasons.get('z'), LINK_REFUSED);
      assert.equal(reasons.get('u'), LINK_REFUSED);
      assert.ok(Date.now() - started < 2_800);
    });

    it('a unix socket and a directory are refused', async () => {
      const script = `
import os, socket
s = socket.socket(socket.AF_UNIX)
s.bind('sock')
s.listen()
os.mkdir('dir')
print('planted')
`;
      const result = await sandbox({ argv: [PYTHON, '-c', script], collect: ['sock', 'dir'], limits: { wallMs: 3_000 } });
      assertStatus(result, 'ok');
      const reasons = refusedReasons(result);
      assert.equal(reasons.get('dir'), 'not a regular file');
      assert.match(reasons.get('sock') ?? '', /^(not a regular file|No such device or address)$/);
      assert.deepEqual(result.files ?? [], []);
    });
  });

  describe('files that change or grow', () => {
    it('a file still being appended to when the program exits is taken whole and consistent, and the writer is gone', async () => {
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const result = await sandbox({
          argv: ['/bin/sh', '-c', '(while :; do echo line >> out; done) & (while :; do echo line >> out; done) & sleep 0.05; echo exiting'],
          collect: ['out'],
          limits: { wallMs: 3_000, cpuMs: 3_000 },
        });
        assertStatus(result, 'ok');
        const data = collected(result).get('out') ?? '';
        assert.ok(data.length > 0, 'control: the writers wrote');
        assert.match(data, /^(line\n)+$/, 'torn or foreign content');
        assert.ok(Date.now() - started < 2_800);
      }
    });

    it('a sparse file far over the budget is refused without being read', async () => {
      const result = await sandbox({
        argv: ['/bin/sh', '-c', 'truncate -s 1G big && echo small > small'],
        collect: ['big', 'small'],
        limits: { fileSizeKb: 2 * 1024 * 1024 },
      });
      assertStatus(result, 'ok');
      assert.equal(refusedReasons(result).get('big'), 'over the size limit');
      assert.equal(collected(result).get('small'), 'small\n');
    });

    it('files together over the 64 MiB budget: the ones that fit come back, the rest are refused', async () => {
      const result = await sandbox({
        argv: ['/bin/sh', '-c', 'head -c 41943040 /dev/zero > a && head -c 41943040 /dev/zero > b && echo c > c'],
        collect: ['a', 'b', 'c'],
        limits: { diskKb: 100 * 1024, memoryKb: 256 * 1024 },
      });
      assertStatus(result, 'ok');
      assert.equal((result.files ?? []).find((f) => f.path === 'a')?.data.length, 40 << 20);
      assert.equal(refusedReasons(result).get('b'), 'over the size limit');
      assert.equal(collected(result).get('c'), 'c\n');
    });

    it('setuid, setgid and sticky bits do not come back with a collected file', async () => {
      const result = await sandbox({ argv: ['/bin/sh', '-c', 'cp /bin/true out && chmod 7755 out && stat -c %a out'], collect: ['out'] });
      assertStatus(result, 'ok');
      assert.equal(result.stdout, '7755\n', 'control: the program did set them');
      assert.equal(result.files?.[0]?.mode, 0o755);
    });
  });

  it('leaves nothing behind', async () => {
    assertSecretsSafe(secrets);
    await assertNothingLeftBehind(start);
  });
});
