// Sandboxes reused between runs (native/reset.cc, supervisor.cc sandbox_reset):
// run A of a key leaves something behind, or marks the sandbox, and run B of the
// same key — another user's, in the sandbox A left — must find nothing of it.
// Each attack checks that B did get A's sandbox (same tmpfs: its device, and
// inode numbers counting on from A's), or, where the sandbox cannot be made as
// new, that it was not reused. Then the pool: runs of a key going on together
// while it is released, and a read-only path replaced before each run, which
// must never be seen as it was by a sandbox taken while being built or reset.
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { releaseWarmSandboxes, sandboxPoolStats } from '../../sandbox/run.js';
import type { RunResult, RunSpec } from '../../sandbox/schema.js';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import {
  assertNothingLeftBehind,
  assertStatus,
  baseline,
  compileAttacks,
  LOOK_OR_ATTACK_MAIN,
  markOf,
  outcomes,
  SANDBOX_MARK,
  sameSandbox,
  sandbox,
} from './helpers.js';

const REUSE_ATTACKS = SANDBOX_MARK + String.raw`
#include <dirent.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

static const char* const ROOTS[] = {"/box", "/tmp"};
// As the run found them, before mark() touches /tmp.
static struct stat found[2];

// The work dir's and /tmp's times, set to a message for the next run.
static int leave_times(int argc, char** argv) {
  struct timespec times[2] = {{111111111, 0}, {222222222, 0}};
  for (int i = 0; i < 2; i++) report(ROOTS[i], utimensat(AT_FDCWD, ROOTS[i], times, 0));
  return 0;
}

// Inode flags an owner may set on tmpfs (FS_IOC_SETFLAGS): no-dump, no-atime.
static int leave_flags(int argc, char** argv) {
  for (int i = 0; i < 2; i++) {
    int fd = open(ROOTS[i], O_RDONLY | O_DIRECTORY);
    int flags = FS_NODUMP_FL | FS_NOATIME_FL;
    report(ROOTS[i], fd < 0 ? fd : ioctl(fd, FS_IOC_SETFLAGS, &flags));
    close(fd);
  }
  return 0;
}

// Flags of its stdin's, stdout's and stderr's open files (F_SETFL): were one of
// them shared with the next run (the same /dev/null opened once), they would
// carry a message to it.
static int leave_stdio_flags(int argc, char** argv) {
  static const char* const NAMES[] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; fd++) report(NAMES[fd], fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK | O_APPEND));
  return 0;
}

static void mkfile(const char* path, mode_t mode) {
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd >= 0) { ssize_t ignored = write(fd, "left", 4); (void)ignored; close(fd); }
  chmod(path, mode);
}

// A chain of <depth> directories under <root>, a file at the bottom.
static void chain(const char* root, int depth) {
  char path[4096];
  size_t used = (size_t)snprintf(path, sizeof path, "%s", root);
  for (int i = 0; i < depth; i++) {
    used += (size_t)snprintf(path + used, sizeof path - used, "/d");
    mkdir(path, 0755);
  }
  snprintf(path + used, sizeof path - used, "/bottom");
  mkfile(path, 0644);
}

// Everything awkward to remove, within the depth reset.cc walks.
static int leave_tree(int argc, char** argv) {
  for (int r = 0; r < 2; r++) {
    char path[256];
    const char* root = ROOTS[r];
    snprintf(path, sizeof path, "%s/odd\001\377\n name", root); mkfile(path, 0644);
    snprintf(path, sizeof path, "%s/.hidden", root); mkfile(path, 0);
    snprintf(path, sizeof path, "%s/fifo", root); report("fifo", mkfifo(path, 0600));
    snprintf(path, sizeof path, "%s/link-target", root); mkfile(path, 0644);
    char link_path[256];
    snprintf(link_path, sizeof link_path, "%s/hard-link", root); link(path, link_path);
    snprintf(link_path, sizeof link_path, "%s/sym-link", root); symlink("/box/nowhere", link_path);
    // a unix socket bound to a path, left when its process exits
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sock", root);
    report("bind", bind(sock, (struct sockaddr*)&addr, sizeof addr));
    // directories closed to everyone, or sticky, with files in them
    snprintf(path, sizeof path, "%s/closed", root); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/closed/inside", root); mkfile(path, 0);
    snprintf(path, sizeof path, "%s/closed", root); chmod(path, 0);
    snprintf(path, sizeof path, "%s/sticky", root); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sticky/inside", root); mkfile(path, 0444);
    snprintf(path, sizeof path, "%s/sticky", root); chmod(path, 01555);
    snprintf(path, sizeof path, "%s/chain", root); mkdir(path, 0755); chain(path, 12);
    // many files
    snprintf(path, sizeof path, "%s/many", root); mkdir(path, 0755);
    for (int i = 0; i < 100; i++) {
      snprintf(path, sizeof path, "%s/many/%04d-%s", root, i, "a-rather-long-name-to-fill-more-than-one-getdents-buffer");
      mkfile(path, 0644);
    }
  }
  say("tree left");
  return 0;
}

// A chain deeper than reset.cc walks: the sandbox cannot be emptied.
static int leave_deep(int argc, char** argv) {
  chain("/box", 40);
  chain("/tmp", 40);
  say("deep left");
  return 0;
}

// Processes meant to outlive the run: a daemon in a session of its own that
// ignores every signal it can, holds a file open and keeps writing it; a stopped
// child; a zombie.
static int leave_processes(int argc, char** argv) {
  if (fork() == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    for (int sig = 1; sig < 32; sig++) signal(sig, SIG_IGN);
    int fd = open("/box/held", O_CREAT | O_WRONLY, 0644);
    int tmp = open("/tmp/held", O_CREAT | O_WRONLY, 0644);
    for (;;) { ssize_t ignored = write(fd, "x", 1) + write(tmp, "x", 1); (void)ignored; usleep(1000); }
  }
  pid_t stopped = fork();
  if (stopped == 0) { for (;;) pause(); }
  kill(stopped, SIGSTOP);
  if (fork() == 0) _exit(0);  // never waited for
  usleep(50000);
  say("processes left");
  return 0;
}

// Negative dentries in the read-only root, charged to the run's memory cgroup,
// which the next run in the sandbox shares: <n> lookups of names nothing has.
static int leave_dentries(int argc, char** argv) {
  int n = atoi(argv[0]);
  char path[128];
  struct stat info;
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "/usr/cellblock-missing-%d-%d-%ld", i, getpid(), (long)time(NULL));
    stat(path, &info);
  }
  say("dentries left");
  return 0;
}

// CPU burnt, and a child killed by the OOM killer: counters the next run in the
// cgroup must not inherit.
static int leave_counters(int argc, char** argv) {
  struct timespec start, now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  do clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 300);
  pid_t child = fork();
  if (child == 0) {
    for (;;) { char* page = malloc(1 << 20); if (page != NULL) memset(page, 1, 1 << 20); }
  }
  int status = 0;
  waitpid(child, &status, 0);
  printf("child %s\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "oom-killed" : "survived");
  return 0;
}

static int entries(const char* dir, char* out, size_t room) {
  DIR* d = opendir(dir);
  if (d == NULL) return 0;
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(d)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0 || strcmp(entry->d_name, "attack") == 0) continue;
    size_t used = strlen(out);
    if (used + 2 < room) snprintf(out + used, room - used, "%s,", entry->d_name);
    count++;
  }
  closedir(d);
  return count;
}

// What the run finds: times, flags, entries, free room, processes.
static int look(int argc, char** argv) {
  for (int i = 0; i < 2; i++) {
    const struct stat info = found[i];
    int fd = open(ROOTS[i], O_RDONLY | O_DIRECTORY), flags = -1;
    ioctl(fd, FS_IOC_GETFLAGS, &flags);
    close(fd);
    char names[512] = "";
    int count = entries(ROOTS[i], names, sizeof names);
    printf("%s-times %ld %ld\n", ROOTS[i] + 1, (long)info.st_atime, (long)info.st_mtime);
    printf("%s-flags %x\n", ROOTS[i] + 1, flags);
    printf("%s-entries %d %s\n", ROOTS[i] + 1, count, names);
  }
  struct statfs fs;
  statfs("/box", &fs);
  printf("free %lu %lu\n", (unsigned long)fs.f_ffree, (unsigned long)fs.f_bfree);
  char names[512] = "";
  int processes = 0;
  DIR* proc = opendir("/proc");
  struct dirent* entry;
  while ((entry = readdir(proc)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    processes++;
    strncat(names, entry->d_name, sizeof names - strlen(names) - 2);
    strcat(names, ",");
  }
  printf("processes %d %s\n", processes, names);
  int shared = O_NONBLOCK | O_APPEND;
  printf("stdio-flags %x %x %x\n", fcntl(0, F_GETFL) & shared, fcntl(1, F_GETFL) & shared, fcntl(2, F_GETFL) & shared);
  printf("pid %d\n", getpid());
  return 0;
}

static int attack(int argc, char** argv) {
  ATTACK(leave_times);
  ATTACK(leave_flags);
  ATTACK(leave_stdio_flags);
  ATTACK(leave_tree);
  ATTACK(leave_deep);
  ATTACK(leave_processes);
  ATTACK(leave_dentries);
  ATTACK(leave_counters);
  return 2;
}

static void before_mark(void) {
  for (int i = 0; i < 2; i++) stat(ROOTS[i], &found[i]);
}
`;

// A key of its own for each test: the sandbox key holds the work dir's size.
const diskKb = (n: number): number => 70_000 + n;

describe('sandboxes reused between runs', () => {
  let fixtures: string;
  let files: NonNullable<RunSpec['files']>;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'attack', source: compileAttacks(fixtures, 'reuse', REUSE_ATTACKS + LOOK_OR_ATTACK_MAIN), mode: 0o755 }];
    start = await baseline();
  });

  after(async () => {
    releaseWarmSandboxes();
    await assertNothingLeftBehind(start);
    removeFixtureDir(fixtures);
  });

  const spec = (key: number, args: string[], limits: RunSpec['limits'] = {}): RunSpec => ({
    argv: ['./attack', ...args],
    files,
    limits: { ...limits, diskKb: diskKb(key) },
  });

  // Warms the key with two looks (the second is what a run finds in a sandbox
  // as new), runs A, then looks until a look lands in A's sandbox (each key
  // keeps a few). Returns the clean look, A and the looks that followed it.
  async function attack(
    key: number,
    args: string[],
    aStatus: RunResult['status'] = 'ok',
    limits: RunSpec['limits'] = {},
  ): Promise<{ clean: Map<string, string>; cleanRun: RunResult; a: RunResult; looks: RunResult[]; inA: RunResult | undefined }> {
    releaseWarmSandboxes();
    await sandbox(spec(key, ['look'], limits));
    const cleanRun = await sandbox(spec(key, ['look'], limits));
    assertStatus(cleanRun, 'ok');
    const a = await sandbox(spec(key, args, limits));
    assertStatus(a, aStatus);
    const looks: RunResult[] = [];
    let inA: RunResult | undefined;
    for (let i = 0; i < 6 && inA === undefined; i++) {
      const look = await sandbox(spec(key, ['look'], limits));
      assertStatus(look, 'ok');
      looks.push(look);
      if (sameSandbox(markOf(a), markOf(look))) inA = look;
    }
    return { clean: outcomes(cleanRun.stdout), cleanRun, a, looks, inA };
  }

  // What every look must find, whatever the attack: nothing but itself.
  function assertFoundNothing(clean: Map<string, string>, looks: RunResult[]): void {
    for (const look of looks) {
      const seen = outcomes(look.stdout);
      for (const what of ['box-flags', 'tmp-flags', 'box-entries', 'tmp-entries', 'free', 'processes', 'pid', 'stdio-flags'])
        assert.equal(seen.get(what), clean.get(what), `${what}: a look found what another run left\n${look.stdout}`);
    }
  }

  it("the work dir's and /tmp's times carry no message from the run before", async () => {
    const { clean, a, looks, inA } = await attack(1, ['leave_times']);
    assert.match(a.stdout, /\/box ok 0\n\/tmp ok 0\n/, 'control: the program could not set the times');
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left');
    assertFoundNothing(clean, looks);
    for (const look of looks) {
      const seen = outcomes(look.stdout);
      for (const root of ['box', 'tmp']) {
        const times = seen.get(`${root}-times`) ?? '';
        assert.ok(!times.includes('111111111') && !times.includes('222222222'), `/${root} times left by another run: ${times}`);
      }
    }
  });

  it("inode flags set on the work dir and /tmp are cleared for the next run", async () => {
    const { clean, a, looks, inA } = await attack(2, ['leave_flags']);
    assert.match(a.stdout, /\/box ok 0\n\/tmp ok 0\n/, 'control: the program could not set the flags');
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left');
    assertFoundNothing(clean, looks);
  });

  it("the flags a run set on its stdin's, stdout's and stderr's open files are not the next run's", async () => {
    const { clean, a, looks, inA } = await attack(10, ['leave_stdio_flags']);
    assert.match(a.stdout, /stdin ok 0\nstdout ok 0\nstderr ok 0\n/, 'control: the program could not set the flags');
    assert.equal(clean.get('stdio-flags'), '0 0 0');
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left');
    assertFoundNothing(clean, looks);
  });

  it('files, fifos, sockets, links, closed and sticky directories and 200 files are all gone', async () => {
    const { clean, a, looks, inA } = await attack(3, ['leave_tree']);
    assert.match(a.stdout, /tree left\n$/);
    assert.ok(inA !== undefined, `control: no look ran in the sandbox A left: A ${JSON.stringify(markOf(a))}, looks ${JSON.stringify(looks.map(markOf))}`);
    assertFoundNothing(clean, looks);
  });

  it('a tree deeper than the reset walks leaves its sandbox unused, and nothing to anyone', async () => {
    const reusesBefore = sandboxPoolStats().reuses;
    const { clean, a, looks, inA } = await attack(4, ['leave_deep']);
    assert.match(a.stdout, /deep left\n$/);
    assert.equal(inA, undefined, 'a sandbox that could not be emptied was given another run');
    assertFoundNothing(clean, looks);
    assert.ok(sandboxPoolStats().reuses > reusesBefore, 'control: no sandbox of the key was reused at all');
  });

  it('a daemon, a stopped process and a zombie die with their run, and what they held open goes', async () => {
    const { clean, a, looks, inA } = await attack(5, ['leave_processes']);
    assert.match(a.stdout, /processes left\n$/);
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left');
    assertFoundNothing(clean, looks);
  });
  it("the CPU a run burnt and the OOM kill it suffered are not the next run's", async () => {
    const { clean, a, looks, inA } = await attack(6, ['leave_counters'], 'memory_limit', { memoryKb: 32 * 1024 });
    assert.ok(a.stdout.includes('child oom-killed') && a.cpuMs >= 300, `control: ${a.stdout} in ${a.cpuMs} ms`);
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left');
    assertFoundNothing(clean, looks);
    for (const look of looks) {
      assertStatus(look, 'ok');
      assert.ok(look.cpuMs < 100, `a look was charged ${look.cpuMs} ms of CPU`);
    }
  });

  it("memory a run left charged (dentries of names it looked up) is not in the next run's peak", async () => {
    // ~2 MiB of negative dentries: more than a reset may leave, unless reclaimed
    const { clean, cleanRun, a, looks, inA } = await attack(7, ['leave_dentries', '10000']);
    assert.match(a.stdout, /dentries left\n$/);
    assert.ok(a.memoryKb > cleanRun.memoryKb + 1024, `control: A peaked at ${a.memoryKb} KiB, a look at ${cleanRun.memoryKb}`);
    assert.ok(inA !== undefined, 'control: no look ran in the sandbox A left (was it left holding memory?)');
    assertFoundNothing(clean, looks);
    // a look's peak varies with the page cache by a few hundred KiB; 2 MiB would show
    assert.ok(inA.memoryKb < cleanRun.memoryKb + 1024, `a look in A's sandbox peaked at ${inA.memoryKb} KiB, a fresh one at ${cleanRun.memoryKb}`);
  });
  it('runs of a key going on together, the pool released among them, each find nothing of the others', async () => {
    releaseWarmSandboxes();
    const key = 8;
    const clean = outcomes((await sandbox(spec(key, ['look']))).stdout);
    const looks: RunResult[] = [];
    for (let round = 0; round < 4; round++) {
      const leavers = [0, 1].map(() => sandbox(spec(key, ['leave_tree'])));
      const lookers = [0, 1, 2].map(() => sandbox(spec(key, ['look'])));
      // sandboxes are reset, built and dropped while runs come and go
      if (round === 2) releaseWarmSandboxes();
      for (const leaver of await Promise.all(leavers)) assertStatus(leaver, 'ok');
      looks.push(...(await Promise.all(lookers)));
      looks.push(...(await Promise.all([0, 1, 2].map(() => sandbox(spec(key, ['look']))))));
    }
    for (const look of looks) assertStatus(look, 'ok');
    assertFoundNothing(clean, looks);
    // some looks did land in a sandbox a leaver had used
    const inLeavers = looks.filter((look) => markOf(look).ino > 100).length;
    assert.ok(inLeavers > 0, 'control: no look ran in a sandbox a leaver left');
  });
  it('a read-only path replaced just before each run is, in each run, what was put there last', async () => {
    // as a judge replaces a test's data under the same path, run after run: a
    // sandbox taken while it was being built or reset had its binds made before
    const data = join(fixtures, 'replaced.txt');
    writeFileSync(data, 'version 0');
    const stale: string[] = [];
    for (let version = 1; version <= 100; version++) {
      writeFileSync(`${data}.new`, `version ${version}`);
      renameSync(`${data}.new`, data);
      const result = await sandbox({ argv: ['/bin/cat', data], readOnly: [data], limits: { diskKb: diskKb(9) } });
      assertStatus(result, 'ok');
      if (result.stdout !== `version ${version}`) stale.push(`${result.stdout} for version ${version}`);
    }
    assert.deepEqual(stale, [], 'runs saw a read-only path as it was before it was replaced');
  });
});
