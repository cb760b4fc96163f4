// What CI plug-ins need from a run: output as it is written (not only at the
// end), with the same cap, and from the CLI a tree copied in and the collected
// tree written out.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { runCli } from '../helpers/cli.js';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';

describe('plug-in runs: live output, trees in and out', () => {
  let fixtures: string;

  before(() => {
    fixtures = makeFixtureDir();
  });

  after(() => removeFixtureDir(fixtures));

  it('stdout and stderr arrive as the program writes them, before it ends', async () => {
    const seen: { stream: string; text: string; at: number }[] = [];
    const started = Date.now();
    const result = await run(
      { argv: ['/bin/sh', '-c', 'echo first; echo oops >&2; sleep 1; echo second'], limits: { wallMs: 10_000 } },
      { onOutput: (stream, chunk) => seen.push({ stream, text: chunk.toString(), at: Date.now() - started }) },
    );
    const ended = Date.now() - started;
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'first\nsecond\n');
    assert.equal(result.stderr, 'oops\n');
    const first = seen.find((event) => event.text.includes('first'));
    const oops = seen.find((event) => event.stream === 'stderr');
    assert.ok(first && first.at < ended - 700, `first line at ${first?.at} ms, the run ended at ${ended} ms`);
    assert.ok(oops && oops.at < ended - 700, 'stderr streamed too');
    assert.equal(seen.filter((event) => event.stream === 'stdout').map((event) => event.text).join(''), 'first\nsecond\n');
  });

  it('streamed output keeps the cap: past it the run stops with output_limit, or is truncated when asked', async () => {
    let streamed = 0;
    const stopped = await run(
      { argv: ['/bin/sh', '-c', 'while :; do echo yes; done'], limits: { outputKb: 16, wallMs: 10_000 } },
      { onOutput: (_stream, chunk) => (streamed += chunk.length) },
    );
    assert.equal(stopped.status, 'output_limit');
    assert.equal(stopped.stdout.length, 16 * 1024);
    assert.equal(streamed, 16 * 1024);
    const truncated = await run(
      { argv: ['/bin/sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" y; echo done >&2'], limits: { outputKb: 16 }, truncateOutput: true },
      { onOutput: () => undefined },
    );
    assert.equal(truncated.status, 'ok');
    assert.equal(truncated.stdout.length, 16 * 1024);
    assert.equal(truncated.stderr, 'done\n');
  });

  it('cellblock run copies a tree in and writes the collected tree out (--copy-in DIR, --collect, --out)', async () => {
    const src = join(fixtures, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'lib', 'b.sh'), 'echo bee\n', { mode: 0o755 });
    const out = join(fixtures, 'out');
    const script = 'mkdir -p out/nested && cat in/a.txt > out/report.txt && sh in/lib/b.sh > out/nested/b.out && ln -s /etc/shadow out/leak && test -x in/lib/b.sh && echo ok';
    const ran = await runCli(['run', '--copy-in', `${src}:in`, '--collect', 'out/**', '--out', out, '--', '/bin/sh', '-c', script]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'ok\n');
    assert.equal(readFileSync(join(out, 'out', 'report.txt'), 'utf8'), 'alpha\n');
    assert.equal(readFileSync(join(out, 'out', 'nested', 'b.out'), 'utf8'), 'bee\n');
    assert.ok(!existsSync(join(out, 'out', 'leak')));
    assert.match(ran.stderr, /not collected: out\/leak: a link or a mount point/);
    const json = await runCli(['run', '--copy-in', `${src}:in`, '--collect', 'in/**', '--out', join(fixtures, 'again'), '--json', '--', '/bin/true']);
    const result = JSON.parse(json.stdout) as { files: { path: string; mode: number; size: number }[] };
    assert.deepEqual(result.files, [
      { path: 'in/a.txt', mode: 0o644, size: 6 },
      { path: 'in/lib/b.sh', mode: 0o755, size: 9 },
    ]);
    assert.equal(statSync(join(fixtures, 'again', 'in', 'lib', 'b.sh')).mode & 0o777, 0o755);
  });
});
