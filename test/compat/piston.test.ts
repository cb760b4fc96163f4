// Piston v2's API, driven by the real npm piston-client package.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { piston } from 'piston-client';
import { startServer, type Server } from './server.js';

let server: Server;
before(async () => {
  server = await startServer();
});
after(async () => server.stop());

interface Stage {
  stdout: string;
  stderr: string;
  output: string;
  code: number | null;
  signal: string | null;
  status: string | null;
}
interface Executed {
  language: string;
  version: string;
  run: Stage;
  compile?: Stage;
  message?: string;
}

const solutions = fileURLToPath(new URL('../../../examples/aplusb/solutions/', import.meta.url));
// Piston's language name → the example's AC solution
const EXAMPLES: Record<string, string> = {
  c: 'ac.c',
  'c++': 'ac.cpp',
  python: 'ac.py',
  javascript: 'ac.js',
  java: 'Ac.java',
  rust: 'ac.rs',
  bash: 'ac.sh',
  go: 'ac.go',
  ruby: 'ac.rb',
  php: 'ac.php',
  pascal: 'ac.pas',
};

describe('Piston v2 compatibility (piston-client)', () => {
  it('lists runtimes', async () => {
    const client = piston({ server: server.url });
    const runtimes = (await client.runtimes()) as { language: string; version: string; aliases: string[] }[];
    assert.deepEqual(runtimes.map((r) => r.language).sort(), Object.keys(EXAMPLES).sort());
    assert.ok(runtimes.every((r) => /^\d+\.\d+/.test(r.version) && Array.isArray(r.aliases)));
  });

  for (const [language, file] of Object.entries(EXAMPLES)) {
    it(`executes ${language}`, async () => {
      const client = piston({ server: server.url });
      const result = (await client.execute(language, readFileSync(`${solutions}${file}`, 'utf8'), { stdin: '1 2', args: [] })) as Executed;
      assert.equal(result.language, language, JSON.stringify(result));
      assert.equal(result.run.stdout.trim(), '3', JSON.stringify(result));
      assert.equal(result.run.code, 0);
      assert.equal(result.run.status, null);
    });
  }

  it('passes args and adds the missing stdin newline', async () => {
    const client = piston({ server: server.url });
    const result = (await client.execute('python', 'import sys\nprint(repr(sys.stdin.read()), sys.argv[1:])', { stdin: 'x', args: ['a', 'b'] })) as Executed;
    assert.equal(result.run.stdout, "'x\\n' ['a', 'b']\n");
  });

  it('a compile error: run mirrors compile', async () => {
    const client = piston({ server: server.url });
    const result = (await client.execute('c++', 'int main( {')) as Executed;
    assert.ok(result.compile);
    assert.equal(result.compile.code, 1);
    assert.match(result.compile.stderr, /error/);
    assert.deepEqual(result.run, result.compile);
  });

  it('a runtime error and a timeout carry Piston statuses', async () => {
    const client = piston({ server: server.url });
    const crashed = (await client.execute('python', 'import sys\nsys.exit(4)')) as Executed;
    assert.equal(crashed.run.code, 4);
    assert.equal(crashed.run.status, 'RE');
    const slow = (await client.execute('python', 'while True: pass', { runTimeout: 500 })) as Executed;
    assert.equal(slow.run.status, 'TO');
  });

  it('refuses an unknown runtime and a limit over the configured one with 400 {message}', async () => {
    const post = (body: object) => fetch(`${server.url}/api/v2/execute`, { method: 'POST', body: JSON.stringify(body) });
    const unknown = await post({ language: 'cobol', version: '*', files: [{ content: 'x' }] });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { message: string }).message, /runtime is unknown/);
    const over = await post({ language: 'python', version: '*', files: [{ content: 'x' }], run_timeout: 10_000_000 });
    assert.equal(over.status, 400);
    assert.match(((await over.json()) as { message: string }).message, /run_timeout cannot exceed/);
  });

  it('offers no package management', async () => {
    const response = await fetch(`${server.url}/api/v2/packages`);
    assert.equal(response.status, 404);
  });
});
