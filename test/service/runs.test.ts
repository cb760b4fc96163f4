// Runs over the API end to end, on one `cellblock serve`: a plug-in given a tree
// of inputs in every form (inline text, base64, a tar archive, a hash uploaded
// before) whose report and artifacts come back (inline when small, by hash
// otherwise); an imported image; every refusal a clear 4xx; output streamed as
// written; a minutes-long run cancelled midway leaving nothing behind; webhooks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { compileStatic, makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { layerTar, PROBE_SOURCE, writeImage } from '../helpers/images.js';
import {
  assertError,
  call,
  describeReply,
  eventuallyTrue,
  EventStream,
  Receiver,
  sandboxPidsBelow,
  type Service,
  serviceEnv,
  startHttp,
  stopAll,
  tempDir,
} from './helpers.js';

interface RunFile {
  path: string;
  mode: number;
  size: number;
  sha256: string;
  base64?: string;
}
interface RunView {
  id: string;
  status: 'queued' | 'running' | 'done' | 'cancelled';
  result?: { status: string; stdout: string; stderr: string; exitCode: number | null; files?: RunFile[]; refused?: { path: string; reason: string }[] };
}

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

const PLUGIN = `
import json, os, sys
report = {'stdin': sys.stdin.read(), 'files': {}}
for root, dirs, files in os.walk('src'):
    for name in files:
        path = os.path.join(root, name)
        report['files'][path] = open(path, 'rb').read().decode('latin1')
os.makedirs('out/deep/er', exist_ok=True)
json.dump(report, open('out/report.json', 'w'), sort_keys=True)
open('out/deep/er/big.bin', 'wb').write(bytes(range(256)) * 400)
os.symlink('/etc/shadow', 'out/leak')
print('plugin done')
`;

describe('service: runs (POST /v1/runs)', () => {
  let server: Service;
  let base: string;
  let fixtures: string;
  let store: string;
  let receiver: Receiver;
  let probe: string;

  before(async () => {
    receiver = new Receiver();
    await receiver.listen();
    fixtures = makeFixtureDir();
    probe = compileStatic(fixtures, 'probe', PROBE_SOURCE);
    // a root the operator prepared by hand, named in the config
    const prepared = join(fixtures, 'prepared');
    mkdirSync(join(prepared, 'bin'), { recursive: true });
    mkdirSync(join(prepared, 'etc'), { recursive: true });
    writeFileSync(join(prepared, 'bin', 'cellblock-probe'), readFileSync(probe), { mode: 0o755 });
    writeFileSync(join(prepared, 'etc', 'os-release'), 'ID=prepared\n');
    const dir = tempDir();
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ rootfs: { tiny: prepared } }));
    store = join(dir, 'store');
    server = await startHttp(
      'serve',
      ['--data', join(dir, 'data'), '--workers', '2'],
      serviceEnv({ CELLBLOCK_STORE: store, CELLBLOCK_WAIT_MS: '20000', CELLBLOCK_CONFIG: config }),
    );
    base = server.url;
  });

  after(async () => {
    await receiver?.close();
    await stopAll();
    removeFixtureDir(fixtures);
  });

  const post = (body: unknown, query = '') => call(base, 'POST', `/v1/runs${query}`, { body });
  const done = (reply: { status: number; json: unknown; text: string }): RunView => {
    assert.equal(reply.status, 200, describeReply(reply as Parameters<typeof describeReply>[0]));
    const view = reply.json as RunView;
    assert.equal(view.status, 'done');
    return view;
  };

  it('a plug-in gets its inputs in every form; its report and artifacts come back, inline when small, by hash otherwise', async () => {
    const uploaded = 'uploaded before\n';
    const put = await call(base, 'PUT', `/v1/files/${sha(uploaded)}`, { raw: uploaded });
    assert.equal(put.status, 201, describeReply(put));
    const archiveDir = join(fixtures, 'archive');
    mkdirSync(join(archiveDir, 'src', 'tree'), { recursive: true });
    writeFileSync(join(archiveDir, 'src', 'tree', 'from-tar.txt'), 'from the archive\n');
    const archive = await layerTar(archiveDir);
    const view = done(
      await post(
        {
          argv: [PYTHON, 'plugin.py'],
          stdin: { text: 'standard input' },
          files: [
            { path: 'plugin.py', text: PLUGIN },
            { path: 'src/inline.txt', text: 'inline text\n' },
            { path: 'src/b64.bin', base64: Buffer.from([0, 1, 2, 255]).toString('base64') },
            { path: 'src/by/hash.txt', sha256: sha(uploaded) },
          ],
          archive: { base64: archive.toString('base64') },
          collect: ['out/**'],
          limits: { wallMs: 20_000 },
        },
        '?wait=true',
      ),
    );
    const result = view.result!;
    assert.equal(result.status, 'ok', JSON.stringify(result));
    assert.equal(result.stdout, 'plugin done\n');
    const files = new Map((result.files ?? []).map((file) => [file.path, file]));
    const report = JSON.parse(Buffer.from(files.get('out/report.json')!.base64!, 'base64').toString('utf8')) as { stdin: string; files: Record<string, string> };
    assert.deepEqual(report, {
      stdin: 'standard input',
      files: {
        'src/b64.bin': '\u0000\u0001\u0002\u00ff',
        'src/by/hash.txt': uploaded,
        'src/inline.txt': 'inline text\n',
        'src/tree/from-tar.txt': 'from the archive\n',
      },
    });
    const big = files.get('out/deep/er/big.bin')!;
    assert.equal(big.size, 256 * 400);
    assert.equal(big.base64, undefined, 'over the inline size: by hash only');
    const fetched = await fetch(`${base}/v1/files/${big.sha256}`);
    assert.equal(fetched.status, 200);
    const bytes = Buffer.from(await fetched.arrayBuffer());
    assert.equal(sha(bytes), big.sha256);
    assert.deepEqual(result.refused, [{ path: 'out/leak', reason: 'a link or a mount point' }]);
  });

  it('runs a program that exists only in an imported image, or in a root the operator prepared and named', async () => {
    const layer = join(fixtures, 'layer');
    mkdirSync(join(layer, 'bin'), { recursive: true });
    writeFileSync(join(layer, 'bin', 'cellblock-probe'), readFileSync(probe), { mode: 0o755 });
    writeFileSync(join(layer, 'marker'), 'in the image\n');
    const image = await writeImage([layer], join(fixtures, 'image'), 'oci');
    const imported = await runCli(['image', 'import', image.tarball], { ...process.env, CELLBLOCK_STORE: store });
    assert.equal(imported.code, 0, imported.stderr);
    const view = done(await post({ argv: ['/bin/cellblock-probe', '/marker', '/usr'], image: image.digest }, '?wait=true'));
    assert.equal(view.result?.stdout, '/marker: file in the image\n/usr: missing\n');
    const prepared = done(await post({ argv: ['/bin/cellblock-probe', '/etc/os-release', '/usr'], rootfs: 'tiny' }, '?wait=true'));
    assert.equal(prepared.result?.stdout, '/etc/os-release: file ID=prepared\n/usr: missing\n');
  });

  it('refusals are clear 4xx errors', async () => {
    assertError(await call(base, 'PUT', `/v1/files/${sha('x')}`, { raw: 'not x' }), 400, 'INVALID_REQUEST');
    assertError(await call(base, 'GET', `/v1/files/${sha('never stored')}`), 404, 'NOT_FOUND');
    assertError(await post({ argv: ['/bin/true'], image: `sha256:${'1'.repeat(64)}` }), 422, 'IMAGE_NOT_FOUND');
    assertError(await post({ argv: ['/bin/true'], image: 'ubuntu:latest' }), 400, 'INVALID_REQUEST');
    assertError(await post({ argv: ['/bin/true'], rootfs: 'nosuch' }), 422, 'ROOTFS_NOT_FOUND');
    assertError(await post({ argv: ['/bin/true'], rootfs: '/' }), 422, 'ROOTFS_NOT_FOUND');
    assertError(await post({ argv: ['/bin/cat', 'x'], files: [{ path: 'x', sha256: sha('never uploaded') }] }), 422, 'FILE_NOT_FOUND');
    assertError(await post({ argv: ['/bin/true'], limits: { wallMs: 3_600_000 } }), 422, 'LIMIT_ABOVE_CEILING');
    assertError(await post({ argv: ['/bin/true'], collect: ['../etc/shadow'] }), 400, 'INVALID_REQUEST');
    assertError(await post({ argv: ['/bin/true'], files: [{ path: '/etc/passwd', text: 'x' }] }), 400, 'INVALID_REQUEST');
    const linkDir = join(fixtures, 'linked');
    mkdirSync(linkDir, { recursive: true });
    symlinkSync('/etc/shadow', join(linkDir, 'shadow'));
    const withLink = await layerTar(linkDir);
    assertError(await post({ argv: ['/bin/true'], archive: { base64: withLink.toString('base64') } }), 400, 'INVALID_REQUEST');
    assertError(await call(base, 'GET', '/v1/runs/nosuchrunnosuchrun'), 404, 'NOT_FOUND');
  });

  it('streams stdout and stderr as the program writes them', async () => {
    const reply = await post({ argv: ['/bin/sh', '-c', 'echo first; echo warn >&2; sleep 2; echo second'], limits: { wallMs: 20_000 } });
    assert.equal(reply.status, 202, describeReply(reply));
    const { id } = reply.json as RunView;
    const events = await EventStream.open(base, id, {}, 'runs');
    try {
      await events.waitFor((event) => event.event === 'output' && JSON.stringify(event.data).includes('first'), 15_000);
      const now = (await call(base, 'GET', `/v1/runs/${id}`)).json as RunView;
      assert.equal(now.status, 'running', 'the first line came while the run was still running');
      await events.waitFor((event) => event.event === 'output' && (event.data as { stream: string }).stream === 'stderr', 5_000);
      const final = await events.waitFor((event) => event.event === 'done', 15_000);
      const outputs = events.events.filter((event) => event.event === 'output').map((event) => event.data as { stream: string; data: string });
      assert.equal(outputs.filter((o) => o.stream === 'stdout').map((o) => o.data).join(''), 'first\nsecond\n');
      assert.equal((final.data as { run: RunView }).run.result?.stdout, 'first\nsecond\n');
      assert.ok(await events.endsWithin(5_000));
    } finally {
      events.close();
    }
  });

  it('a minutes-long run cancelled midway: cancelled, its sandbox and cgroups gone, nothing written over it', async () => {
    // a line every second: one printed before the stream subscribed is not replayed
    const reply = await post({ argv: ['/bin/sh', '-c', 'while :; do echo running; sleep 1; done'], limits: { wallMs: 400_000, cpuMs: 60_000 } });
    const { id } = reply.json as RunView;
    const events = await EventStream.open(base, id, {}, 'runs');
    try {
      await events.waitFor((event) => event.event === 'output', 20_000);
      assert.ok(sandboxPidsBelow(server.pid).length > 0, 'control: the sandbox runs');
      assert.ok(runCgroups(server.pid).length > 0, 'control: its cgroup exists');
      const cancelled = await call(base, 'DELETE', `/v1/runs/${id}`);
      assert.equal((cancelled.json as RunView).status, 'cancelled', describeReply(cancelled));
      assert.ok(await eventuallyTrue(() => sandboxPidsBelow(server.pid).length === 0, 5_000), `left: ${sandboxPidsBelow(server.pid).join(', ')}`);
      assert.ok(await eventuallyTrue(() => runCgroups(server.pid).length === 0, 5_000), `cgroups left: ${runCgroups(server.pid).join(', ')}`);
      await events.waitFor((event) => event.event === 'done', 5_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(((await call(base, 'GET', `/v1/runs/${id}`)).json as RunView).status, 'cancelled');
    } finally {
      events.close();
    }
  });

  it('the result is POSTed to the callback URL when the run ends', async () => {
    const reply = await post({ argv: ['/bin/sh', '-c', 'echo hook'], callbackUrl: `${receiver.url}/runs` });
    const { id } = reply.json as RunView;
    assert.ok(await eventuallyTrue(() => receiver.to('/runs').length > 0, 20_000), 'no delivery');
    const body = JSON.parse(receiver.to('/runs')[0]!.body) as RunView;
    assert.equal(body.id, id);
    assert.equal(body.status, 'done');
    assert.equal(body.result?.stdout, 'hook\n');
  });
});

// The server's run cgroups (run-<pid>-<n>) in the memory hierarchy (v1) or the
// unified one (v2).
function runCgroups(pid: number): string[] {
  const found: string[] = [];
  for (const parent of ['/sys/fs/cgroup/memory/cellblock', '/sys/fs/cgroup/cellblock']) {
    try {
      found.push(...readdirSync(parent).filter((name) => name.startsWith(`run-${pid}-`)));
    } catch {
      // no such hierarchy here
    }
  }
  return found;
}
