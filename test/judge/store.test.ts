// The content-addressed store: test sets uploaded once and judged by hash, and
// compiles reused across submissions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { judge } from '../../judge/judge.js';
import { putTestSet } from '../../judge/test-sets.js';
import { SandboxError } from '../../sandbox/errors.js';
import { directoryStore, sha256 } from '../../store/content.js';

const root = mkdtempSync(join(tmpdir(), 'cellblock-store-'));
const store = directoryStore(root);
after(() => rmSync(root, { recursive: true, force: true }));

const tests = [
  { name: '1', stdin: '1 2\n', expected: '3\n' },
  { name: '2', stdin: '5 7\n', expected: '12\n' },
];
const cpp = '#include <cstdio>\nint main(){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);}\n';

describe('content-addressed store', () => {
  it('stores blobs by their SHA-256 and refuses damaged ones', async () => {
    const hash = await store.put('hello');
    assert.equal(hash, sha256('hello'));
    assert.equal((await store.get(hash))?.toString(), 'hello');
    writeFileSync(join(root, hash.slice(0, 2), hash.slice(2, 4), hash), 'tampered');
    assert.equal(await store.get(hash), undefined, 'a damaged blob reads as missing');
  });

  it('a full disk fails the write and leaves no partial file behind', async () => {
    const small = mkdtempSync(join(tmpdir(), 'cellblock-store-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
    try {
      const full = directoryStore(small);
      await assert.rejects(full.put(Buffer.alloc(1024 * 1024, 1)), { code: 'ENOSPC' });
      const left = readdirSync(small, { recursive: true }).map(String).filter((name) => name.endsWith('.tmp'));
      assert.deepEqual(left, [], 'temp files left on the full disk');
      // the space the failed write took is free again
      assert.equal((await full.get(await full.put('x'.repeat(32 * 1024))))?.length, 32 * 1024);
    } finally {
      execFileSync('umount', [small]);
      rmSync(small, { recursive: true, force: true });
    }
  });

  it('judges a test set by its hash, the same as inline', async () => {
    const hash = await putTestSet(store, tests);
    assert.equal(await putTestSet(store, tests), hash, 'the same tests give the same hash');
    const byHash = await judge({ language: 'python3', source: 'a,b=map(int,input().split())\nprint(a+b)\n', testSet: hash }, { store });
    assert.equal(byHash.verdict, 'AC');
    assert.deepEqual(byHash.tests.map((t) => t.name), ['1', '2']);
  });

  it('an unknown test set is refused with TEST_SET_NOT_FOUND', async () => {
    await assert.rejects(
      judge({ language: 'python3', source: 'print(1)', testSet: sha256('nothing stored') }, { store }),
      (error: unknown) => error instanceof SandboxError && error.code === 'TEST_SET_NOT_FOUND',
    );
  });

  it('a submission gives tests or a test set, not both', async () => {
    await assert.rejects(
      judge({ language: 'python3', source: 'print(1)', tests, testSet: sha256('x') }, { store }),
      (error: unknown) => error instanceof SandboxError && error.code === 'INVALID_SPEC',
    );
  });

  it('compiles once: the same source is not compiled again', async () => {
    const first = await judge({ language: 'cpp', source: cpp, tests }, { store });
    const second = await judge({ language: 'cpp', source: cpp, tests }, { store });
    assert.equal(first.verdict, 'AC');
    assert.equal(second.verdict, 'AC');
    // a cached compile carries the first compile's own measurements
    assert.deepEqual(second.compile, first.compile);
    const links = readdirSync(join(root, 'links'));
    const other = await judge({ language: 'cpp', source: `${cpp}// changed\n`, tests }, { store });
    assert.notDeepEqual(other.compile, first.compile, 'another source compiles anew');
    assert.equal(readdirSync(join(root, 'links')).length, links.length + 1);
  });

  it('a compile error is cached as such', async () => {
    const first = await judge({ language: 'cpp', source: 'int main( {', tests }, { store });
    const second = await judge({ language: 'cpp', source: 'int main( {', tests }, { store });
    assert.equal(first.verdict, 'CE');
    assert.deepEqual(second.compile, first.compile);
  });
});
