// Root filesystems of the user's choosing: an OCI image written by hand (two
// layers, the second removing a file and replacing a directory whole) imported
// as an OCI layout and as a docker archive, and a root dir prepared by hand (a
// static program and its directories: debootstrap needs a mirror). Each runs a
// program that exists only inside it, read-only, with the work dir on top.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { imageStore } from '../../images/images.js';
import { run } from '../../sandbox/run.js';
import { runCli } from '../helpers/cli.js';
import { compileStatic, makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import { PROBE_SOURCE, writeImage } from '../helpers/images.js';

describe('root filesystems: OCI images and prepared dirs', () => {
  let fixtures: string;
  let store: string;
  let env: NodeJS.ProcessEnv;
  let probe: string;
  let oci: { tarball: string; digest: string };
  let docker: { tarball: string; digest: string };

  before(async () => {
    fixtures = makeFixtureDir();
    store = join(fixtures, 'store');
    env = { ...process.env, CELLBLOCK_STORE: store };
    probe = compileStatic(fixtures, 'probe', PROBE_SOURCE);
    const lower = join(fixtures, 'layer1');
    const upper = join(fixtures, 'layer2');
    for (const dir of ['bin', 'etc', 'data/old']) mkdirSync(join(lower, dir), { recursive: true });
    writeFileSync(join(lower, 'bin', 'cellblock-probe'), readFileSync(probe), { mode: 0o755 });
    writeFileSync(join(lower, 'etc', 'os-release'), 'ID=layer1\n');
    writeFileSync(join(lower, 'etc', 'removed.txt'), 'removed by the upper layer\n');
    writeFileSync(join(lower, 'data', 'old', 'a.txt'), 'a\n');
    writeFileSync(join(lower, 'data', 'keep.txt'), 'kept\n');
    for (const dir of ['etc', 'data/old']) mkdirSync(join(upper, dir), { recursive: true });
    writeFileSync(join(upper, 'etc', 'os-release'), 'ID=layer2\n');
    writeFileSync(join(upper, 'etc', '.wh.removed.txt'), '');
    writeFileSync(join(upper, 'data', 'old', '.wh..wh..opq'), '');
    writeFileSync(join(upper, 'data', 'old', 'b.txt'), 'b\n');
    oci = await writeImage([lower, upper], join(fixtures, 'oci-out'), 'oci');
    docker = await writeImage([lower, upper], join(fixtures, 'docker-out'), 'docker', 'plugin/probe:1');
  });

  after(() => removeFixtureDir(fixtures));

  const PROBED = ['/etc/os-release', '/etc/removed.txt', '/data/old', '/data/keep.txt', '/usr', '+/etc/new', '+/box/new'];
  const EXPECTED = [
    '/etc/os-release: file ID=layer2', // the upper layer's
    '/etc/removed.txt: missing', // a whiteout
    '/data/old: dir b.txt', // an opaque directory: a.txt is gone
    '/data/keep.txt: file kept',
    '/usr: missing', // nothing of the host's
    '+/etc/new: Read-only file system',
    '+/box/new: created',
    '',
  ].join('\n');

  it('imports an OCI layout, lists it, and runs a program only the image has, its whiteouts applied', async () => {
    assert.ok(!existsSync('/bin/cellblock-probe'), 'control: the host has no such program');
    const imported = await runCli(['image', 'import', oci.tarball], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout.trim(), oci.digest);
    const listed = await runCli(['image', 'ls', '--json'], env);
    const records = JSON.parse(listed.stdout) as { digest: string; layers: string[] }[];
    assert.deepEqual(records.map((record) => [record.digest, record.layers.length]), [[oci.digest, 2]]);
    const ran = await runCli(['run', '--image', oci.digest, '--json', '--', '/bin/cellblock-probe', ...PROBED], env);
    assert.equal(ran.code, 0, ran.stderr);
    const result = JSON.parse(ran.stdout) as { status: string; stdout: string };
    assert.equal(result.status, 'ok', ran.stdout);
    assert.equal(result.stdout, EXPECTED);
  });

  it('imports the same image as a docker archive: one digest, the layers stored once', async () => {
    assert.equal(docker.digest, oci.digest, 'control: one config');
    const imported = await runCli(['image', 'import', docker.tarball], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout.trim(), docker.digest);
    const images = imageStore(store);
    const [record] = await images.list();
    assert.deepEqual(record?.tags, ['plugin/probe:1']);
    const layers = await images.layers(docker.digest);
    assert.equal(layers.length, 2);
    const result = await run({ argv: ['/bin/cellblock-probe', ...PROBED], rootLayers: layers });
    assert.equal(result.stdout, EXPECTED);
  });

  it('an unknown digest, a malformed digest and a tampered tarball are clear errors', async () => {
    const unknown = await runCli(['run', '--image', `sha256:${'0'.repeat(64)}`, '--', '/bin/true'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /IMAGE_NOT_FOUND/);
    const malformed = await runCli(['run', '--image', 'latest', '--', '/bin/true'], env);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /IMAGE_NOT_FOUND/);
    const bad = join(fixtures, 'bad.tar');
    writeFileSync(bad, readFileSync(oci.tarball).subarray(0, 2048));
    const refused = await runCli(['image', 'import', bad], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /IMAGE_INVALID/);
  });

  it('rm removes the image and its layers', async () => {
    const images = imageStore(store);
    const layers = await images.layers(oci.digest);
    const removed = await runCli(['image', 'rm', oci.digest], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(await images.list(), []);
    for (const layer of layers) assert.ok(!existsSync(layer), layer);
    const again = await runCli(['image', 'rm', oci.digest], env);
    assert.equal(again.code, 1);
  });

  it('runs in a root dir prepared by hand, read-only, with the work dir and copied files on top', async () => {
    const root = join(fixtures, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'bin', 'cellblock-probe'), readFileSync(probe), { mode: 0o755 });
    writeFileSync(join(root, 'etc', 'os-release'), 'ID=prepared\n');
    const input = join(fixtures, 'input.txt');
    writeFileSync(input, 'copied in\n');
    const ran = await runCli(['run', '--rootfs', root, '--copy-in', `${input}:in/input.txt`, '--', '/bin/cellblock-probe', '/etc/os-release', '/box/in/input.txt', '/usr', '+/bin/x'], env);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, '/etc/os-release: file ID=prepared\n/box/in/input.txt: file copied in\n/usr: missing\n+/bin/x: Read-only file system\n');
    assert.ok(!existsSync(join(root, 'bin', 'x')) && !existsSync(join(root, 'box')), 'the prepared dir is untouched');
  });

  // Over a prepared root the mount points of read-only paths are made in its
  // top layer, before the work dir's tmpfs covers /box and /tmp; and a path
  // nested in one bound before it is there already, read-only.
  it('read-only paths over a prepared root: one under /tmp (the work dir\'s tmpfs), and ones nested in it', async () => {
    const root = join(fixtures, 'rootfs-ro');
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, 'bin', 'cellblock-probe'), readFileSync(probe), { mode: 0o755 });
    const bound = mkdtempSync('/tmp/cb-root-ro-');
    chmodSync(bound, 0o755); // mkdtemp makes it 0700, closed to the program
    try {
      mkdirSync(join(bound, 'sub'));
      writeFileSync(join(bound, 'f'), 'under tmp\n');
      writeFileSync(join(bound, 'sub', 'g'), 'nested\n');
      const result = await run({
        argv: ['/bin/cellblock-probe', `${bound}/f`, `${bound}/sub/g`, `+${bound}/new`],
        rootLayers: [root],
        readOnly: [bound, join(bound, 'f'), join(bound, 'sub')],
      });
      assert.equal(result.status, 'ok', result.error?.message ?? result.stderr);
      assert.equal(result.stdout, `${bound}/f: file under tmp\n${bound}/sub/g: file nested\n+${bound}/new: Read-only file system\n`);
    } finally {
      rmSync(bound, { recursive: true, force: true });
    }
  });

  it('a root that is not a directory, or holds the sandbox\'s own staging dir, is refused with the reason', async () => {
    for (const [layer, reason] of [
      ['/', /holds the sandbox's own staging dir/],
      ['/run', /holds the sandbox's own staging dir/],
      [join(fixtures, 'probe.c'), /not a directory/],
    ] as const) {
      const result = await run({ argv: ['/bin/true'], rootLayers: [layer] });
      assert.equal(result.status, 'internal_error', layer);
      assert.equal(result.error?.code, 'PATH_NOT_FOUND', layer);
      assert.match(result.error?.message ?? '', reason);
    }
  });
});
