// Limits: each one is pushed past by a program that would otherwise go on
// forever, and the verdict and the measurement must both match the limit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { compileStatic, makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { OWNER_ENV, readNumber, readText, runCgroupsOf, sampleWhile, sandboxUidProcesses } from '../helpers/host.js';

// Forks children that wait forever until fork fails; reports how far it got.
const FORK_LOOP = `
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  int forked = 0;
  while (forked < 100000) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    if (pid < 0) { printf("forked %d then %s\\n", forked, strerror(errno)); return 0; }
    forked++;
  }
  printf("forked %d without a limit\\n", forked);
  return 1;
}
`;

// Starts idle threads until pthread_create fails; reports how far it got.
const THREAD_LOOP = `
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void* idle(void* unused) { (void)unused; pause(); return NULL; }
int main(void) {
  int created = 0, rc = 0;
  pthread_t thread;
  while (created < 100000 && (rc = pthread_create(&thread, NULL, idle, NULL)) == 0) created++;
  printf("created %d then %s\\n", created, strerror(rc));
  return 0;
}
`;

// Burns 300 ms of CPU in each of two threads ("threads") or processes ("fork"),
// measured on each one's own CPU clock, so the total is 600 ms however they are
// scheduled.
const BURN = `
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void* burn(void* unused) {
  (void)unused;
  struct timespec ts;
  do clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); while (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < 300);
  return NULL;
}
int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "fork") == 0) {
    for (int i = 0; i < 2; i++) if (fork() == 0) { burn(NULL); _exit(0); }
    while (wait(NULL) > 0) {}
  } else {
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, burn, NULL);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  }
  puts("burnt");
  return 0;
}
`;

describe('limits', () => {
  let fixtures: string;
  let forkLoop: string;
  let burn: string;
  let threadLoop: string;

  before(() => {
    fixtures = makeFixtureDir();
    forkLoop = compileStatic(fixtures, 'forkloop', FORK_LOOP);
    threadLoop = compileStatic(fixtures, 'threadloop', THREAD_LOOP, ['-pthread']);
    burn = compileStatic(fixtures, 'burn', BURN, ['-pthread']);
  });

  after(() => removeFixtureDir(fixtures));

  it('a fork loop gets EAGAIN exactly at the pids limit', async () => {
    // The program counts against pids itself; init is outside the run's cgroup.
    const result = await run({
      argv: ['./forkloop'],
      files: [{ path: 'forkloop', source: forkLoop }],
      limits: { pids: 16 },
      env: OWNER_ENV,
    });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, 'forked 15 then Resource temporarily unavailable\n');
    assert.deepEqual(sandboxUidProcesses(), [], 'the paused children outlived the run');
  });

  it('a bash fork bomb stops at the pids limit and the host is fine afterwards', async () => {
    const pids = 32;
    const launched = run({
      argv: ['/bin/bash', '-c', 'f(){ f|f& }; f; sleep 1; echo survived'],
      env: OWNER_ENV,
      limits: { pids, wallMs: 1_500, cpuMs: 2_000 },
    });
    // Watch from the host: the run's pids cgroup (the kernel's own high-water
    // mark and count of refused forks) and the processes under the sandbox uids.
    const samples = await sampleWhile(launched, 5, () => {
      const dir = runCgroupsOf(process.pid, ['pids'])[0];
      return {
        peak: dir === undefined ? 0 : (readNumber(`${dir}/pids.peak`) ?? readNumber(`${dir}/pids.current`) ?? 0),
        refused: dir === undefined ? 0 : Number(/^max (\d+)$/m.exec(readText(`${dir}/pids.events`))?.[1] ?? 0),
        processes: sandboxUidProcesses().length,
      };
    });
    const result = await launched;
    assert.notEqual(result.status, 'internal_error', JSON.stringify(result.error));
    const peak = Math.max(...samples.map((sample) => sample.peak));
    const refused = Math.max(...samples.map((sample) => sample.refused));
    const peakProcesses = Math.max(...samples.map((sample) => sample.processes));
    assert.ok(peak <= pids, `the run's cgroup peaked at ${peak} tasks > ${pids}`);
    assert.ok(refused > 0, `no fork was refused: the bomb never reached the limit (peak ${peak})`);
    // A /proc scan is not atomic (a process that exits mid-scan and its
    // replacement may both be counted), so it only bounds the tree coarsely: a
    // bomb that escaped the cgroup would go far past this.
    assert.ok(peakProcesses <= 2 * pids, `${peakProcesses} sandbox processes at once`);
    assert.match(result.stderr, /fork: (retry: )?Resource temporarily unavailable/);

    // The host: nothing left, it can still fork, and the next run is normal.
    assert.deepEqual(sandboxUidProcesses(), []);
    assert.equal(spawnSync('/bin/true').status, 0);
    const next = await run({ argv: ['/bin/echo', 'next'] });
    assert.equal(next.status, 'ok');
    assert.equal(next.stdout, 'next\n');
  });

  it('a thread bomb stops at the pids limit too', async () => {
    const result = await run({ argv: ['./threadloop'], files: [{ path: 'threadloop', source: threadLoop }], limits: { pids: 16 } });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, 'created 15 then Resource temporarily unavailable\n');
  });

  it('touching more memory than the limit is a memory_limit, measured near the limit', async () => {
    const memoryKb = 64 * 1024;
    const result = await run({
      argv: [PYTHON, '-c', 'data = b"x" * (200 << 20)\nprint("allocated", len(data))'],
      limits: { memoryKb },
    });
    assert.equal(result.status, 'memory_limit');
    assert.equal(result.stdout, '');
    assert.equal(result.signalName, 'SIGKILL');
    assert.ok(
      result.memoryKb >= memoryKb * 0.9 && result.memoryKb <= memoryKb * 1.1,
      `memoryKb ${result.memoryKb} not within 10% of ${memoryKb}`,
    );
  });

  it('control: memory under the limit is measured and allowed', async () => {
    const result = await run({
      argv: [PYTHON, '-c', 'data = b"x" * (32 << 20)\nprint("allocated", len(data))'],
      limits: { memoryKb: 64 * 1024 },
    });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, `allocated ${32 << 20}\n`);
    assert.ok(result.memoryKb >= 32 * 1024 && result.memoryKb < 64 * 1024, `memoryKb ${result.memoryKb}`);
  });

  it('a tmpfs bomb (files in /box) is a memory_limit: the work dir lives in the run\'s memory', async () => {
    const result = await run({
      argv: ['dd', 'if=/dev/zero', 'of=/box/big', 'bs=1M', 'count=48'],
      limits: { memoryKb: 16 * 1024, diskKb: 64 * 1024 },
    });
    assert.equal(result.status, 'memory_limit');
    assert.ok(result.memoryKb <= 16 * 1024 * 1.1, `memoryKb ${result.memoryKb}`);
  });

  it('a CPU spin is a time_limit with cpuMs just past the limit', async () => {
    const cpuMs = 500;
    const result = await run({ argv: ['/bin/sh', '-c', 'while :; do :; done'], limits: { cpuMs } });
    assert.equal(result.status, 'time_limit');
    assert.ok(result.cpuMs >= cpuMs && result.cpuMs < cpuMs + 200, `cpuMs ${result.cpuMs}`);
  });

  it('sleeping past the wall limit is a wall_time_limit', async () => {
    const started = Date.now();
    const result = await run({ argv: ['sleep', '10'], limits: { wallMs: 300 } });
    const elapsed = Date.now() - started;
    assert.equal(result.status, 'wall_time_limit');
    assert.ok(result.wallMs >= 300 && result.wallMs < 1_000, `wallMs ${result.wallMs}`);
    assert.ok(elapsed < 2_000, `run() took ${elapsed} ms`);
    assert.ok(result.cpuMs < 100, `a sleep used ${result.cpuMs} ms of CPU`);
  });

  it('an output flood is an output_limit with stdout capped at the limit', async () => {
    const outputKb = 16;
    const result = await run({ argv: ['yes'], limits: { outputKb } });
    assert.equal(result.status, 'output_limit');
    assert.equal(Buffer.byteLength(result.stdout), outputKb * 1024);
    assert.equal(result.stdout, 'y\n'.repeat((outputKb * 1024) / 2));
  });

  it('a stderr flood is an output_limit too', async () => {
    const result = await run({ argv: ['/bin/sh', '-c', 'yes >&2'], limits: { outputKb: 16 } });
    assert.equal(result.status, 'output_limit');
    assert.equal(Buffer.byteLength(result.stderr), 16 * 1024);
  });

  it('output of exactly the limit is fine; one byte more is not', async () => {
    const exact = await run({ argv: ['head', '-c', '16384', '/dev/zero'], limits: { outputKb: 16 } });
    assert.equal(exact.status, 'ok');
    assert.equal(Buffer.byteLength(exact.stdout), 16384);
    const over = await run({ argv: ['head', '-c', '16385', '/dev/zero'], limits: { outputKb: 16 } });
    assert.equal(over.status, 'output_limit');
    assert.equal(Buffer.byteLength(over.stdout), 16384);
  });

  it('a file past fileSizeKb stops the writer with SIGXFSZ, an output_limit', async () => {
    const result = await run({ argv: ['dd', 'if=/dev/zero', 'of=/box/big', 'bs=64k', 'count=16'], limits: { fileSizeKb: 64 } });
    assert.equal(result.status, 'output_limit');
    assert.equal(result.signalName, 'SIGXFSZ');
  });

  it('a program with no stdin reads EOF at once instead of blocking', async () => {
    const result = await run({ argv: ['/bin/sh', '-c', 'cat; read line; echo "read=$?"'], limits: { wallMs: 2_000 } });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'read=1\n');
    assert.ok(result.wallMs < 1_000, `wallMs ${result.wallMs}`);
  });

  it('children left burning CPU when the program exits are killed with it', async () => {
    const result = await run({
      argv: ['/bin/sh', '-c', '(while :; do :; done) & (while :; do :; done) & echo started'],
      limits: { cpuMs: 5_000, wallMs: 5_000 },
      env: OWNER_ENV,
    });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'started\n');
    assert.ok(result.wallMs < 1_000 && result.cpuMs < 1_000, `wallMs ${result.wallMs}, cpuMs ${result.cpuMs}`);
    assert.deepEqual(sandboxUidProcesses(), []);
  });

  it('two threads burning CPU in parallel are both counted', async () => {
    const result = await run({ argv: ['./burn', 'threads'], files: [{ path: 'burn', source: burn }] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, 'burnt\n');
    assert.ok(result.cpuMs >= 590 && result.cpuMs < 800, `cpuMs ${result.cpuMs} for 2 x 300 ms`);
  });

  it('two child processes burning CPU are both counted', async () => {
    const result = await run({ argv: ['./burn', 'fork'], files: [{ path: 'burn', source: burn }] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.ok(result.cpuMs >= 590 && result.cpuMs < 800, `cpuMs ${result.cpuMs} for 2 x 300 ms`);
  });

  it('threads together past the CPU limit are a time_limit', async () => {
    const result = await run({ argv: ['./burn', 'threads'], files: [{ path: 'burn', source: burn }], limits: { cpuMs: 400 } });
    assert.equal(result.status, 'time_limit');
    assert.equal(result.stdout, '');
    assert.ok(result.cpuMs >= 400 && result.cpuMs < 600, `cpuMs ${result.cpuMs}`);
  });
});

describe('cpuset pinning', () => {
  it('a run pinned to one CPU is allowed only that CPU', async () => {
    for (const cpu of ['0', '1']) {
      const result = await run({ argv: ['/bin/sh', '-c', 'grep Cpus_allowed_list /proc/self/status'], cpus: cpu });
      assert.equal(result.status, 'ok', result.stderr);
      assert.match(result.stdout, new RegExp(`Cpus_allowed_list:\\s+${cpu}\\n`));
    }
    const unpinned = await run({ argv: ['/bin/sh', '-c', 'grep Cpus_allowed_list /proc/self/status'] });
    assert.match(unpinned.stdout, /Cpus_allowed_list:\s+0-1\n/);
  });
});
