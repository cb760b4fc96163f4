// Jobe's REST API, driven as Moodle CodeRunner drives it: its headers (User-Agent
// CodeRunner, JSON, X-API-KEY), file ids that are md5s of the contents, a run
// naming files that are not cached answered 404, then PUT files and post again;
// every outcome, and Jobe's error cases. A real `cellblock serve` (its own
// redis-server), real sandboxes and compilers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { outcomeOf } from '../../api/compat/jobe.js';
import { uniqueToken } from '../helpers/fixtures.js';
import { call, describeReply, type Reply, serviceEnv, startHttp, stopAll, tempDir, writeConfig } from '../service/helpers.js';

const KEYS = { moodle: uniqueToken('jobe-moodle'), limited: uniqueToken('jobe-limited'), busy: uniqueToken('jobe-busy') };
const LIMITED_RUNS = 2;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const BASE = '/jobe/index.php/restapi';

let url: string;

// CodeRunner's jobesandbox: these headers on every request
const coderunner = (key: string | undefined): Record<string, string> => ({
  'User-Agent': 'CodeRunner',
  'Content-Type': 'application/json; charset=utf-8',
  'Accept-Charset': 'utf-8',
  Accept: 'application/json',
  ...(key ? { 'X-API-KEY': key } : {}),
});

const jobe = (method: string, path: string, body?: unknown, key?: string | null): Promise<Reply> =>
  call(url, method, `${BASE}/${path}`, { headers: coderunner(key === null ? undefined : (key ?? KEYS.moodle)), ...(body !== undefined ? { raw: JSON.stringify(body) } : {}) });

interface RunResult {
  run_id: string | null;
  outcome: number;
  cmpinfo: string;
  stdout: string;
  stderr: string;
}

// As CodeRunner posts a run: its own jobeserver key beside run_spec.
async function run(spec: Record<string, unknown>, key?: string): Promise<RunResult> {
  const reply = await jobe('POST', 'runs', { run_spec: spec, jobeserver: 'cellblock.example' }, key);
  assert.equal(reply.status, 200, describeReply(reply));
  return reply.json as RunResult;
}

const assertJobeError = (reply: Reply, status: number, pattern: RegExp) => {
  assert.equal(reply.status, status, describeReply(reply));
  assert.equal(typeof reply.json, 'string', `a JSON string: ${reply.text}`);
  assert.match(reply.json as string, pattern);
};

before(async () => {
  const dir = tempDir('cb-jobe-');
  const config = writeConfig(dir, {
    apiKeys: [
      { name: 'moodle', sha256: sha256(KEYS.moodle) },
      { name: 'limited', sha256: sha256(KEYS.limited), runsPerHour: LIMITED_RUNS },
      { name: 'busy', sha256: sha256(KEYS.busy), maxActive: 1 },
    ],
    ceilings: { timeMs: 20_000, memoryKb: 1_048_576 },
  });
  const server = await startHttp('serve', ['--data', join(dir, 'data'), '--workers', '2'], serviceEnv({ CELLBLOCK_CONFIG: config, CELLBLOCK_OPEN_MODE: 'false', CELLBLOCK_STORE: join(dir, 'store'), CELLBLOCK_LOG_LEVEL: 'warn' }));
  url = server.url;
});
after(stopAll);

describe('Jobe API (as CodeRunner sends it)', () => {
  it('GET languages lists the available languages as [id, version] under Jobe ids', async () => {
    const reply = await jobe('GET', 'languages');
    assert.equal(reply.status, 200, describeReply(reply));
    const languages = reply.json as [string, string][];
    const ids = languages.map(([id]) => id);
    for (const id of ['c', 'cpp', 'python3', 'java', 'nodejs']) assert.ok(ids.includes(id), `${id} in ${ids.join(',')}`);
    assert.ok(ids.every((id) => ['c', 'cpp', 'java', 'nodejs', 'python3', 'php', 'pascal', 'octave'].includes(id)), ids.join(','));
    assert.ok(languages.every((entry) => entry.length === 2 && /\d/.test(entry[1])), JSON.stringify(languages));
  });

  it('15 OK: stdout and stderr, unknown keys ignored, a newline added to input, runargs passed', async () => {
    const result = await run({
      language_id: 'python3',
      sourcecode: 'import sys\nprint(repr(sys.stdin.read()), sys.argv[1:])\nprint("note", file=sys.stderr)\n',
      sourcefilename: 'prog.py',
      input: 'x',
      parameters: { cputime: 2, runargs: ['a', 'b'], sandboxextra: true },
      debug: false,
    });
    assert.equal(result.outcome, 15, JSON.stringify(result));
    assert.equal(result.stdout, "'x\\n' ['a', 'b']\n");
    assert.equal(result.stderr, 'note\n');
    assert.equal(result.cmpinfo, '');
    assert.equal(typeof result.run_id, 'string');
  });

  it('11 compile error with the compiler output in cmpinfo', async () => {
    const result = await run({ language_id: 'c', sourcecode: 'int main( {' });
    assert.equal(result.outcome, 11);
    assert.match(result.cmpinfo, /error/);
  });

  it('12 runtime error with its stderr', async () => {
    const result = await run({ language_id: 'python3', sourcecode: 'raise ValueError("boom")\n' });
    assert.equal(result.outcome, 12);
    assert.match(result.stderr, /ValueError: boom/);
  });

  it('13 time limit at cputime', async () => {
    const result = await run({ language_id: 'c', sourcecode: 'int main(void) { for (;;) {} }', parameters: { cputime: 1 } });
    assert.equal(result.outcome, 13, JSON.stringify(result));
  });

  it('17 memory limit at memorylimit (Jobe cannot tell one; we can)', async () => {
    const source = '#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); } }';
    const result = await run({ language_id: 'c', sourcecode: source, parameters: { memorylimit: 64 } });
    assert.equal(result.outcome, 17, JSON.stringify(result));
  });

  it('19 illegal system call, named in stderr', async () => {
    const result = await run({ language_id: 'python3', sourcecode: 'import ctypes\nctypes.CDLL(None).syscall(165, 0, 0, 0, 0, 0)\n' });
    assert.equal(result.outcome, 19, JSON.stringify(result));
    assert.match(result.stderr, /mount/);
  });

  it('20 internal error for a run that failed on our side', () => {
    const view = { id: 'x', status: 'done', verdict: 'IE', error: 'compiler: sandbox setup failed', tests: [] } as unknown as Parameters<typeof outcomeOf>[0];
    assert.deepEqual(outcomeOf(view), { outcome: 20, cmpinfo: '', stdout: '', stderr: 'compiler: sandbox setup failed' });
  });

  it('21 server overload when the key has as many runs active as it may', async () => {
    const slow = run({ language_id: 'python3', sourcecode: 'import time\ntime.sleep(3)\n', parameters: { cputime: 5 } }, KEYS.busy);
    await delay(800);
    const second = await run({ language_id: 'python3', sourcecode: 'print(1)\n' }, KEYS.busy);
    assert.equal(second.outcome, 21, JSON.stringify(second));
    assert.equal((await slow).outcome, 15);
  });

  it('output that is not UTF-8 comes back with \\xNN escapes, as Jobe writes it', async () => {
    const source = '#include <stdio.h>\nint main(void) { fputs("caf\\xe9 \\xff\\x01ok\\n", stdout); return 0; }';
    const result = await run({ language_id: 'c', sourcecode: source });
    assert.equal(result.outcome, 15);
    assert.equal(result.stdout, 'caf\\xe9 \\xff\\x01ok\n');
    const utf8 = await run({ language_id: 'python3', sourcecode: 'print("café ✓")\n' });
    assert.equal(utf8.stdout, 'café ✓\n');
  });

  it("Java: the public class named by the source file name, else a compile error", async () => {
    const source = 'public class Prog {\n  public static void main(String[] args) { System.out.println("java " + args.length); }\n}\n';
    const result = await run({ language_id: 'java', sourcecode: source, sourcefilename: 'Prog.java' });
    assert.equal(result.outcome, 15, JSON.stringify(result));
    assert.equal(result.stdout, 'java 0\n');
    const wrong = await run({ language_id: 'java', sourcecode: source, sourcefilename: 'Other.java' });
    assert.equal(wrong.outcome, 11);
    assert.match(wrong.cmpinfo, /Other/);
  });

  it('files: a run naming an uncached file is 404; PUT it (md5 id, base64), HEAD finds it, the run goes through', async () => {
    const data = `${uniqueToken('data')}\n41\n`;
    const id = md5(data);
    const spec = {
      language_id: 'c',
      sourcecode: '#include <stdio.h>\nint main(void) { char tag[200]; int n; FILE *f = fopen("data.txt", "r"); if (!f) return 3; fscanf(f, "%199s %d", tag, &n); printf("%d\\n", n + 1); return 0; }',
      file_list: [[id, 'data.txt']],
    };
    assertJobeError(await jobe('POST', 'runs', { run_spec: spec }), 404, /missing\/unavailable/);
    assert.equal((await jobe('HEAD', `files/${id}`)).status, 404);
    const put = await jobe('PUT', `files/${id}`, { file_contents: Buffer.from(data).toString('base64') });
    assert.equal(put.status, 204, describeReply(put));
    assert.equal((await jobe('HEAD', `files/${id}`)).status, 204);
    const result = await run(spec);
    assert.equal(result.outcome, 15, JSON.stringify(result));
    assert.equal(result.stdout, '42\n');
    // another key's files are its own: it sees none of these
    assert.equal((await jobe('HEAD', `files/${id}`, undefined, KEYS.busy)).status, 404);
    // an interpreted language sees it too, under the name the run gives
    const python = await run({ language_id: 'python3', sourcecode: 'print(open("input.dat").read().split()[1])\n', file_list: [[id, 'input.dat']] });
    assert.equal(python.stdout, '41\n');
  });

  it("Jobe's errors: 400 with a JSON string", async () => {
    assertJobeError(await jobe('POST', 'runs', { jobeserver: 'x' }), 400, /missing or invalid run_spec/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { sourcecode: 'x' } }), 400, /invalid run specification/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c' } }), 400, /invalid run specification/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'cobol', sourcecode: 'x' } }), 400, /Language 'cobol' is not known/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c', sourcecode: 'x', parameters: { cputime: 121 } } }), 400, /cputime exceeds maximum/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c', sourcecode: 'x', file_list: ['abc'] } }), 400, /invalid file specifier/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c', sourcecode: 'x', file_list: [['abc', '../etc/passwd']] } }), 400, /unsafe file name/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c', sourcecode: 'x', file_list: [['abc', '.hidden']] } }), 400, /unsafe file name/);
    assertJobeError(await jobe('PUT', `files/${md5('x')}`, { contents: 'eA==' }), 400, /missing file_contents/);
    assertJobeError(await jobe('PUT', `files/${md5('x')}`, { file_contents: '***' }), 400, /not base64/);
    assertJobeError(await jobe('GET', 'runs/12345'), 404, /no such run/);
  });

  it('X-API-KEY: 403 without a key or with an unknown one, 429 past the runs an hour', async () => {
    assertJobeError(await jobe('GET', 'languages', undefined, null), 403, /API key/);
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'c', sourcecode: 'x' } }, uniqueToken('nobody')), 403, /unknown API key/);
    assert.equal((await jobe('HEAD', `files/${md5('x')}`, undefined, null)).status, 403);
    for (let i = 0; i < LIMITED_RUNS; i++) {
      assert.equal((await run({ language_id: 'python3', sourcecode: 'print(1)\n' }, KEYS.limited)).outcome, 15);
    }
    assertJobeError(await jobe('POST', 'runs', { run_spec: { language_id: 'python3', sourcecode: 'print(1)\n' } }, KEYS.limited), 429, /runs an hour/);
    // the limit counts runs, not other requests
    assert.equal((await jobe('GET', 'languages', undefined, KEYS.limited)).status, 200);
  });
});
