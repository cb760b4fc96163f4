// Denial of service: fork, thread, memory (heap, processes, SysV shm, memfd),
// stack, output, disk and fd bombs, sleepers and stdin blockers. Each must end
// with the verdict of the limit it hit, in bounded time, with the host side
// intact: the run's cgroup never went past its limit, no process is left, SysV
// IPC of the host is untouched, and the next run is normal.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';
import { readNumber, readText, runCgroupsOf, sampleWhile, sandboxUidProcesses } from '../helpers/host.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertStatus, baseline, compileAttacks, sandbox } from './helpers.js';

const RESOURCE_ATTACKS = `
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>

// Writes every page (through volatile, so the compiler cannot drop an unread buffer).
static void touch(void* mem, size_t size) {
  for (size_t i = 0; i < size; i += 4096) ((volatile char*)mem)[i] = 1;
}

static int fork_bomb(int argc, char** argv) {
  int forked = 0;
  for (;;) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    if (pid < 0) break;
    forked++;
  }
  report("fork", -1);
  printf("forked %d\\n", forked);
  return 0;
}

static void* idle(void* unused) {
  pause();
  return unused;
}

static int thread_bomb(int argc, char** argv) {
  int created = 0, rc;
  pthread_t thread;
  while ((rc = pthread_create(&thread, NULL, idle, NULL)) == 0) created++;
  errno = rc;
  report("pthread_create", -1);
  printf("created %d\\n", created);
  return 0;
}

// Touch 16 MiB chunks until something gives.
static int heap_bomb(int argc, char** argv) {
  long touched = 0;
  for (;;) {
    char* chunk = malloc(16 << 20);
    if (chunk == NULL) break;
    touch(chunk, 16 << 20);
    touched += 16;
    printf("touched %ld MiB\\n", touched);
    fflush(stdout);
  }
  report("malloc", -1);
  return 0;
}

// Many processes, each under any per-process limit, together over the tree's.
static int spread_bomb(int argc, char** argv) {
  for (int i = 0; i < atoi(argv[0]); i++) {
    if (fork() == 0) {
      touch(malloc(atoi(argv[1]) << 20), atoi(argv[1]) << 20);
      pause();
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {
  }
  say("all children done");
  return 0;
}

static int shm_bomb(int argc, char** argv) {
  size_t size = (size_t)atoi(argv[0]) << 20;
  int id = report("shmget", shmget(IPC_PRIVATE, size, IPC_CREAT | 0600));
  char* mem = shmat(id, NULL, 0);
  report("shmat", mem == (void*)-1 ? -1 : 0);
  touch(mem, size);
  say("touched");
  return 0;
}

static int memfd_bomb(int argc, char** argv) {
  size_t size = (size_t)atoi(argv[0]) << 20;
  int fd = report("memfd_create", memfd_create("bomb", 0));
  report("ftruncate", ftruncate(fd, size));
  char* mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  touch(mem, size);
  say("touched");
  return 0;
}

// Kernel memory instead of the heap: pipe buffers (1 MiB each) or unix socket
// queues, filled until something gives. argv: "pipe" | "stream" | "dgram", count.
static int kernel_memory_bomb(int argc, char** argv) {
  static char chunk[65536];
  memset(chunk, 'k', sizeof chunk);
  long queued = 0;
  for (int i = 0; i < atoi(argv[1]); i++) {
    int fds[2];
    if (!strcmp(argv[0], "pipe")) {
      if (report("pipe", pipe(fds)) < 0) break;
      fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
    } else {
      if (report("socketpair", socketpair(AF_UNIX, argv[0][0] == 'd' ? SOCK_DGRAM : SOCK_STREAM, 0, fds)) < 0) break;
      int big = 1 << 24;
      setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = write(fds[1], chunk, argv[0][0] == 'd' ? 4096 : sizeof chunk)) > 0) queued += n;
  }
  printf("queued %ld MiB\\n", queued >> 20);
  return 0;
}

static int recurse(int depth) {
  volatile char frame[4096];
  frame[0] = (char)depth;
  return recurse(depth + 1) + frame[0];
}

static int stack_bomb(int argc, char** argv) {
  say("recursing");
  return recurse(0);
}

// argv: fd (1 or 2), children writing at once.
static int output_bomb(int argc, char** argv) {
  static char chunk[65536];
  memset(chunk, 'y', sizeof chunk);
  int fd = atoi(argv[0]);
  for (int i = 1; i < atoi(argv[1]); i++)
    if (fork() == 0) break;
  for (;;) write(fd, chunk, sizeof chunk);
}

// A sparse file the size of a disk, then a real one through /tmp.
static int disk_bomb(int argc, char** argv) {
  int fd = open("/box/sparse", O_WRONLY | O_CREAT, 0644);
  say("sparse");
  report("ftruncate", ftruncate(fd, 1L << 40));
  return 0;
}

static int fd_bomb(int argc, char** argv) {
  int opened = 0, fds[2];
  while (open("/dev/null", O_RDONLY) >= 0) opened++;
  report("open", -1);
  report("pipe", pipe(fds));
  report("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
  report("dup", dup(0));
  report("memfd", memfd_create("x", 0));
  printf("opened %d\\n", opened);
  return 0;
}

// argv: how to wait forever.
static int sleeper(int argc, char** argv) {
  say("sleeping");
  if (!strcmp(argv[0], "pause")) pause();
  if (!strcmp(argv[0], "nanosleep")) { struct timespec ts = {1L << 30, 0}; nanosleep(&ts, NULL); }
  if (!strcmp(argv[0], "select")) select(0, NULL, NULL, NULL, NULL);
  if (!strcmp(argv[0], "futex")) { int word = 0; syscall(SYS_futex, &word, 0 /* FUTEX_WAIT */, 0, NULL, NULL, 0); }
  if (!strcmp(argv[0], "own_pipe")) { int fds[2]; pipe(fds); char c; read(fds[0], &c, 1); }
  if (!strcmp(argv[0], "own_fifo")) { mkfifo("/box/fifo", 0600); open("/box/fifo", O_RDONLY); }
  if (!strcmp(argv[0], "stdin")) { char c; ssize_t n = read(0, &c, 1); printf("stdin %zd\\n", n); fflush(stdout); n = read(0, &c, 1); printf("stdin again %zd\\n", n); return 0; }
  say("woke up");
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(fork_bomb);
  ATTACK(thread_bomb);
  ATTACK(heap_bomb);
  ATTACK(spread_bomb);
  ATTACK(shm_bomb);
  ATTACK(memfd_bomb);
  ATTACK(kernel_memory_bomb);
  ATTACK(stack_bomb);
  ATTACK(output_bomb);
  ATTACK(disk_bomb);
  ATTACK(fd_bomb);
  ATTACK(sleeper);
  return 2;
}
`;

interface PidsSample {
  peak: number;
  refused: number;
}

// The run's pids cgroup as the kernel sees it, sampled from the host.
function samplePids(): PidsSample {
  const dir = runCgroupsOf(process.pid, ['pids'])[0];
  if (dir === undefined) return { peak: 0, refused: 0 };
  return {
    peak: readNumber(`${dir}/pids.peak`) ?? readNumber(`${dir}/pids.current`) ?? 0,
    refused: Number(/^max (\d+)$/m.exec(readText(`${dir}/pids.events`))?.[1] ?? 0),
  };
}

describe('security: resources', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'res', source: compileAttacks(fixtures, 'res', RESOURCE_ATTACKS, ['-pthread']) }];
    start = await baseline();
  });

  after(() => removeFixtureDir(fixtures));

  const assertNoneOfOurs = (): void => assert.deepEqual(sandboxUidProcesses(), [], 'sandbox processes left running');

  it('a C fork bomb gets EAGAIN at the pids limit; the cgroup never goes past it', async () => {
    const pids = 24;
    const launched = sandbox({ argv: ['./res', 'fork_bomb'], files, limits: { pids } });
    const samples = await sampleWhile(launched, 2, samplePids);
    const result = await launched;
    assertStatus(result, 'ok');
    assert.equal(result.stdout, `fork EAGAIN\nforked ${pids - 1}\n`);
    const peak = Math.max(...samples.map((s) => s.peak));
    assert.ok(peak <= pids, `the pids cgroup peaked at ${peak}`);
    assertNoneOfOurs();
  });

  it('a shell fork bomb ends within the wall limit and leaves nothing; the next run is normal', async () => {
    const pids = 32;
    const launched = sandbox({ argv: ['/bin/bash', '-c', ':(){ :|:& };:; sleep 1; echo survived'], limits: { pids, wallMs: 1_500 } });
    const samples = await sampleWhile(launched, 5, samplePids);
    const result = await launched;
    assert.notEqual(result.status, 'internal_error', JSON.stringify(result.error));
    assert.ok(result.wallMs < 2_500, `wallMs ${result.wallMs}`);
    assert.ok(Math.max(...samples.map((s) => s.peak)) <= pids, 'the pids cgroup went past its limit');
    assert.ok(Math.max(...samples.map((s) => s.refused)) > 0, 'the bomb never reached the limit');
    assertNoneOfOurs();
    const next = await sandbox({ argv: ['/bin/echo', 'next'] });
    assertStatus(next, 'ok');
    assert.equal(next.stdout, 'next\n');
  });

  it('a Python fork bomb gets BlockingIOError at the pids limit', async () => {
    const script = `
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except BlockingIOError as e:
    print('forked', n, 'then', e.strerror)
`;
    const result = await sandbox({ argv: [PYTHON, '-c', script], limits: { pids: 16 } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'forked 15 then Resource temporarily unavailable\n');
    assertNoneOfOurs();
  });

  it('a thread bomb gets EAGAIN at the pids limit', async () => {
    const result = await sandbox({ argv: ['./res', 'thread_bomb'], files, limits: { pids: 20 } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'pthread_create EAGAIN\ncreated 19\n');
  });

  it('a heap bomb is a memory_limit, measured at the limit', async () => {
    const memoryKb = 64 * 1024;
    const result = await sandbox({ argv: ['./res', 'heap_bomb'], files, limits: { memoryKb } });
    assertStatus(result, 'memory_limit');
    const touched = result.stdout.trim().split('\n').length;
    assert.ok(touched >= 2 && touched <= 4, `touched ${touched} x 16 MiB under 64 MiB`);
    assert.ok(result.memoryKb >= memoryKb * 0.9 && result.memoryKb <= memoryKb * 1.1, `memoryKb ${result.memoryKb}`);
  });

  it('memory spread over 8 processes, 12 MiB each, is limited as one tree', async () => {
    const result = await sandbox({ argv: ['./res', 'spread_bomb', '8', '12'], files, limits: { memoryKb: 48 * 1024, wallMs: 3_000 } });
    assertStatus(result, 'memory_limit');
    assert.equal(result.stdout, '');
    assertNoneOfOurs();
  });

  it('a SysV shared memory bomb is a memory_limit, and no segment is left on the host', async () => {
    const hostShm = readText('/proc/sysvipc/shm');
    const result = await sandbox({ argv: ['./res', 'shm_bomb', '256'], files, limits: { memoryKb: 64 * 1024 } });
    assertStatus(result, 'memory_limit');
    assert.match(result.stdout, /^shmget ok \d+\nshmat ok 0\n$/);
    assert.equal(readText('/proc/sysvipc/shm'), hostShm, 'a shared memory segment appeared on the host');
  });

  it('a memfd bomb is a memory_limit', async () => {
    // 48 MiB: under the file size limit (ftruncate past it is SIGXFSZ), over the memory limit
    const result = await sandbox({ argv: ['./res', 'memfd_bomb', '48'], files, limits: { memoryKb: 24 * 1024 } });
    assertStatus(result, 'memory_limit');
    assert.equal(result.stdout, 'memfd_create ok 3\nftruncate ok 0\n');
  });

  for (const kind of ['pipe', 'stream', 'dgram']) {
    it(`kernel memory (${kind === 'pipe' ? 'pipe buffers' : `unix ${kind} socket queues`}) counts against the run's memory: a memory_limit`, async () => {
      const memoryKb = 32 * 1024;
      const result = await sandbox({ argv: ['./res', 'kernel_memory_bomb', kind, '1000'], files, limits: { memoryKb, openFiles: 2_100, wallMs: 5_000 } });
      assertStatus(result, 'memory_limit');
      assert.doesNotMatch(result.stdout, /^queued/m, 'the program queued everything it wanted');
      assert.ok(result.memoryKb <= memoryKb * 1.1, `memoryKb ${result.memoryKb}`);
    });
  }

  it('a stack bomb dies of SIGSEGV at stackKb, far below the memory limit', async () => {
    const result = await sandbox({ argv: ['./res', 'stack_bomb'], files, limits: { stackKb: 1024 } });
    assertStatus(result, 'runtime_error');
    assert.equal(result.signalName, 'SIGSEGV');
    assert.equal(result.stdout, 'recursing\n');
    assert.ok(result.memoryKb < 16 * 1024, `memoryKb ${result.memoryKb}`);
  });

  it('output bombs on stdout and stderr, from 4 processes at once, stop at the cap', async () => {
    const outputKb = 256;
    for (const fd of ['1', '2']) {
      const result = await sandbox({ argv: ['./res', 'output_bomb', fd, '4'], files, limits: { outputKb } });
      assertStatus(result, 'output_limit');
      const captured = fd === '1' ? result.stdout : result.stderr;
      assert.equal(Buffer.byteLength(captured), outputKb * 1024, `fd ${fd}`);
      assert.ok(result.wallMs < 4_000, `wallMs ${result.wallMs}`);
    }
    assertNoneOfOurs();
  });

  it('with truncateOutput an output bomb keeps the prefix and runs into the wall limit', async () => {
    const result = await sandbox({ argv: ['./res', 'output_bomb', '1', '1'], files, limits: { outputKb: 64, wallMs: 300, cpuMs: 5_000 }, truncateOutput: true });
    assertStatus(result, 'wall_time_limit');
    assert.equal(result.stdout, 'y'.repeat(64 * 1024));
  });

  it('a sparse 1 TiB file is stopped by the file size limit (SIGXFSZ)', async () => {
    const result = await sandbox({ argv: ['./res', 'disk_bomb'], files, limits: { fileSizeKb: 1024 } });
    assertStatus(result, 'output_limit');
    assert.equal(result.signalName, 'SIGXFSZ');
    assert.equal(result.stdout, 'sparse\n');
  });

  it('an fd bomb stops at openFiles with EMFILE, for files, pipes, sockets, dups and memfds', async () => {
    const openFiles = 32;
    const result = await sandbox({ argv: ['./res', 'fd_bomb'], files, limits: { openFiles } });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, `open EMFILE\npipe EMFILE\nsocketpair EMFILE\ndup EMFILE\nmemfd EMFILE\nopened ${openFiles - 3}\n`);
  });

  for (const how of ['pause', 'nanosleep', 'select', 'futex', 'own_pipe', 'own_fifo']) {
    it(`a program that waits forever (${how}) is a wall_time_limit at the limit`, async () => {
      const wallMs = 250;
      const started = Date.now();
      const result = await sandbox({ argv: ['./res', 'sleeper', how], files, limits: { wallMs } });
      assertStatus(result, 'wall_time_limit');
      assert.equal(result.stdout, 'sleeping\n');
      assert.ok(result.wallMs >= wallMs && result.wallMs < wallMs + 1_000, `wallMs ${result.wallMs}`);
      assert.ok(Date.now() - started < 3_000);
      assert.ok(result.cpuMs < 100, `cpuMs ${result.cpuMs} for a sleeper`);
    });
  }

  it('reading stdin never blocks: empty by default, EOF after the given text', async () => {
    const empty = await sandbox({ argv: ['./res', 'sleeper', 'stdin'], files, limits: { wallMs: 2_000 } });
    assertStatus(empty, 'ok');
    assert.equal(empty.stdout, 'sleeping\nstdin 0\nstdin again 0\n');
    const given = await sandbox({ argv: ['./res', 'sleeper', 'stdin'], files, stdin: { text: 'x' }, limits: { wallMs: 2_000 } });
    assertStatus(given, 'ok');
    assert.equal(given.stdout, 'sleeping\nstdin 1\nstdin again 0\n');
    assert.ok(given.wallMs < 1_900);
  });

  it('leaves nothing behind', async () => {
    await assertNothingLeftBehind(start);
  });
});
