// Runs of the same shape take sandboxes built ahead of them, reset after each run
// for the next (native/warm.cc, native/reset.cc): nothing one run leaves — files,
// the work dir's mode, a unix socket, SysV IPC objects, a process, its pids,
// memory and CPU in its cgroup — may be visible to the next. Each run leaves all
// of them behind, then the next of the same shape looks for every one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { releaseWarmSandboxes, run, sandboxPoolStats } from '../../sandbox/run.js';
import type { RunSpec } from '../../sandbox/schema.js';
import { PYTHON } from '../helpers/fixtures.js';

// Leaves a file in /box and /tmp, a bound abstract unix socket held by a
// daemon, a SysV shared memory segment, message queue and semaphore set, and
// 64 MiB touched; then reports what the run before it left.
const LEAVE_AND_LOOK = String.raw`
import os, socket, subprocess, sys
seen = {
  'box': sorted(os.listdir('/box')),
  'tmp': sorted(os.listdir('/tmp')),
  'unix': [line.split()[-1] for line in open('/proc/net/unix').read().splitlines()[1:] if len(line.split()) > 7],
  'sysvipc': {kind: open('/proc/sysvipc/' + kind).read().splitlines()[1:] for kind in ('shm', 'msg', 'sem')},
  'processes': sorted(int(pid) for pid in os.listdir('/proc') if pid.isdigit()),
  'pid': os.getpid(),
  'modes': [oct(os.stat(path).st_mode & 0o7777) for path in ('/box', '/tmp')],
  'xattrs': os.listxattr('/box') + os.listxattr('/tmp'),
}
print(repr(seen), flush=True)
for i in range(40):
    subprocess.run(['true'])
open('/box/left-in-box', 'w').write('x')
open('/tmp/left-in-tmp', 'w').write('x')
for kind in ('-M 4096', '-Q', '-S 1'):
    subprocess.run(['ipcmk'] + kind.split(), check=True, stdout=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    held.bind('\0cellblock-left-behind')
    held.listen()
    os.system('sleep 30')
    os._exit(0)
ballast = bytearray(64 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
os.chmod('/box', 0o700)
os.chmod('/tmp', 0o700)
if len(sys.argv) > 1:
    # what a sandbox cannot be reset from: it is not reused (the seccomp
    # policy refuses extended attributes today; reset.cc checks all the same)
    try:
        os.setxattr('/box', 'user.left-behind', b'x')
    except OSError:
        pass
    kept, carrier = socket.socketpair()
    named = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    named.bind('\0cellblock-in-flight')
    named.listen()
    socket.send_fds(kept, [b'x'], [named.fileno(), kept.fileno(), carrier.fileno()])
`;

const spec: RunSpec = { argv: [PYTHON, '-c', LEAVE_AND_LOOK], limits: { wallMs: 10_000, memoryKb: 256 * 1024 } };

interface Seen {
  box: string[];
  tmp: string[];
  unix: string[];
  sysvipc: Record<string, string[]>;
  processes: number[];
  pid: number;
  modes: string[];
  xattrs: string[];
}

// Python's repr of the dict, made JSON.
const parse = (stdout: string): Seen => JSON.parse(stdout.trim().replaceAll("'", '"')) as Seen;

function assertSawNothing(results: Awaited<ReturnType<typeof run>>[]): void {
    for (const [index, result] of results.entries()) {
      assert.equal(result.status, 'ok', `run ${index}: ${result.stderr}`);
      const seen = parse(result.stdout);
      assert.deepEqual(seen.box, [], `run ${index} saw the work dir of another`);
      assert.deepEqual(seen.tmp, [], `run ${index} saw the /tmp of another`);
      assert.ok(!seen.unix.some((name) => name.includes('cellblock-left-behind')), `run ${index} saw another's socket: ${seen.unix}`);
      assert.deepEqual(seen.sysvipc, { shm: [], msg: [], sem: [] }, `run ${index} saw another's SysV IPC objects`);
      // itself and, at most, what its interpreter started: never the daemon left before
      assert.ok(seen.processes.length <= 2, `run ${index} saw processes ${seen.processes}`);
      // the pids of runs before it do not count on
      assert.equal(seen.pid, 2, `run ${index}'s program is pid ${seen.pid}`);
      assert.deepEqual(seen.modes, ['0o755', '0o1777'], `run ${index} saw modes another left`);
      assert.deepEqual(seen.xattrs, [], `run ${index} saw extended attributes another left`);
      assert.ok(!seen.unix.some((name) => name.includes('cellblock-in-flight')), `run ${index} saw a socket in flight: ${seen.unix}`);
      // each run's cgroup starts empty: its peak is its own 64 MiB, not two runs' worth
      assert.ok(result.memoryKb >= 64 * 1024 && result.memoryKb < 128 * 1024, `run ${index}: peak ${result.memoryKb} KiB`);
    }
}

describe('between runs', () => {
  it('nothing a run leaves behind is visible to the next of the same shape, in the sandbox it leaves', async () => {
    releaseWarmSandboxes();
    const before = sandboxPoolStats();
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await run(spec));
    assertSawNothing(results);
    // the runs did share sandboxes: a test of isolation between fresh ones would prove less
    const reused = sandboxPoolStats().reuses - before.reuses;
    assert.ok(reused >= 3, `only ${reused} of 6 runs were given a sandbox reset after another run`);
  });

  it('with CELLBLOCK_FRESH_SANDBOXES=1 no sandbox serves a second run', () => {
    const script = `
      import { run, sandboxPoolStats } from ${JSON.stringify(new URL('../../sandbox/run.js', import.meta.url).href)};
      for (let i = 0; i < 6; i++) if ((await run({ argv: ['/bin/true'] })).status !== 'ok') process.exit(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      console.log(JSON.stringify(sandboxPoolStats()));`;
    const stats = (fresh: boolean): { builds: number; reuses: number } => {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, CELLBLOCK_FRESH_SANDBOXES: fresh ? '1' : '0' },
        encoding: 'utf8',
      });
      assert.equal(child.status, 0, child.stderr);
      return JSON.parse(child.stdout) as { builds: number; reuses: number };
    };
    assert.equal(stats(true).reuses, 0, 'a sandbox was reset for another run');
    assert.ok(stats(false).reuses > 0, 'control: without the setting, sandboxes are reused');
  });

  describe('a read-only path bound under /tmp', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync('/tmp/cb-ro-under-tmp-');
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'f'), 'bound\n');
      writeFileSync(join(dir, 'file'), 'bound too\n');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    // Each run reads the bound files, lists /tmp, leaves a file there and, in
    // `moving`, renames the directory that leads to the binds (the program owns
    // /tmp, so it can): the next run must find them where they were bound.
    const looking = (moving: boolean): RunSpec => ({
      argv: ['/bin/sh', '-c', `cat ${dir}/data/f ${dir}/file; ls /tmp; touch /tmp/left${moving ? `; mv ${dir} /tmp/moved` : ''}`],
      readOnly: [join(dir, 'data'), join(dir, 'file')],
    });
    const sawTheBuiltLayout = (result: Awaited<ReturnType<typeof run>>, index: number) => {
      assert.equal(result.status, 'ok', `run ${index}: ${result.stderr}`);
      assert.equal(result.stdout, `bound\nbound too\n${basename(dir)}\n`, `run ${index} saw another's /tmp`);
    };

    it('is kept by the reset: the sandbox serves the next run, which finds /tmp as built', async () => {
      const before = sandboxPoolStats();
      for (let i = 0; i < 6; i++) sawTheBuiltLayout(await run(looking(false)), i);
      const reused = sandboxPoolStats().reuses - before.reuses;
      assert.ok(reused >= 3, `only ${reused} of 6 runs were given a sandbox reset after another run`);
    });

    it('moved by a run, leaves that run\'s sandbox unfit for another: the next finds it where it was bound', async () => {
      for (let i = 0; i < 8; i++) sawTheBuiltLayout(await run(looking(true)), i);
    });
  });

  it('a run that leaves what cannot be reset (an extended attribute, a socket in flight) leaves it to no one', async () => {
    const leaving: RunSpec = { ...spec, argv: [...spec.argv, 'and-more'] };
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await run(leaving));
    assertSawNothing(results);
  });
});
