// Problem packages over the API: POST /v1/problems stores a .zip once and
// answers its id; submissions name it and are judged with its tests, validator
// or checker, interactor and groups. A real `cellblock serve`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { readPackageDir } from '../../judge/packages/files.js';
import { assertError, call, describeReply, serviceEnv, startHttp, stopAll, tempDir } from './helpers.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const zipOf = (example: string): Buffer =>
  Buffer.from(zipSync(Object.fromEntries([...readPackageDir(join(examples, example))].map(([name, data]) => [name, new Uint8Array(data)]))));

let base: string;
before(async () => {
  const dir = tempDir('cb-problems-');
  const server = await startHttp('serve', ['--data', join(dir, 'data'), '--workers', '2'], serviceEnv({ CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_LOG_LEVEL: 'warn' }));
  base = server.url;
});
after(stopAll);

// one archive per example: a zip holds times, so two zips of a folder may differ
const archives = new Map<string, Buffer>();
async function upload(example: string) {
  if (!archives.has(example)) archives.set(example, zipOf(example));
  const body = new Uint8Array(archives.get(example)!);
  const response = await fetch(`${base}/v1/problems`, { method: 'POST', headers: { 'content-type': 'application/zip' }, body });
  return { status: response.status, json: (await response.json()) as { problem: string; format: string; tests: number; groups: number; interactive: boolean; error?: { code: string; message: string } } };
}

const submitTo = async (problem: string, example: string, solution: string, language: string) => {
  const reply = await call(base, 'POST', `/v1/problems/${problem}/submissions?wait=true`, { body: { language, source: readFileSync(join(examples, example, solution), 'utf8') } });
  assert.equal(reply.status, 200, describeReply(reply));
  return reply.json as { verdict: string; score: number };
};

describe('problem packages over the API', () => {
  it('each example is stored once (the same id twice) and judges accepted and rejected submissions', async () => {
    const cases = [
      ['kattis-pairsum', 'kattis', 'submissions/accepted/zero.cpp', 'cpp', 'submissions/wrong_answer/off_by_one.py', 'python3'],
      ['kattis-guess', 'kattis', 'submissions/accepted/binary_search.py', 'python3', 'submissions/wrong_answer/linear.py', 'python3'],
      ['polygon-sum', 'polygon', 'solutions/sum.py', 'python3', 'solutions/int-overflow.cpp', 'cpp'],
    ] as const;
    for (const [example, format, good, goodLanguage, bad, badLanguage] of cases) {
      const first = await upload(example);
      assert.equal(first.status, 201, JSON.stringify(first.json));
      assert.equal(first.json.format, format);
      assert.equal((await upload(example)).json.problem, first.json.problem);
      assert.equal(first.json.interactive, example === 'kattis-guess');
      assert.equal((await submitTo(first.json.problem, example, good, goodLanguage)).verdict, 'AC', example);
      const rejected = await submitTo(first.json.problem, example, bad, badLanguage);
      assert.equal(rejected.verdict, 'WA', example);
      if (example === 'polygon-sum') assert.equal(rejected.score, 30);
    }
  });

  it('a malformed package is 422 INVALID_PACKAGE naming the file; an unknown id is 404 PROBLEM_NOT_FOUND', async () => {
    const response = await fetch(`${base}/v1/problems`, { method: 'POST', headers: { 'content-type': 'application/zip' }, body: Buffer.from('no zip here') });
    assert.equal(response.status, 422);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INVALID_PACKAGE');
    assert.match(body.error.message, /package\.zip: not a readable zip archive/);
    // the API does not time accepted submissions: a package must give its limit
    const files = readPackageDir(join(examples, 'kattis-pairsum'));
    files.delete('.timelimit');
    const untimed = zipSync(Object.fromEntries([...files].map(([name, data]) => [name, new Uint8Array(data)])));
    const refused = await fetch(`${base}/v1/problems`, { method: 'POST', headers: { 'content-type': 'application/zip' }, body: untimed });
    assert.equal(refused.status, 422);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /^problem\.yaml: no time limit/);
    assertError(await call(base, 'POST', `/v1/problems/${'0'.repeat(64)}/submissions`, { body: { language: 'python3', source: 'print(1)' } }), 404, 'PROBLEM_NOT_FOUND');
  });
});
