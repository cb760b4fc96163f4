// Processes: the program lives in its own pid namespace, with /proc mounted
// hidepid=2 (init, pid 1, stays invisible), runs under a host uid that owns
// nothing, and everything it started dies with the run.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { PYTHON } from '../helpers/fixtures.js';
import { isAlive, sandboxUidProcesses } from '../helpers/host.js';

// Lists /proc as the program sees it: "self <pid>", then "pid <n> uid <real uid>"
// per visible process, then "<path> present|absent" for each path in argv.
const PROC_LISTER = `
import os, sys
print('self', os.getpid())
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    with open('/proc/%d/status' % pid) as f:
        uid = next(line.split()[1] for line in f if line.startswith('Uid:'))
    print('pid', pid, 'uid', uid)
for path in sys.argv[1:]:
    print(path, 'present' if os.path.exists(path) else 'absent')
`;

describe('processes', () => {
  let hostSleep: ChildProcess;
  let hostSleepPid: number;

  before(() => {
    hostSleep = spawn('sleep', ['60'], { stdio: 'ignore' });
    assert.ok(hostSleep.pid !== undefined);
    hostSleepPid = hostSleep.pid;
  });

  after(() => {
    hostSleep.kill('SIGKILL');
  });

  it('/proc shows only the program itself: not init, not the host, not this test', async () => {
    const probes = [`/proc/${process.pid}`, `/proc/${hostSleepPid}`, '/proc/1', '/proc/1/root', '/proc/1/environ'];
    const result = await run({ argv: [PYTHON, '-c', PROC_LISTER, ...probes] });
    assert.equal(result.status, 'ok', result.stderr);
    const out = result.stdout.trim().split('\n');
    const self = out[0];
    assert.match(self ?? '', /^self \d+$/);
    const selfPid = Number(self?.split(' ')[1]);
    const visible = out.filter((line) => line.startsWith('pid '));
    assert.deepEqual(visible, [`pid ${selfPid} uid 1000`], 'the only visible process is the program, as uid 1000');
    assert.notEqual(selfPid, process.pid);
    for (const probe of probes) assert.ok(out.includes(`${probe} absent`), `${probe} is visible inside`);
  });

  it('kill -9 -1 inside kills only the sandbox: the test process and a host child live on', async () => {
    // The sandbox's own background sleep must die (kill -1 does work inside),
    // while host processes cannot even be named; signalling init is refused.
    const script = [
      'sleep 30 & inner=$!',
      'kill -9 -1; echo "kill-all=$?"',
      'wait $inner; echo "inner-sleep=$?"',
      `kill -9 ${hostSleepPid} 2>/dev/null; echo "kill-host-child=$?"`,
      `kill -9 ${process.pid} 2>/dev/null; echo "kill-test=$?"`,
      'kill -9 1 2>/dev/null; echo "kill-init=$?"',
      'echo survived',
    ].join('\n');
    const result = await run({ argv: ['/bin/sh', '-c', script] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(
      result.stdout,
      'kill-all=0\ninner-sleep=137\nkill-host-child=1\nkill-test=1\nkill-init=1\nsurvived\n',
    );
    assert.equal(isAlive(hostSleepPid), true, 'the host sleep was killed');
    assert.equal(hostSleep.exitCode, null);
    assert.equal(hostSleep.signalCode, null);
    assert.equal(isAlive(process.pid), true);
  });

  it('a double-forked daemon is dead once the run is over', async () => {
    assert.deepEqual(sandboxUidProcesses(), [], 'precondition: no sandbox process on the host');
    // setsid + background: the daemon is re-parented to init and outlives the program.
    const script = [
      'setsid sh -c \'sleep 60 </dev/null >/dev/null 2>&1 & echo $! > /tmp/daemon.pid\'',
      'sleep 0.1',
      'daemon=$(cat /tmp/daemon.pid)',
      'kill -0 "$daemon" && echo "daemon $daemon alive"',
      'grep "^PPid:" /proc/$daemon/status',
    ].join('\n');
    const started = Date.now();
    const result = await run({ argv: ['/bin/sh', '-c', script] });
    const elapsed = Date.now() - started;
    assert.equal(result.status, 'ok', result.stderr);
    assert.match(result.stdout, /^daemon \d+ alive\nPPid:\s+1\n$/, 'the daemon ran, re-parented to init');
    assert.ok(elapsed < 5_000, `the run waited ${elapsed} ms for its daemon`);
    const leftovers = sandboxUidProcesses();
    assert.deepEqual(leftovers, [], `left running: ${JSON.stringify(leftovers)}`);
  });

  it('a daemon started by a program killed for a limit is dead too', async () => {
    const result = await run({
      argv: ['/bin/sh', '-c', 'setsid sh -c "sleep 60 & echo started" ; while :; do :; done'],
      limits: { cpuMs: 200 },
    });
    assert.equal(result.status, 'time_limit');
    assert.equal(result.stdout, 'started\n');
    assert.deepEqual(sandboxUidProcesses(), []);
  });
});
