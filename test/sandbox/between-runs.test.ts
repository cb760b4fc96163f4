// Runs of the same shape take sandboxes built ahead of them (native/warm.cc):
// nothing one run leaves — files, a unix socket, SysV IPC objects, a process,
// memory and CPU in its cgroup — may be visible to the next. Each run leaves all
// of them behind, then the next of the same shape looks for every one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
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
}
print(repr(seen), flush=True)
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
`;

const spec: RunSpec = { argv: [PYTHON, '-c', LEAVE_AND_LOOK], limits: { wallMs: 10_000, memoryKb: 256 * 1024 } };

interface Seen {
  box: string[];
  tmp: string[];
  unix: string[];
  sysvipc: Record<string, string[]>;
  processes: number[];
}

// Python's repr of the dict, made JSON.
const parse = (stdout: string): Seen => JSON.parse(stdout.trim().replaceAll("'", '"')) as Seen;

describe('between runs', () => {
  it('nothing a run leaves behind is visible to the next of the same shape', async () => {
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await run(spec));
    for (const [index, result] of results.entries()) {
      assert.equal(result.status, 'ok', `run ${index}: ${result.stderr}`);
      const seen = parse(result.stdout);
      assert.deepEqual(seen.box, [], `run ${index} saw the work dir of another`);
      assert.deepEqual(seen.tmp, [], `run ${index} saw the /tmp of another`);
      assert.ok(!seen.unix.some((name) => name.includes('cellblock-left-behind')), `run ${index} saw another's socket: ${seen.unix}`);
      assert.deepEqual(seen.sysvipc, { shm: [], msg: [], sem: [] }, `run ${index} saw another's SysV IPC objects`);
      // itself and, at most, what its interpreter started: never the daemon left before
      assert.ok(seen.processes.length <= 2, `run ${index} saw processes ${seen.processes}`);
      // each run's cgroup starts empty: its peak is its own 64 MiB, not two runs' worth
      assert.ok(result.memoryKb >= 64 * 1024 && result.memoryKb < 128 * 1024, `run ${index}: peak ${result.memoryKb} KiB`);
    }
  });
});
