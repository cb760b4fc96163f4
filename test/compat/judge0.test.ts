// Judge0 CE's API, driven with requests as its documentation shows them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer, type Server } from './server.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(async () => server.stop());

interface Judge0Result {
  token: string;
  stdout: string | null;
  stderr: string | null;
  compile_output: string | null;
  message: string | null;
  exit_code: number | null;
  exit_signal: number | null;
  status: { id: number; description: string };
  time: string | null;
  memory: number | null;
}

async function submit(body: object, query = 'base64_encoded=false&wait=true', headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/submissions?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Judge0Result & Record<string, unknown> };
}

const C = 50;
const CPP = 54;
const PYTHON = 71;

describe('Judge0 CE compatibility', () => {
  it('runs the documentation example and compares like Judge0 (trailing whitespace)', async () => {
    const { status, body } = await submit({
      source_code: '#include <stdio.h>\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}',
      language_id: C,
      stdin: 'world',
      expected_output: 'hello, world',
    });
    assert.equal(status, 201);
    assert.deepEqual(body.status, { id: 3, description: 'Accepted' });
    assert.equal(body.stdout, 'hello, world\n');
    assert.match(body.time ?? '', /^\d+\.\d{3}$/);
    assert.ok((body.memory ?? 0) > 0);
  });

  it('without wait answers a token, and GET shows the result with the default fields', async () => {
    const { status, body } = await submit({ source_code: 'print(input()[::-1])', language_id: PYTHON, stdin: 'abc' }, 'base64_encoded=false');
    assert.equal(status, 201);
    assert.deepEqual(Object.keys(body), ['token']);
    let result: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) {
      result = (await (await fetch(`${server.url}/submissions/${body.token}?base64_encoded=false`)).json()) as Record<string, unknown>;
      if ((result.status as { id: number }).id > 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(Object.keys(result).sort(), ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
    assert.equal(result.stdout, 'cba\n');
    const some = (await (await fetch(`${server.url}/submissions/${body.token}?fields=stdout,status_id`)).json()) as Record<string, unknown>;
    assert.deepEqual(some, { stdout: 'cba\n', status_id: 3 });
  });

  it('base64 both ways', async () => {
    const encode = (text: string) => Buffer.from(text).toString('base64');
    const { body } = await submit(
      { source_code: encode('print(input().upper())'), language_id: PYTHON, stdin: encode('judge'), expected_output: encode('JUDGE') },
      'base64_encoded=true&wait=true',
    );
    assert.equal(body.status.id, 3);
    assert.equal(Buffer.from(body.stdout ?? '', 'base64').toString(), 'JUDGE\n');
  });

  it('runs the A+B example in every language Judge0 ids name', async () => {
    const examples = fileURLToPath(new URL('../../../examples/aplusb/solutions/', import.meta.url));
    const byId: Record<number, string> = { 50: 'ac.c', 54: 'ac.cpp', 71: 'ac.py', 63: 'ac.js', 62: 'Ac.java', 73: 'ac.rs', 46: 'ac.sh', 60: 'ac.go', 72: 'ac.rb', 68: 'ac.php', 67: 'ac.pas' };
    const listed = (await (await fetch(`${server.url}/languages`)).json()) as { id: number }[];
    assert.deepEqual(listed.map((l) => l.id).sort((a, b) => a - b), Object.keys(byId).map(Number).sort((a, b) => a - b));
    for (const [id, file] of Object.entries(byId)) {
      const { body } = await submit({ source_code: readFileSync(`${examples}${file}`, 'utf8'), language_id: Number(id), stdin: '1 2\n', expected_output: '3' });
      assert.equal(body.status.id, 3, `${file}: ${JSON.stringify(body)}`);
    }
  });

  it('maps verdicts to Judge0 statuses', async () => {
    const cases: [object, number, RegExp | null][] = [
      [{ source_code: 'print(1)', language_id: PYTHON, expected_output: '2' }, 4, null],
      [{ source_code: 'int main( {', language_id: CPP }, 6, null],
      [{ source_code: 'while True: pass', language_id: PYTHON, cpu_time_limit: 0.5 }, 5, null],
      [{ source_code: 'int main(){int *p=0;return *p;}', language_id: C }, 7, null],
      [{ source_code: 'import sys\nsys.exit(3)', language_id: PYTHON }, 11, /3/],
      [{ source_code: '#include <stdlib.h>\n#include <string.h>\nint main(){for(;;){char*p=malloc(1<<20);memset(p,1,1<<20);}}', language_id: C, memory_limit: 65536 }, 12, /Memory limit/],
    ];
    for (const [request, id, message] of cases) {
      const { body } = await submit(request);
      assert.equal(body.status.id, id, JSON.stringify(body));
      if (message) assert.match(body.message ?? '', message);
      if (id === 6) assert.match(body.compile_output ?? '', /error/);
    }
  });

  it('refuses what it cannot do with 422 and field messages', async () => {
    const unknown = await submit({ source_code: 'x', language_id: 9999 });
    assert.equal(unknown.status, 422);
    assert.ok(Array.isArray(unknown.body.language_id));
    const network = await submit({ source_code: 'x', language_id: PYTHON, enable_network: true });
    assert.equal(network.status, 422);
    assert.ok(Array.isArray(network.body.enable_network));
    const tooLong = await submit({ source_code: 'x', language_id: PYTHON, cpu_time_limit: 100 });
    assert.equal(tooLong.status, 422);
    assert.ok(Array.isArray(tooLong.body.cpu_time_limit));
  });

  it('batches: POST then GET by tokens', async () => {
    const response = await fetch(`${server.url}/submissions/batch?base64_encoded=false`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ submissions: [{ source_code: 'print(1)', language_id: PYTHON }, { source_code: 'print(2)', language_id: PYTHON }] }),
    });
    assert.equal(response.status, 201);
    const tokens = ((await response.json()) as { token: string }[]).map((t) => t.token);
    assert.equal(tokens.length, 2);
    let results: Judge0Result[] = [];
    for (let i = 0; i < 100; i++) {
      const got = (await (await fetch(`${server.url}/submissions/batch?tokens=${tokens.join(',')}&base64_encoded=false`)).json()) as { submissions: Judge0Result[] };
      results = got.submissions;
      if (results.every((r) => r.status.id > 2)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(results.map((r) => r.stdout), ['1\n', '2\n']);
  });

  it('lists languages, statuses and its configuration', async () => {
    const languages = (await (await fetch(`${server.url}/languages`)).json()) as { id: number; name: string }[];
    for (const id of [C, CPP, PYTHON, 62, 63, 73, 46, 60]) assert.ok(languages.some((l) => l.id === id), `language ${id}`);
    const one = (await (await fetch(`${server.url}/languages/${CPP}`)).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(one).sort(), ['compile_cmd', 'id', 'is_archived', 'name', 'run_cmd', 'source_file']);
    const statuses = (await (await fetch(`${server.url}/statuses`)).json()) as { id: number }[];
    assert.deepEqual(statuses.map((s) => s.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const config = (await (await fetch(`${server.url}/config_info`)).json()) as Record<string, unknown>;
    assert.equal(config.enable_network, false);
  });
});
