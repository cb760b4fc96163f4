// Processes: the program lives in its own pid namespace, with /proc mounted
// hidepid=2 (init, pid 1, stays invisible), runs under a host uid that owns
// nothing, and everything it started dies with the run.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { startCli } from '../helpers/cli.js';
import { PYTHON } from '../helpers/fixtures.js';
import { isAlive, OWNER_ENV, sampleWhile, sandboxUidProcesses, UID_BASE } from '../helpers/host.js';

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
    const probes = [
      `/proc/${process.pid}`,
      `/proc/${hostSleepPid}`,
      '/proc/1',
      '/proc/1/root',
      '/proc/1/mem', // init shares Node's memory
      '/proc/1/cmdline', // and shows Node's command line
      '/proc/1/environ',
    ];
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

  it('neither Node\'s environment nor its command line is visible inside', async () => {
    // A variable only this test process has; the program gets PATH, HOME, LANG only.
    const canary = `CELLBLOCK_TEST_CANARY_${process.pid}`;
    process.env[canary] = 'visible';
    try {
      const env = await run({ argv: ['/usr/bin/env'] });
      assert.equal(env.status, 'ok', env.stderr);
      const names = env.stdout.split('\n').flatMap((line) => /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1] ?? []);
      assert.deepEqual(names.sort(), ['HOME', 'LANG', 'PATH']);
      // Every command line and environment /proc shows inside.
      const proc = await run({ argv: ['/bin/sh', '-c', 'cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ | tr "\\0" "\\n"'] });
      assert.equal(proc.status, 'ok', proc.stderr);
      assert.match(proc.stdout, /^PATH=/m, 'control: the listing works');
      for (const leak of [canary, process.execPath, process.argv[1] ?? '\0']) {
        assert.ok(!proc.stdout.includes(leak), `${leak} is visible inside`);
      }
    } finally {
      delete process.env[canary];
    }
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
    const result = await run({ argv: ['/bin/sh', '-c', script], env: OWNER_ENV });
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
      env: OWNER_ENV,
    });
    assert.equal(result.status, 'time_limit');
    assert.equal(result.stdout, 'started\n');
    assert.deepEqual(sandboxUidProcesses(), []);
  });
  it('the program has no capabilities, no_new_privs, a seccomp filter and only fds 0-2', async () => {
    const script = [
      "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
      'ls /proc/self/fd', // ls's own directory fd is the 4th
    ].join('; ');
    const result = await run({ argv: ['/bin/sh', '-c', script] });
    assert.equal(result.status, 'ok', result.stderr);
    const zero = '0000000000000000';
    assert.equal(
      result.stdout.replace(/[ \t]+/g, ' '),
      [
        'Uid: 1000 1000 1000 1000',
        'Gid: 1000 1000 1000 1000',
        'Groups: ',
        `CapInh: ${zero}`,
        `CapPrm: ${zero}`,
        `CapEff: ${zero}`,
        `CapBnd: ${zero}`,
        `CapAmb: ${zero}`,
        'NoNewPrivs: 1',
        'Seccomp: 2',
        '0',
        '1',
        '2',
        '3',
        '',
      ].join('\n'),
    );
  });

  it('on the host, the program runs under an unprivileged uid of the range, init under another', async () => {
    const launched = run({ argv: ['/bin/sh', '-c', 'sleep 0.4'], env: OWNER_ENV });
    const samples = await sampleWhile(launched, 20, () => sandboxUidProcesses());
    assert.equal((await launched).status, 'ok');
    const seen = samples.flat();
    const sleeper = seen.find((p) => p.name === 'sleep');
    // init: cloned by this process, never execs (other inits may wait for runs)
    const byPid = new Map(seen.map((p) => [p.pid, p]));
    let init = sleeper;
    while (init && init.ppid !== process.pid) init = byPid.get(init.ppid);
    assert.ok(sleeper && init, `seen: ${JSON.stringify(seen)}`);
    const programUid = sleeper.uids[0] ?? 0;
    const initUid = init.uids[0] ?? 0;
    assert.deepEqual(sleeper.uids, [programUid, programUid, programUid, programUid]);
    assert.ok(programUid >= UID_BASE && (programUid - UID_BASE) % 2 === 1, `program host uid ${programUid}`);
    assert.equal(initUid, programUid - 1, 'init runs as the slot\'s other uid');
  });

  it('two cellblock processes running at once do not give their programs the same host uid', async () => {
    // Within one Node process a slot (and its host uids) is held by one run at a
    // time. Two processes, e.g. two `cellblock run` started by a judge in
    // parallel, must not share one either: per-uid kernel accounting (inotify
    // instances, pending signals, message queues) would let one sandbox starve
    // the other.
    const first = startCli(['run', '--', '/bin/sh', '-c', 'sleep 1.2']);
    const second = startCli(['run', '--', '/bin/sh', '-c', 'sleep 1.2']);
    assert.ok(first.pid !== undefined && second.pid !== undefined);
    const firstPid = first.pid;
    const secondPid = second.pid;
    const both = Promise.all([first.outcome, second.outcome]);
    const samples = await sampleWhile(both, 50, () => ({
      first: sandboxUidProcesses(firstPid).filter((p) => p.name === 'sleep'),
      second: sandboxUidProcesses(secondPid).filter((p) => p.name === 'sleep'),
    }));
    const outcomes = await both;
    for (const outcome of outcomes) assert.equal(outcome.code, 0, outcome.stderr);
    const overlap = samples.find((sample) => sample.first.length > 0 && sample.second.length > 0);
    assert.ok(overlap, 'the two runs never overlapped');
    const firstUid = overlap.first[0]?.uids[0];
    const secondUid = overlap.second[0]?.uids[0];
    assert.notEqual(firstUid, secondUid, `both programs run as host uid ${firstUid}`);
  });

  it('the host name is the sandbox\'s own', async () => {
    const result = await run({ argv: ['/bin/sh', '-c', 'hostname; cat /etc/hostname; domainname'] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, 'cellblock\ncellblock\ncellblock\n');
    assert.notEqual(hostname(), 'cellblock');
  });
});
