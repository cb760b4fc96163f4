// Process attacks: kill everything (-1), signal the supervisor and host
// processes by pid, steal init's fds or change its limits, trace or read init
// (which shares the supervisor's memory), outlive the run as a daemon, flood
// zombies, and burn CPU where the accounting might not look (orphans after
// their parent exits, threads in parallel). Host side: a sleep of ours must
// survive, no process of ours may be left, and every CPU millisecond must be
// counted.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { hostProcesses, isAlive, sandboxUidProcesses, UID_BASE } from '../helpers/host.js';
import type { Snapshot } from '../helpers/leaks.js';
import {
  assertNothingLeftBehind,
  assertStatus,
  assertViolation,
  baseline,
  compileAttacks,
  outcomes,
  sandbox,
} from './helpers.js';

const PROCESS_ATTACKS = `
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <linux/kcmp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>

// kill -9 -1, then every named host process ("label=pid") by every route
// (kill, its process group, tgkill, sigqueue, a pidfd), then init.
static int kill_everything(int argc, char** argv) {
  pid_t child = fork();
  if (child == 0) { pause(); _exit(0); }
  report("kill_all", kill(-1, SIGKILL));
  int status = 0;
  waitpid(child, &status, 0);
  printf("own_child %s\\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "killed" : "survived");
  for (int i = 0; i < argc; i++) {
    char label[64], key[96];
    snprintf(label, sizeof label, "%s", argv[i]);
    char* eq = strchr(label, '=');
    *eq = 0;
    pid_t pid = atoi(eq + 1);
    union sigval value = {0};
    snprintf(key, sizeof key, "kill:%s", label); report(key, kill(pid, SIGKILL));
    snprintf(key, sizeof key, "kill_group:%s", label); report(key, kill(-pid, SIGKILL));
    snprintf(key, sizeof key, "tgkill:%s", label); report(key, syscall(SYS_tgkill, pid, pid, SIGKILL));
    snprintf(key, sizeof key, "sigqueue:%s", label); report(key, sigqueue(pid, SIGKILL, value));
    snprintf(key, sizeof key, "pidfd_open:%s", label); report(key, syscall(SYS_pidfd_open, pid, 0));
  }
  report("kill_init", kill(1, SIGKILL));
  report("kill_init_term", kill(1, SIGTERM));
  int pidfd = syscall(SYS_pidfd_open, 1, 0);
  report("pidfd_signal_init", syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0));
  say("survived");
  return 0;
}

// Which pids answer kill(pid, 0)?
static int scan_pids(int argc, char** argv) {
  printf("self %d\\n", getpid());
  for (pid_t pid = 1; pid < (1 << 16); pid++) {
    if (kill(pid, 0) == 0) printf("signalable %d\\n", pid);
    else if (errno != ESRCH) printf("exists %d %s\\n", pid, strerrorname_np(errno));
  }
  return 0;
}

static int ptrace_init(int argc, char** argv) {
  say("before");
  report("ptrace_attach", ptrace(PTRACE_ATTACH, 1, 0, 0));
  return 0;
}

static int ptrace_child(int argc, char** argv) {
  pid_t child = fork();
  if (child == 0) { pause(); _exit(0); }
  say("before");
  report("ptrace_seize", ptrace(PTRACE_SEIZE, child, 0, 0));
  return 0;
}

static int read_init_memory(int argc, char** argv) {
  char buf[64];
  struct iovec local = {buf, sizeof buf}, remote = {(void*)0x400000, sizeof buf};
  say("before");
  report("process_vm_readv", process_vm_readv(1, &local, 1, &remote, 1, 0));
  return 0;
}

static int compare_init_files(int argc, char** argv) {
  say("before");
  report("kcmp", syscall(SYS_kcmp, getpid(), 1, KCMP_FILE, 0, 0));
  return 0;
}

// Init holds the supervisor's pipes: take its fds, change its limits, its
// priority, its CPUs, its scheduler.
static int init_handles(int argc, char** argv) {
  int pidfd = report("pidfd_open", syscall(SYS_pidfd_open, 1, 0));
  int stolen = 0, denied = 0;
  for (int fd = 0; fd < 64; fd++) {
    long got = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (got >= 0) stolen++;
    else if (errno == EPERM) denied++;
  }
  printf("pidfd_getfd stolen=%d denied=%d\\n", stolen, denied);
  struct rlimit none = {0, 0}, current;
  report("prlimit_set", prlimit(1, RLIMIT_NOFILE, &none, NULL));
  report("prlimit_get", prlimit(1, RLIMIT_NOFILE, NULL, &current));
  report("setpriority", setpriority(PRIO_PROCESS, 1, 19));
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(0, &cpus);
  report("setaffinity", sched_setaffinity(1, sizeof cpus, &cpus));
  struct sched_param param = {0};
  report("setscheduler", sched_setscheduler(1, SCHED_IDLE, &param));
  return 0;
}

// A daemon by the book: fork, setsid, fork, ignore hang-ups and terms, close
// stdio, look like a kernel thread, wait forever.
static int daemonize(int argc, char** argv) {
  int ready[2];
  pipe(ready);
  pid_t first = fork();
  if (first == 0) {
    setsid();
    if (fork() == 0) {
      for (int sig = 1; sig < 32; sig++) signal(sig, SIG_IGN);
      prctl(PR_SET_NAME, argv[0]);
      pid_t me = getpid();
      write(ready[1], &me, sizeof me);
      for (int fd = 0; fd < 3; fd++) close(fd);
      for (;;) pause();
    }
    _exit(0);
  }
  waitpid(first, NULL, 0);
  pid_t daemon = 0;
  read(ready[0], &daemon, sizeof daemon);
  report("daemon_alive", kill(daemon, 0));
  return 0;
}

// Fork children that exit at once and are never waited for, until fork fails.
static int zombies(int argc, char** argv) {
  int made = 0;
  for (;;) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) break;
    made++;
  }
  report("fork", -1);
  printf("zombies %d\\n", made);
  usleep(100000);
  return 0;
}

static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void burn(double ms) {
  while (thread_cpu_ms() < ms) {
  }
}

// argv: ms per burner, burners, ms to sleep. Burners are grandchildren whose
// parent has exited: orphans re-parented to init, burning while the program sleeps.
static int orphan_burn(int argc, char** argv) {
  double ms = atof(argv[0]);
  int burners = atoi(argv[1]);
  pid_t middle = fork();
  if (middle == 0) {
    for (int i = 0; i < burners; i++)
      if (fork() == 0) { burn(ms); _exit(0); }
    _exit(0);
  }
  waitpid(middle, NULL, 0);
  say("parent of the burners exited");
  usleep(atoi(argv[2]) * 1000);
  say("slept");
  return 0;
}

static void* burner(void* ms) {
  burn(*(double*)ms);
  return NULL;
}

// argv: ms per thread, threads.
static int thread_burn(int argc, char** argv) {
  double ms = atof(argv[0]);
  int count = atoi(argv[1]);
  pthread_t threads[16];
  for (int i = 0; i < count; i++) pthread_create(&threads[i], NULL, burner, &ms);
  for (int i = 0; i < count; i++) pthread_join(threads[i], NULL);
  say("burnt");
  return 0;
}

// Children that ignore every signal they can, one of them stopped, one spinning:
// the program exits and leaves them.
static int stubborn_children(int argc, char** argv) {
  for (int i = 0; i < 3; i++) {
    if (fork() == 0) {
      for (int sig = 1; sig < 65; sig++) signal(sig, SIG_IGN);
      setsid();
      if (i == 0) raise(SIGSTOP);
      if (i == 1) for (;;) pause();
      for (;;) {
      }
    }
  }
  say("left them");
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(kill_everything);
  ATTACK(scan_pids);
  ATTACK(ptrace_init);
  ATTACK(ptrace_child);
  ATTACK(read_init_memory);
  ATTACK(compare_init_files);
  ATTACK(init_handles);
  ATTACK(daemonize);
  ATTACK(zombies);
  ATTACK(orphan_burn);
  ATTACK(thread_burn);
  ATTACK(stubborn_children);
  return 2;
}
`;

describe('security: processes', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let hostSleep: ChildProcess;
  let hostSleepPid: number;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'proc', source: compileAttacks(fixtures, 'proc', PROCESS_ATTACKS, ['-pthread']) }];
    hostSleep = spawn('sleep', ['120'], { stdio: 'ignore' });
    assert.ok(hostSleep.pid !== undefined);
    hostSleepPid = hostSleep.pid;
    start = await baseline();
  });

  after(() => {
    hostSleep.kill('SIGKILL');
    removeFixtureDir(fixtures);
  });

  const assertNoneOfOurs = (): void => assert.deepEqual(sandboxUidProcesses(), [], 'sandbox processes left running');

  it('kill -9 -1 and every route to a host pid (the supervisor, a host process, init) kill only the sandbox', async () => {
    const result = await sandbox({
      argv: ['./proc', 'kill_everything', `host=${hostSleepPid}`, `supervisor=${process.pid}`, 'hostinit=1'],
      files,
    });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    assert.equal(seen.get('kill_all'), 'ok 0');
    assert.equal(seen.get('own_child'), 'killed', 'control: kill -1 does kill inside the sandbox');
    for (const label of ['host', 'supervisor']) {
      for (const route of ['kill', 'kill_group', 'tgkill', 'sigqueue', 'pidfd_open']) assert.equal(seen.get(`${route}:${label}`), 'ESRCH', `${route}:${label}`);
    }
    // pid 1 inside is the sandbox's init, not the host's: EPERM, not a kill
    for (const route of ['kill', 'kill_group', 'tgkill', 'sigqueue']) assert.match(seen.get(`${route}:hostinit`) ?? '', /^(EPERM|ESRCH)$/, route);
    assert.equal(seen.get('kill_init'), 'EPERM');
    assert.equal(seen.get('kill_init_term'), 'EPERM');
    assert.equal(seen.get('pidfd_signal_init'), 'EPERM');
    assert.equal(seen.get('survived'), '');
    assert.equal(isAlive(hostSleepPid), true, 'the host sleep was killed');
    assert.equal(hostSleep.signalCode, null);
    assert.equal(isAlive(process.pid), true);
    assertNoneOfOurs();
  });

  it('of 65535 pids only the program itself can be signalled; init exists but refuses', async () => {
    const result = await sandbox({ argv: ['./proc', 'scan_pids'], files, limits: { wallMs: 10_000, cpuMs: 5_000 } });
    assertStatus(result, 'ok');
    const self = /^self (\d+)$/m.exec(result.stdout)?.[1];
    assert.ok(self !== undefined, result.stdout);
    assert.equal(result.stdout, `self ${self}\nexists 1 EPERM\nsignalable ${self}\n`);
  });

  it('ptrace of init (which shares the supervisor\'s memory) stops the run', async () => {
    assertViolation(await sandbox({ argv: ['./proc', 'ptrace_init'], files }), 'ptrace', 'before\n');
  });

  it('ptrace of its own child stops the run too (no tracing at all)', async () => {
    assertViolation(await sandbox({ argv: ['./proc', 'ptrace_child'], files }), 'ptrace', 'before\n');
    assertNoneOfOurs();
  });

  it("process_vm_readv of init's memory stops the run", async () => {
    assertViolation(await sandbox({ argv: ['./proc', 'read_init_memory'], files }), 'process_vm_readv', 'before\n');
  });

  it("kcmp against init's files stops the run", async () => {
    assertViolation(await sandbox({ argv: ['./proc', 'compare_init_files'], files }), 'kcmp', 'before\n');
  });

  it("init's fds (pidfd_getfd), limits, priority, CPUs and scheduler are out of reach", async () => {
    const result = await sandbox({ argv: ['./proc', 'init_handles'], files });
    assertStatus(result, 'ok');
    assert.equal(
      result.stdout,
      'pidfd_open ok 3\npidfd_getfd stolen=0 denied=64\nprlimit_set EPERM\nprlimit_get EPERM\nsetpriority EPERM\nsetaffinity EPERM\nsetscheduler EPERM\n',
    );
  });

  it("/proc/1 (init: the supervisor's memory, environment and command line) is invisible", async () => {
    const script = `
import os
for name in ['mem', 'environ', 'cmdline', 'maps', 'fd', 'status', 'stack', 'syscall']:
    try:
        with open('/proc/1/' + name, 'rb') as f:
            print(name, 'read', len(f.read()))
    except OSError as e:
        print(name, e.strerror)
`;
    const result = await sandbox({ argv: [PYTHON, '-c', script] });
    assertStatus(result, 'ok');
    const names = ['mem', 'environ', 'cmdline', 'maps', 'fd', 'status', 'stack', 'syscall'];
    assert.equal(result.stdout, names.map((name) => `${name} No such file or directory\n`).join(''));
  });

  it('a daemon (double fork, setsid, signals ignored, disguised as a kernel thread) dies with the run', async () => {
    const disguise = 'kworker/0:1-ev';
    const started = Date.now();
    const result = await sandbox({ argv: ['./proc', 'daemonize', disguise], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'daemon_alive ok 0\n', 'the daemon ran');
    assert.ok(Date.now() - started < 3_000, 'the run waited for its daemon');
    assertNoneOfOurs();
    const disguised = hostProcesses().filter((p) => p.name === disguise && p.uids.some((uid) => uid >= UID_BASE));
    assert.deepEqual(disguised, [], 'the disguised daemon is still running on the host');
  });

  it('children that ignore every signal, one stopped, one spinning, die when the program exits', async () => {
    const result = await sandbox({ argv: ['./proc', 'stubborn_children'], files, limits: { cpuMs: 5_000, wallMs: 5_000 } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'left them\n');
    assert.ok(result.wallMs < 3_000, `the run waited ${result.wallMs} ms for them`);
    assertNoneOfOurs();
  });

  it('a zombie flood stops at the pids limit and is reaped', async () => {
    const pids = 32;
    const result = await sandbox({ argv: ['./proc', 'zombies'], files, limits: { pids } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, `fork EAGAIN\nzombies ${pids - 1}\n`);
    assertNoneOfOurs();
  });

  it('CPU burnt by orphans after their parent exited is counted in cpuMs', async () => {
    const result = await sandbox({ argv: ['./proc', 'orphan_burn', '400', '1', '700'], files, limits: { cpuMs: 2_000 } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'parent of the burners exited\nslept\n');
    assert.ok(result.cpuMs >= 400 && result.cpuMs < 650, `cpuMs ${result.cpuMs} for an orphan that burnt 400 ms`);
  });

  it('orphans burning past the CPU limit while the program sleeps are a time_limit', async () => {
    const cpuMs = 300;
    const result = await sandbox({ argv: ['./proc', 'orphan_burn', '5000', '2', '5000'], files, limits: { cpuMs, wallMs: 5_000 } });
    assertStatus(result, 'time_limit');
    assert.ok(result.cpuMs >= cpuMs && result.cpuMs < cpuMs + 500, `cpuMs ${result.cpuMs}`);
    assert.ok(result.wallMs < 4_000, `wallMs ${result.wallMs}: the limit was enforced late`);
    assertNoneOfOurs();
  });

  it('threads burning CPU in parallel are all counted, and together hit the limit', async () => {
    const counted = await sandbox({ argv: ['./proc', 'thread_burn', '250', '3'], files, limits: { cpuMs: 2_000 } });
    assertStatus(counted, 'ok');
    assert.ok(counted.cpuMs >= 740 && counted.cpuMs < 1_000, `cpuMs ${counted.cpuMs} for 3 x 250 ms`);
    const limited = await sandbox({ argv: ['./proc', 'thread_burn', '2000', '4'], files, limits: { cpuMs: 400 } });
    assertStatus(limited, 'time_limit');
    assert.equal(limited.stdout, '');
    assert.ok(limited.cpuMs >= 400 && limited.cpuMs < 900, `cpuMs ${limited.cpuMs}`);
  });

  it('leaves nothing behind, and the host sleep is still alive', async () => {
    assert.equal(isAlive(hostSleepPid), true);
    await assertNothingLeftBehind(start);
  });
});
