// Read-only paths bound under /tmp, kept by the reset between runs of a
// sandbox (native/reset.cc): the program owns /tmp, so it can rename the
// directories there that lead to the binds (not what is in them: those are
// root's). Run A of a key moves, swaps, forges or marks them, and every run
// after it must find its read-only paths, and the directories leading to them,
// as a sandbox built for it would show them. Which sandbox a run landed in is
// told as in reuse.test.ts: the tmpfs's device and inode numbers counting on.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
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

const BIND_ATTACKS = SANDBOX_MARK + String.raw`
#include <dirent.h>
#include <time.h>

static void print_times(const char* key, const char* path) {
  struct stat info;
  if (lstat(path, &info) != 0) { printf("%s missing\n", key); return; }
  printf("%s %ld.%09ld %ld.%09ld %ld.%09ld\n", key, (long)info.st_atim.tv_sec, info.st_atim.tv_nsec,
         (long)info.st_mtim.tv_sec, info.st_mtim.tv_nsec, (long)info.st_ctim.tv_sec, info.st_ctim.tv_nsec);
}

// Swaps two directories of /tmp: <a> <b>.
static int swap(int argc, char** argv) {
  report("to-side", rename(argv[0], "/tmp/side"));
  report("b-to-a", rename(argv[1], argv[0]));
  report("side-to-b", rename("/tmp/side", argv[1]));
  return 0;
}

// Moves <dir> away and puts a directory of the program's there, with its own
// sub/f (and link, to it) in it: what the next run would read at its read-only path.
static int forge(int argc, char** argv) {
  char path[512];
  report("away", rename(argv[0], "/tmp/moved"));
  report("mkdir", mkdir(argv[0], 0755));
  snprintf(path, sizeof path, "%s/sub", argv[0]);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/sub/f", argv[0]);
  int fd = report("forged", open(path, O_CREAT | O_WRONLY, 0644));
  if (fd >= 0) { ssize_t ignored = write(fd, "forged\n", 7); (void)ignored; close(fd); }
  snprintf(path, sizeof path, "%s/link", argv[0]);
  report("forged-link", symlink("sub/f", path));
  return 0;
}

// Renames <dir> away and back, until its ctime's milliseconds end in 7: a
// message written where the reset cannot put anything back (the directory is
// root's), for the next run to read. The run then outlasts the coarse clock's
// tick, so that a later change could not carry the same time by chance.
static int mark_ctime(int argc, char** argv) {
  print_times("before", argv[0]);
  struct stat info;
  int tries = 0;
  do {
    if (rename(argv[0], "/tmp/aside") != 0 || rename("/tmp/aside", argv[0]) != 0 || stat(argv[0], &info) != 0) {
      report("rename", -1);
      return 1;
    }
  } while (info.st_ctim.tv_nsec / 1000000 % 10 != 7 && ++tries < 100000);
  print_times("marked", argv[0]);
  usleep(50000);
  return 0;
}

// Lists <dir> a while after the run started: the first run of a sandbox to list
// it would set its access time (relatime) to a time of its choosing.
static int list_later(int argc, char** argv) {
  print_times("before", argv[0]);
  usleep(30000);
  DIR* dir = opendir(argv[0]);
  while (dir != NULL && readdir(dir) != NULL) {
  }
  if (dir != NULL) closedir(dir);
  print_times("listed", argv[0]);
  return 0;
}

// What a run finds: the content of each read-only file given, the times of
// each directory given, and what /tmp holds.
static int look(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    char key[32];
    snprintf(key, sizeof key, "path%d", i);
    struct stat info;
    if (lstat(argv[i], &info) == 0 && S_ISDIR(info.st_mode)) {
      print_times(key, argv[i]);
      continue;
    }
    char buf[64] = "";
    int fd = open(argv[i], O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0) close(fd);
    printf("%s %s\n", key, fd < 0 ? "missing" : strtok(buf, "\n"));
  }
  DIR* tmp = opendir("/tmp");
  char names[512] = "";
  struct dirent* entry;
  while (tmp != NULL && (entry = readdir(tmp)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    strncat(names, entry->d_name, sizeof names - strlen(names) - 2);
    strcat(names, ",");
  }
  if (tmp != NULL) closedir(tmp);
  printf("tmp %s\n", names);
  return 0;
}

static int attack(int argc, char** argv) {
  ATTACK(swap);
  ATTACK(forge);
  ATTACK(mark_ctime);
  ATTACK(list_later);
  return 2;
}

static void before_mark(void) {}
`;

// A key of its own for each test: the sandbox key holds the work dir's size.
const diskKb = (n: number): number => 71_000 + n;

describe('read-only paths bound under /tmp, between runs of a sandbox', () => {
  let fixtures: string;
  let files: NonNullable<RunSpec['files']>;
  let start: Snapshot;
  const made: string[] = [];

  // A directory of the host's /tmp holding <name>, a file saying <content>.
  const hostDir = (name: string, content: string): string => {
    const dir = mkdtempSync('/tmp/cb-reset-binds-');
    made.push(dir);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', name), `${content}\n`);
    return dir;
  };

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'attack', source: compileAttacks(fixtures, 'reset-binds', BIND_ATTACKS + LOOK_OR_ATTACK_MAIN), mode: 0o755 }];
    start = await baseline();
  });

  after(async () => {
    releaseWarmSandboxes();
    await assertNothingLeftBehind(start);
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
    removeFixtureDir(fixtures);
  });

  const spec = (key: number, readOnly: string[], args: string[]): RunSpec => ({
    argv: ['./attack', ...args],
    files,
    readOnly,
    limits: { diskKb: diskKb(key) },
  });

  // Warms the key and takes a look as a sandbox built for it shows things, runs
  // A, then looks until one lands in A's sandbox (each key keeps a few).
  async function attack(
    key: number,
    readOnly: string[],
    args: string[],
    looked: string[],
  ): Promise<{ clean: RunResult; a: RunResult; looks: RunResult[]; inA: RunResult | undefined }> {
    releaseWarmSandboxes();
    const look = ['look', ...looked];
    await sandbox(spec(key, readOnly, look));
    const clean = await sandbox(spec(key, readOnly, look));
    assertStatus(clean, 'ok');
    const a = await sandbox(spec(key, readOnly, args));
    assertStatus(a, 'ok');
    const looks: RunResult[] = [];
    let inA: RunResult | undefined;
    for (let i = 0; i < 6 && inA === undefined; i++) {
      const result = await sandbox(spec(key, readOnly, look));
      assertStatus(result, 'ok');
      looks.push(result);
      if (sameSandbox(markOf(a), markOf(result))) inA = result;
    }
    return { clean, a, looks, inA };
  }

  // Every look finds each read-only file, and /tmp, as the clean look did.
  function assertFoundAsBuilt(clean: RunResult, looks: RunResult[], count: number): void {
    const expected = outcomes(clean.stdout);
    for (const look of looks) {
      const seen = outcomes(look.stdout);
      for (const key of ['tmp', ...Array.from({ length: count }, (_, i) => `path${i}`)])
        assert.equal(seen.get(key), expected.get(key), `${key}: a look found what another run made of it\n${look.stdout}`);
    }
  }

  it('two directories holding same-named binds, swapped by a run: the next finds each file where it was bound', async () => {
    const [p, q] = [hostDir('f', 'bound in p'), hostDir('f', 'bound in q')];
    const readOnly = [join(p, 'sub', 'f'), join(q, 'sub', 'f')];
    const reusesBefore = sandboxPoolStats().reuses;
    const { clean, a, looks } = await attack(1, readOnly, ['swap', p, q], readOnly);
    assert.equal(outcomes(clean.stdout).get('path0'), 'bound in p', `control: ${clean.stdout}`);
    assert.match(a.stdout, /to-side ok 0\nb-to-a ok 0\nside-to-b ok 0\n/, 'control: the run could not swap them');
    assertFoundAsBuilt(clean, looks, readOnly.length);
    assert.ok(sandboxPoolStats().reuses > reusesBefore, 'control: no sandbox of the key was reused at all');
  });

  it("a directory leading to a bind, replaced by a run's own with a forged file: the next reads the host's", async () => {
    const p = hostDir('f', 'the host file');
    const readOnly = [join(p, 'sub', 'f')];
    const { clean, a, looks } = await attack(2, readOnly, ['forge', p], readOnly);
    assert.match(a.stdout, /away ok 0\nmkdir ok 0\n/, 'control: the run could not move the directory');
    assertFoundAsBuilt(clean, looks, readOnly.length);
    for (const look of looks) assert.ok(!look.stdout.includes('forged') && !look.stdout.includes('moved'), look.stdout);
  });

  it('a directory leading to a bind carries no time a run set (its ctime, by renaming it) to the next', async () => {
    const p = hostDir('f', 'bound');
    const readOnly = [join(p, 'sub', 'f')];
    const reusesBefore = sandboxPoolStats().reuses;
    const { clean, a, looks } = await attack(3, readOnly, ['mark_ctime', p], [p, ...readOnly]);
    const before = outcomes(a.stdout).get('before') ?? '';
    const marked = outcomes(a.stdout).get('marked') ?? '';
    const ctimeOf = (times: string): string => times.split(' ')[2] ?? '';
    assert.ok(ctimeOf(marked) !== '' && ctimeOf(marked) !== ctimeOf(before), `control: the run did not mark it: ${a.stdout}`);
    assertFoundAsBuilt(clean, looks, 0);
    for (const look of looks) {
      const seen = outcomes(look.stdout).get('path0') ?? '';
      assert.notEqual(ctimeOf(seen), ctimeOf(marked), `${basename(p)}'s ctime is the one the run before set: ${look.stdout}`);
      assert.equal(outcomes(look.stdout).get('path1'), 'bound', look.stdout);
    }
    assert.ok(sandboxPoolStats().reuses > reusesBefore, 'control: no sandbox of the key was reused at all');
  });

  // The first run of a sandbox to list such a directory would set its access
  // time (relatime moves it while it is older than the mtime) for every run
  // after it. The build lists them itself: no run can move it.
  it('a directory leading to a bind carries no time a run set (its atime, by listing it first) to the next', async () => {
    const p = hostDir('f', 'bound');
    const sub = join(p, 'sub');
    // the first run of a sandbox of its own (built for it, after the pool is dropped)
    releaseWarmSandboxes();
    const a = await sandbox(spec(5, [join(sub, 'f')], ['list_later', sub]));
    assertStatus(a, 'ok');
    const [atime, mtime] = (outcomes(a.stdout).get('before') ?? '').split(' ').map(Number);
    const [listedAtime] = (outcomes(a.stdout).get('listed') ?? '').split(' ').map(Number);
    assert.ok(atime !== undefined && mtime !== undefined && listedAtime !== undefined, `control: ${a.stdout}`);
    assert.ok(atime > mtime, `${basename(sub)}'s access time is not past its mtime: a first listing moves it (${a.stdout})`);
    assert.equal(listedAtime, atime, `the run moved ${basename(sub)}'s access time: ${a.stdout}`);
  });

  it("a symlink read-only path (made by the build, not bound), its directory replaced by a run's own: the next finds the host's", async () => {
    const p = hostDir('f', 'linked to');
    symlinkSync('sub/f', join(p, 'link'));
    const readOnly = [join(p, 'sub', 'f'), join(p, 'link')];
    const { clean, a, looks } = await attack(4, readOnly, ['forge', p], readOnly);
    assert.equal(outcomes(clean.stdout).get('path1'), 'linked to', `control: ${clean.stdout}`);
    assert.match(a.stdout, /away ok 0\nmkdir ok 0\nforged ok \d+\nforged-link ok 0\n/, 'control: the run could not replace it');
    assertFoundAsBuilt(clean, looks, readOnly.length);
  });
});
