// Sandboxes built before their runs (native/warm.cc): a run of a key used before
// takes a sandbox whose root, cgroups and limits were set up for another spec,
// while other sandboxes are built concurrently from other threads of this
// process. Attacks: look for any fd but stdio (the go socket, the notify socket,
// the lifeline, the cgroup files, the Landlock ruleset, another sandbox's pipes);
// outgrow the memory, pids and rlimits of the run through those its sandbox was
// built with; see a read-only path as it was when the sandbox was built rather
// than when the run was given; and make the pool hold more than its bound, or
// hold anything once idle.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { releaseWarmSandboxes } from '../../sandbox/run.js';
import type { RunSpec } from '../../sandbox/schema.js';
import { makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { eventually, runCgroupsOf, threadCount } from '../helpers/host.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertStatus, baseline, compileAttacks, outcomes, sandbox } from './helpers.js';

const PREBUILT_ATTACKS = `
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

// Every fd above stdio, found two ways: probed one by one (an fd above the
// RLIMIT_NOFILE the run set would still be there, inherited) and as listed in
// /proc/self/fd. One line: "extra_fds none", or each fd with what it is.
static int fds(int argc, char** argv) {
  char found[8192] = "";
  size_t used = 0;
  for (int fd = 3; fd < 65536; fd++) {
    if (fcntl(fd, F_GETFD) < 0) continue;
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    used += snprintf(found + used, sizeof found - used, " %d=%s", fd, target);
    if (used >= sizeof found) break;
  }
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) { report("opendir", -1); return 1; }
  int self = dirfd(dir);
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL && used < sizeof found) {
    if (entry->d_name[0] == '.') continue;
    int fd = atoi(entry->d_name);
    if (fd > 2 && fd != self) used += snprintf(found + used, sizeof found - used, " listed:%d", fd);
  }
  closedir(dir);
  printf("extra_fds %s\\n", used == 0 ? "none" : found + 1);
  return 0;
}

// Touches <MiB> of fresh memory, then says so.
static int alloc(int argc, char** argv) {
  size_t bytes = (size_t)atoi(argv[0]) << 20;
  char* memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) { report("mmap", -1); return 1; }
  for (size_t i = 0; i < bytes; i += 4096) memory[i] = 1;
  printf("allocated %s\\n", argv[0]);
  return 0;
}

// Forks <n> children that wait; counts the forks that worked.
static int forks(int argc, char** argv) {
  int wanted = atoi(argv[0]), made = 0, refused = 0;
  pid_t children[256];
  for (int i = 0; i < wanted && i < 256; i++) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    if (pid > 0) children[made++] = pid;
    else refused++;
  }
  for (int i = 0; i < made; i++) kill(children[i], SIGKILL);
  while (wait(NULL) > 0) {}
  printf("forked %d\\nrefused %d\\n", made, refused);
  return 0;
}

// The open-files limit the program got, and whether it can raise it (prlimit64
// is allowed before exec whatever the policy).
static int nofile(int argc, char** argv) {
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  printf("nofile %llu/%llu\\n", (unsigned long long)limit.rlim_cur, (unsigned long long)limit.rlim_max);
  struct rlimit raised = {limit.rlim_max + 1000, limit.rlim_max + 1000};
  report("raise", prlimit(0, RLIMIT_NOFILE, &raised, NULL));
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(fds);
  ATTACK(alloc);
  ATTACK(forks);
  ATTACK(nofile);
  ATTACK(read_paths);
  return 2;
}
`;

// A key of its own for each test: the sandbox key holds the work dir's size
// (diskKb), and no other file of the suite uses these sizes.
const diskKb = (n: number): number => 60_000 + n;

// Leaves a file in /box and /tmp, a bound abstract unix socket and a SysV shared
// memory segment, then stays a while: what a concurrent run looks for.
const VICTIM = String.raw`
import os, socket, subprocess, time
open('/box/victim-in-box', 'w').write('x')
open('/tmp/victim-in-tmp', 'w').write('x')
held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
held.bind('\0cellblock-victim')
held.listen()
subprocess.run(['ipcmk', '-M', '4096'], check=True, stdout=subprocess.DEVNULL)
time.sleep(1.5)
print('victim done')
`;

// Looks for anything of another run: files, sockets, SysV IPC, processes it can
// signal, and cgroups on a /sys it could read.
const LOOKER = String.raw`
import os
seen = {
  'box': sorted(os.listdir('/box')),
  'tmp': sorted(os.listdir('/tmp')),
  'unix': [l.split()[-1] for l in open('/proc/net/unix').read().splitlines()[1:] if len(l.split()) > 7],
  'shm': open('/proc/sysvipc/shm').read().splitlines()[1:],
  'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()),
  'cgroup': open('/proc/self/cgroup').read().split(),
}
signalled = []
for pid in range(1, 4096):
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, 0)
        signalled.append(pid)
    except OSError:
        pass
seen['signalled'] = signalled
print(repr(seen).replace("'", '"'))
`;

// A child Node's sandboxes die with it (their parent-death signal); the cgroups
// it left would wait for the next process's sweep: removed here.
async function removeCgroupsOf(owner: number): Promise<void> {
  const removed = (): boolean => {
    for (const dir of runCgroupsOf(owner)) {
      try {
        rmdirSync(dir);
      } catch {
        // still has a dying process in it: tried again
      }
    }
    return runCgroupsOf(owner).length === 0;
  };
  assert.ok(await eventually(removed, 5_000), `cgroups of process ${owner} left: ${runCgroupsOf(owner)}`);
}

// Sandboxes the pool keeps for a key used twice, one run at a time, once its
// runs have answered: one waiting per CPU (up to 4, warm.cc keep_warm), and the
// one that ran, back.
const PER_KEY = Math.min(4, availableParallelism()) + 1;
const heldSandboxes = (): number => runCgroupsOf(process.pid, ['memory']).length;

// Runs `spec` twice, alone: its key is then kept warm, and the next run of it
// takes a sandbox built for `spec` (its limits, its read-only paths) — checked
// on the host, where the waiting sandboxes' cgroups are.
async function warmWith(spec: RunSpec): Promise<void> {
  releaseWarmSandboxes();
  for (let i = 0; i < 2; i++) assertStatus(await sandbox(spec), 'ok');
  const waiting = await eventually(() => heldSandboxes() === PER_KEY, 5_000);
  assert.ok(waiting, `control: ${heldSandboxes()} sandboxes held, not the ${PER_KEY} kept for the key`);
}

describe('sandboxes built before their runs', () => {
  let fixtures: string;
  let files: NonNullable<RunSpec['files']>;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'attack', source: compileAttacks(fixtures, 'prebuilt', PREBUILT_ATTACKS), mode: 0o755 }];
    start = await baseline();
  });

  after(async () => {
    await assertNothingLeftBehind(start);
    removeFixtureDir(fixtures);
  });

  it('no fd but stdio reaches a program, whether its sandbox was built ahead, for it, or while others were', async () => {
    // Over 1 MiB of files: the run is started from its sandbox's thread, not the caller's.
    const big = [{ path: 'ballast', content: Buffer.alloc(1_200_000, 1) }];
    const round = (): Promise<{ label: string; stdout: string; status: string }[]> =>
      Promise.all(
        [0, 1, 2].flatMap((key) =>
          [0, 1, 2].map(async (i) => {
            const spec: RunSpec = { argv: ['./attack', 'fds'], files: i === 2 ? [...files, ...big] : files, limits: { diskKb: diskKb(key) } };
            const result = await sandbox(spec);
            return { label: `key ${key} run ${i}`, stdout: result.stdout, status: result.status };
          }),
        ),
      );
    // the first round builds every sandbox for its run, concurrently; the later
    // ones take sandboxes built ahead, while others are being built
    for (let pass = 0; pass < 3; pass++) {
      for (const { label, stdout, status } of await round()) {
        assert.equal(status, 'ok', `${label}: ${stdout}`);
        assert.equal(stdout, 'extra_fds none\n', `pass ${pass}, ${label}`);
      }
    }
  });

  it("a run's memory limit is its own, not the one its sandbox was built with", async () => {
    // two runs with a large limit: the key is kept warm with sandboxes built for it
    const large: RunSpec = { argv: ['./attack', 'alloc', '8'], files, limits: { memoryKb: 512 * 1024, diskKb: diskKb(10) } };
    await warmWith(large);
    const small = await sandbox({ ...large, argv: ['./attack', 'alloc', '96'], limits: { memoryKb: 32 * 1024, diskKb: diskKb(10) } });
    assertStatus(small, 'memory_limit');
    assert.ok(small.memoryKb <= 33 * 1024, `peak ${small.memoryKb} KiB under a 32 MiB limit`);
    // and the other way: a sandbox built for a small limit gives a large run its own
    const smallFirst: RunSpec = { argv: ['./attack', 'alloc', '4'], files, limits: { memoryKb: 32 * 1024, diskKb: diskKb(11) } };
    await warmWith(smallFirst);
    const largeAfter = await sandbox({ ...smallFirst, argv: ['./attack', 'alloc', '96'], limits: { memoryKb: 256 * 1024, diskKb: diskKb(11) } });
    assertStatus(largeAfter, 'ok');
    assert.equal(largeAfter.stdout, 'allocated 96\n');
  });

  it("a run's pids limit and rlimits are its own, not those its sandbox was built with", async () => {
    const roomy: RunSpec = { argv: ['./attack', 'forks', '2'], files, limits: { pids: 128, openFiles: 256, diskKb: diskKb(20) } };
    await warmWith(roomy);
    const tight = { pids: 4, openFiles: 16, diskKb: diskKb(20) };
    const forked = await sandbox({ ...roomy, argv: ['./attack', 'forks', '32'], limits: tight });
    assertStatus(forked, 'ok');
    const seen = outcomes(forked.stdout);
    // the program itself is one of the 4
    assert.ok(Number(seen.get('forked')) <= 3, `forked ${seen.get('forked')} under a pids limit of 4`);
    const nofile = await sandbox({ ...roomy, argv: ['./attack', 'nofile'], limits: tight });
    assertStatus(nofile, 'ok');
    assert.equal(nofile.stdout, 'nofile 16/16\nraise EPERM\n');
  });

  it('a read-only path is what is at it when the run is given, not when its sandbox was built', async () => {
    const data = join(fixtures, 'data.txt');
    writeFileSync(data, 'first');
    const spec: RunSpec = { argv: ['./attack', 'read_paths', data], files, readOnly: [data], limits: { diskKb: diskKb(30) } };
    await warmWith(spec);
    // another caller's content at the same path, as a judge replaces a test's
    // data: written beside it and renamed over it (a new inode)
    writeFileSync(`${data}.new`, 'second');
    renameSync(`${data}.new`, data);
    const result = await sandbox(spec);
    assertStatus(result, 'ok');
    assert.equal(result.stdout, `${data} ok 3\n${data}:content second\n`, 'the run saw the file its sandbox was built with');
  });

  it('the pool holds at most its bound of sandboxes whatever the keys, and nothing once idle', async () => {
    const threadsBefore = threadCount();
    // twelve keys used twice each: every one asks to be kept warm
    for (let key = 0; key < 12; key++) {
      for (let i = 0; i < 2; i++) assertStatus(await sandbox({ argv: ['./attack', 'alloc', '1'], files, limits: { diskKb: diskKb(40 + key) } }), 'ok');
    }
    // 8 waiting sandboxes at most (warm.cc kMaxWaiting), a cgroup per controller
    // each (memory, pids, cpuacct); the dropped ones go in the background
    const bounded = await eventually(() => runCgroupsOf(process.pid, ['memory']).length <= 8, 5_000);
    assert.ok(bounded, `${runCgroupsOf(process.pid, ['memory']).length} sandboxes held by an idle pool`);
    assert.ok(threadCount() <= threadsBefore + 8 + 2, `threads: ${threadsBefore} before, ${threadCount()} now`);
    // unused for a few seconds, every key gives its sandboxes up on its own
    await delay(3_000);
    const released = await eventually(() => runCgroupsOf(process.pid, ['memory']).length === 0, 5_000);
    assert.ok(released, `${runCgroupsOf(process.pid, ['memory']).length} sandboxes still held after idling`);
  });

  it("a file to copy in that is a FIFO never stops the caller's event loop, nor hangs the run", async () => {
    // A child Node: a hung event loop there is seen (and ended) from here.
    const fifo = join(fixtures, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const script = `
      import { run } from ${JSON.stringify(new URL('../../sandbox/run.js', import.meta.url).href)};
      let ticks = 0;
      setInterval(() => ticks++, 50).unref();
      // a key used twice, and time for its next sandbox to be built: the next
      // run is then started on this thread (its files are "small")
      for (let i = 0; i < 2; i++) await run({ argv: ['/bin/true'] });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const result = run({ argv: ['/bin/true'], files: [{ path: 'f', source: ${JSON.stringify(fifo)} }], limits: { wallMs: 1000 } });
      setTimeout(() => { console.log('ticks', ticks); process.exit(0); }, 1500);
      console.log('status', (await result).status);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 8_000, killSignal: 'SIGKILL' });
    await removeCgroupsOf(child.pid);
    const seen = outcomes(child.stdout ?? '');
    assert.ok(seen.has('ticks'), `the event loop stopped (${child.signal ?? child.status}): ${child.stdout}${child.stderr}`);
    assert.ok(seen.has('status'), `the run never ended, its wall limit notwithstanding: ${child.stdout}`);
  });

  it('a run sees nothing of runs going on beside it, of its key or another, nor of sandboxes waiting', async () => {
    const limits = { wallMs: 10_000, diskKb: diskKb(50) };
    // the key is warm: sandboxes wait while the victims and the lookers run
    await warmWith({ argv: ['/bin/true'], limits });
    const victims = [0, 1].map(() => sandbox({ argv: [PYTHON, '-c', VICTIM], limits }));
    await delay(400);
    const lookers = await Promise.all(
      [limits, { ...limits, diskKb: diskKb(51) }, limits].map((lookerLimits) => sandbox({ argv: [PYTHON, '-c', LOOKER], limits: lookerLimits })),
    );
    for (const victim of await Promise.all(victims)) {
      assertStatus(victim, 'ok');
      assert.equal(victim.stdout, 'victim done\n', 'control: the victim was not there all along');
    }
    for (const looker of lookers) {
      assertStatus(looker, 'ok');
      const { cgroup, ...seen } = JSON.parse(looker.stdout) as { cgroup: string[] };
      assert.deepEqual(seen, { box: [], tmp: [], unix: [], shm: [], pids: [], signalled: [] });
      // its own cgroups, each the root of its cgroup namespace: no path of another run's
      assert.ok(cgroup.every((line) => line.endsWith(':/')), `cgroups seen: ${cgroup}`);
    }
  });

  it('a process that exits with sandboxes waiting leaves none of their cgroups behind', async () => {
    const script = `
      import { run } from ${JSON.stringify(new URL('../../sandbox/run.js', import.meta.url).href)};
      for (let i = 0; i < 2; i++) await run({ argv: ['/bin/true'] });
      await new Promise((resolve) => setTimeout(resolve, 500));
      process.exit(0);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 8_000, killSignal: 'SIGKILL' });
    assert.equal(child.status, 0, `${child.signal ?? ''} ${child.stderr}`);
    // what the exit leaves (given a moment for the sandboxes' processes to die)
    await eventually(() => runCgroupsOf(child.pid).length === 0, 2_000);
    const left = runCgroupsOf(child.pid);
    await removeCgroupsOf(child.pid);
    assert.deepEqual(left, [], 'the waiting sandboxes of an exited process kept their cgroups');
  });

  it('keys taking turns beyond the bound cost about one sandbox built per run, not one per sandbox kept warm', async () => {
    releaseWarmSandboxes();
    // Each sandbox built takes the next number of this process's run cgroups
    // (run-<pid>-<n>): the highest one alive after a run is the count so far.
    const builtSoFar = (): number => Math.max(-1, ...runCgroupsOf(process.pid, ['memory']).map((dir) => Number(dir.split('-').at(-1))));
    const keys = 8; // with PER_KEY waiting for each, more than the pool's bound of 8
    const runKey = async (key: number): Promise<void> =>
      assertStatus(await sandbox({ argv: ['./attack', 'alloc', '1'], files, limits: { diskKb: diskKb(60 + key) } }), 'ok');
    for (let round = 0; round < 2; round++) for (let key = 0; key < keys; key++) await runKey(key);
    const before = builtSoFar();
    const runs = 3 * keys;
    for (let round = 0; round < 3; round++) for (let key = 0; key < keys; key++) await runKey(key);
    await delay(200); // the last run's sandboxes kept warm are under way
    const built = builtSoFar() - before;
    assert.ok(built <= runs + 8, `${built} sandboxes built for ${runs} runs`);
  });
});
