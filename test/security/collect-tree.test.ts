// Collecting a tree by glob (CI plug-ins: `collect: ['out/**']`): a plug-in that
// reads a tree of inputs and writes a report and nested artifacts gets them all
// back; and every trap a plug-in can lay in the tree it leaves is refused by
// name with its reason, never followed, never opened, never allowed to make
// the walk endless: symlinks to /etc/shadow and to a parent dir, a hardlink to
// a host file (the kernel refuses it: the work dir is its own tmpfs), FIFOs, a
// huge sparse file, thousands of files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunResult } from '../../sandbox/schema.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertSecretsSafe, assertStatus, baseline, plantSecret, removeSecrets, sandbox, type Secret } from './helpers.js';

const LINK_REFUSED = 'a link or a mount point';
const reasons = (result: RunResult): Map<string, string> => new Map((result.refused ?? []).map((r) => [r.path, r.reason]));
const texts = (result: RunResult): Map<string, string> => new Map((result.files ?? []).map((f) => [f.path, Buffer.from(f.data).toString('utf8')]));

// The plug-in: counts the lines of every input file, writes a report and one
// artifact per input, nested like the inputs.
const PLUGIN = `
import json, os
report = {}
for root, dirs, files in os.walk('src'):
    for name in sorted(files):
        path = os.path.join(root, name)
        with open(path) as f:
            lines = f.read().splitlines()
        report[path] = len(lines)
        out = os.path.join('out', 'artifacts', os.path.relpath(path, 'src') + '.upper')
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, 'w') as f:
            f.write('\\n'.join(line.upper() for line in lines) + '\\n')
os.makedirs('out', exist_ok=True)
with open('out/report.json', 'w') as f:
    json.dump(report, f, sort_keys=True)
with open('scratch.tmp', 'w') as f:
    f.write('not collected')
print('linted', len(report), 'files')
`;

describe('security: collecting a tree by glob', () => {
  let fixtures: string;
  let secret: Secret;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    secret = plantSecret(join('/root', `${uniqueToken('collect-tree')}.secret`), 0o600);
    start = await baseline();
  });

  after(() => {
    removeSecrets([secret]);
    removeFixtureDir(fixtures);
  });

  it('a plug-in reads a tree of inputs; its report and nested artifacts come back, nothing else', async () => {
    const inputs = { 'src/main.py': 'import os\nprint(1)\n', 'src/lib/util.py': 'def f():\n  return 2\n', 'src/lib/deep/x.txt': 'x\n' };
    const result = await sandbox({
      argv: [PYTHON, 'plugin.py'],
      files: [{ path: 'plugin.py', content: PLUGIN }, ...Object.entries(inputs).map(([path, content]) => ({ path, content }))],
      collect: ['out/**'],
    });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'linted 3 files\n');
    assert.deepEqual(
      [...texts(result).entries()],
      [
        ['out/artifacts/lib/deep/x.txt.upper', 'X\n'],
        ['out/artifacts/lib/util.py.upper', 'DEF F():\n  RETURN 2\n'],
        ['out/artifacts/main.py.upper', 'IMPORT OS\nPRINT(1)\n'],
        ['out/report.json', '{"src/lib/deep/x.txt": 1, "src/lib/util.py": 2, "src/main.py": 2}'],
      ],
    );
    assert.deepEqual(result.refused ?? [], []);
  });

  it('globs match within a name (*, ?, [..]) or across directories (**), once each', async () => {
    const result = await sandbox({
      argv: ['/bin/sh', '-c', 'mkdir -p a/b/c && for f in a/1.log a/b/2.log a/b/c/3.log a/b/c/3.txt top.log; do echo $f > $f; done'],
      collect: ['*.log', 'a/*/*.log', 'a/**/3.???', 'a/**', 'a/b/c/3.[t]xt'],
    });
    assertStatus(result, 'ok');
    assert.deepEqual([...texts(result).keys()], ['a/1.log', 'a/b/2.log', 'a/b/c/3.log', 'a/b/c/3.txt', 'top.log']);
  });

  it('links planted in the tree are refused by name and never followed, into the host or up the tree', async () => {
    const script = [
      'mkdir -p out/sub',
      'echo real > out/real.txt',
      'ln -s /etc/shadow out/shadow',
      `ln -s ${secret.path} out/sub/secret`,
      'ln -s .. out/up', // a parent dir: a walk following it would loop
      'ln -s / out/root',
      'ln -s /proc/self/root out/magic',
      'echo planted',
    ].join(' && ');
    const result = await sandbox({ argv: ['/bin/sh', '-c', script], collect: ['out/**'] });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'planted\n');
    assert.deepEqual([...texts(result).entries()], [['out/real.txt', 'real\n']]);
    assert.deepEqual(
      reasons(result),
      new Map([
        ['out/magic', LINK_REFUSED],
        ['out/root', LINK_REFUSED],
        ['out/shadow', LINK_REFUSED],
        ['out/sub/secret', LINK_REFUSED],
        ['out/up', LINK_REFUSED],
      ]),
    );
    assertSecretsSafe([secret], result);
  });

  it('a hardlink to a host file cannot be made (the work dir is its own filesystem); one within the box is the box\'s own file', async () => {
    const script = `ln ${secret.path} out/hard 2>/dev/null || echo host link refused; ln /etc/passwd out/passwd 2>/dev/null || echo passwd link refused; echo mine > out/mine && ln out/mine out/also && echo box link made`;
    const result = await sandbox({ argv: ['/bin/sh', '-c', `mkdir out && ${script}`], collect: ['out/**'] });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'host link refused\npasswd link refused\nbox link made\n');
    assert.deepEqual([...texts(result).entries()], [['out/also', 'mine\n'], ['out/mine', 'mine\n']]);
    assertSecretsSafe([secret], result);
  });

  it('FIFOs (one with a writer waiting), sockets and /dev links are refused unopened; the run does not block', async () => {
    const started = Date.now();
    const script = `
import os, socket, subprocess
os.makedirs('out')
os.mkfifo('out/fifo')
os.mkfifo('out/idle')
subprocess.Popen(['/bin/sh', '-c', 'echo data > out/fifo'])
s = socket.socket(socket.AF_UNIX)
s.bind('out/sock')
os.symlink('/dev/zero', 'out/zero')
print('planted')
`;
    const result = await sandbox({ argv: [PYTHON, '-c', script], collect: ['out/**'], limits: { wallMs: 3_000 } });
    assertStatus(result, 'ok');
    assert.deepEqual(
      reasons(result),
      new Map([
        ['out/fifo', 'not a regular file'],
        ['out/idle', 'not a regular file'],
        ['out/sock', 'not a regular file'],
        ['out/zero', LINK_REFUSED],
      ]),
    );
    assert.ok(Date.now() - started < 2_800, `took ${Date.now() - started} ms`);
  });

  it('a huge sparse file is refused by its size without being read; the small ones come back', async () => {
    const started = Date.now();
    const result = await sandbox({
      argv: ['/bin/sh', '-c', 'mkdir out && truncate -s 8G out/huge && echo small > out/small'],
      collect: ['out/**'],
      limits: { fileSizeKb: 16 * 1024 * 1024, collectKb: 1024 },
    });
    assertStatus(result, 'ok');
    assert.equal(reasons(result).get('out/huge'), 'over the size limit');
    assert.equal(texts(result).get('out/small'), 'small\n');
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms: was it read?`);
  });

  it('thousands of files: the count cap takes the first ones in name order and says where it stopped', async () => {
    const result = await sandbox({
      argv: ['/bin/sh', '-c', 'mkdir out && cd out && i=0; while [ $i -lt 3000 ]; do echo $i > f$(printf %05d $i); i=$((i+1)); done'],
      collect: ['out/**'],
      limits: { collectFiles: 100, inodes: 8_192, cpuMs: 10_000, wallMs: 20_000 },
    });
    assertStatus(result, 'ok');
    assert.equal(result.files?.length, 100);
    assert.equal(result.files?.[0]?.path, 'out/f00000');
    assert.equal(result.files?.[99]?.path, 'out/f00099');
    assert.deepEqual(result.refused, [{ path: 'out/f00100', reason: 'over the file count limit; collection stopped here' }]);
  });

  it('the bytes cap holds across a glob: files past it are refused by name', async () => {
    const result = await sandbox({
      argv: ['/bin/sh', '-c', 'mkdir out && head -c 700000 /dev/zero > out/a && head -c 700000 /dev/zero > out/b && echo c > out/c'],
      collect: ['out/*'],
      limits: { collectKb: 1024 },
    });
    assertStatus(result, 'ok');
    assert.deepEqual((result.files ?? []).map((f) => [f.path, f.data.length]), [['out/a', 700000], ['out/c', 2]]);
    assert.deepEqual(result.refused, [{ path: 'out/b', reason: 'over the size limit' }]);
  });

  it('leaves nothing behind', async () => {
    await assertNothingLeftBehind(start);
  });
});
