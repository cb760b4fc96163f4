// Filesystem escapes: reading host secrets (directly, through /proc, through
// links of our own), the classic chroot escape, open_by_handle_at ("shocker"),
// device nodes, writing outside the work dir, tampering with read-only host
// files, filling the tmpfs (bytes and inodes), and handles the host gives the
// program (stdin). Secrets are planted world-readable on the host with an old
// access time: a read from anywhere would move it.
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxError } from '../../sandbox/errors.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import {
  assertAtimeWitnessWorks,
  assertNothingLeftBehind,
  assertSecretsSafe,
  assertStatus,
  assertViolation,
  baseline,
  compileAttacks,
  outcomes,
  plantSecret,
  removeSecrets,
  sandbox,
  type Secret,
} from './helpers.js';

const FS_ATTACKS = `
#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>

// chroot into a subdirectory while holding a handle outside it, climb out with
// "..", chroot there: the textbook escape from a chroot jail.
static int chroot_escape(int argc, char** argv) {
  mkdir("jail", 0755);
  int outside = open(".", O_RDONLY | O_DIRECTORY);
  say("before");
  report("chroot", chroot("jail"));
  report("fchdir", fchdir(outside));
  for (int i = 0; i < 64; i++) chdir("..");
  report("chroot_dot", chroot("."));
  report("secret", open(argv[0], O_RDONLY));
  return 0;
}

// "Shocker": guess the handle of the host filesystem's root inode (2) and open
// it relative to any mount of that filesystem (/usr is a bind of it).
static int shocker(int argc, char** argv) {
  struct file_handle* handle = malloc(sizeof *handle + 8);
  handle->handle_bytes = 8;
  handle->handle_type = 1; /* FILEID_INO32_GEN */
  unsigned int ino_gen[2] = {2, 0};
  memcpy(handle->f_handle, ino_gen, sizeof ino_gen);
  int mount_fd = report("mount_fd", open("/usr", O_RDONLY | O_DIRECTORY));
  say("before");
  int root = report("open_by_handle_at", syscall(SYS_open_by_handle_at, mount_fd, handle, O_RDONLY | O_DIRECTORY));
  if (root >= 0) report("secret", openat(root, argv[0] + 1, O_RDONLY));
  return 0;
}

static int name_to_handle(int argc, char** argv) {
  struct file_handle* handle = malloc(sizeof *handle + 128);
  handle->handle_bytes = 128;
  int mount_id;
  say("before");
  report("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/usr/bin/su", handle, &mount_id, 0));
  return 0;
}

// Device nodes of our own (memory, kernel log, disks), then the host's by path.
static int devices(int argc, char** argv) {
  report("mknod_mem", mknod("/box/mem", S_IFCHR | 0666, makedev(1, 1)));
  report("mknod_kmem", mknod("/box/kmem", S_IFCHR | 0666, makedev(1, 2)));
  report("mknod_kmsg", mknod("/tmp/kmsg", S_IFCHR | 0666, makedev(1, 11)));
  report("mknod_vda", mknod("/box/vda", S_IFBLK | 0666, makedev(254, 0)));
  report("mknod_sda", mknod("/box/sda", S_IFBLK | 0666, makedev(8, 0)));
  report("mknod_fifo", mknod("/box/fifo", S_IFIFO | 0666, 0));
  for (int i = 0; i < argc; i++) report(argv[i], open(argv[i], O_RDWR));
  return 0;
}

// Creates each path exclusively and writes a marker into it.
static int create_files(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    int fd = report(argv[i], open(argv[i], O_WRONLY | O_CREAT | O_EXCL, 0644));
    if (fd >= 0) { write(fd, "written-from-the-sandbox\\n", 25); close(fd); }
  }
  return 0;
}

// Overwrites existing files (e.g. a kernel knob, the generated /etc/passwd).
static int overwrite_files(int argc, char** argv) {
  for (int i = 0; i < argc; i++) report(argv[i], open(argv[i], O_WRONLY | O_APPEND));
  return 0;
}

// Fills the work dir's tmpfs until the kernel says no; then asks for more.
static int fill_disk(int argc, char** argv) {
  static char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  long total = 0;
  ssize_t n;
  while ((n = write(fd, chunk, sizeof chunk)) > 0) total += n;
  report("write", n);
  printf("written %ld\\n", total);
  int other = open(argv[1], O_WRONLY | O_CREAT, 0644);
  report("fallocate", fallocate(other, 0, 0, atol(argv[2])));
  return 0;
}

// Creates files until there are no inodes left; then a dir and a symlink.
static int fill_inodes(int argc, char** argv) {
  char name[64];
  int made = 0;
  for (;;) {
    snprintf(name, sizeof name, "/box/f%d", made);
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) break;
    close(fd);
    made++;
  }
  report("create", -1);
  printf("made %d\\n", made);
  report("mkdir", mkdir("/tmp/dir", 0755));
  report("symlink", symlink("target", "/tmp/link"));
  return 0;
}

// Links of our own pointing at a host secret: directly, via /proc/1/root, via "..".
static int symlink_tricks(int argc, char** argv) {
  char path[512];
  report("symlink", symlink(argv[0], "/box/link"));
  report("read_via_link", open("/box/link", O_RDONLY));
  report("symlink_proc1", symlink("/proc/1/root", "/box/root1"));
  snprintf(path, sizeof path, "/box/root1%s", argv[0]);
  report("read_via_proc1", open(path, O_RDONLY));
  report("symlink_up", symlink("../../../../../../../..", "/box/up"));
  snprintf(path, sizeof path, "/box/up%s", argv[0]);
  report("read_via_up", open(path, O_RDONLY));
  snprintf(path, sizeof path, "/box/../../..%s", argv[0]);
  report("read_via_dotdot", open(path, O_RDONLY));
  return 0;
}

// Hard links into the work dir of files in the read-only tree (to write or
// chmod them there), including by handle; moving our files out of the work dir.
static int hardlink_tricks(int argc, char** argv) {
  char path[64];
  report("link_su", link("/usr/bin/su", "/box/su"));
  report("link_passwd", link("/etc/passwd", "/box/passwd"));
  report("link_bound", link(argv[0], "/box/bound"));
  int fd = open("/usr/bin/passwd", O_PATH);
  report("linkat_empty_path", linkat(fd, "", AT_FDCWD, "/box/passwd2", AT_EMPTY_PATH));
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  report("linkat_proc_fd", linkat(AT_FDCWD, path, AT_FDCWD, "/box/passwd3", AT_SYMLINK_FOLLOW));
  close(open("/box/mine", O_WRONLY | O_CREAT, 0644));
  report("rename_out", rename("/box/mine", "/usr/mine"));
  report("link_out", link("/box/mine", "/etc/mine"));
  return 0;
}

// Tampering with a host file bound read-only.
static int tamper(int argc, char** argv) {
  report("chmod", chmod(argv[0], 04777));
  report("chown", chown(argv[0], 1000, 1000));
  report("utimes", utimes(argv[0], NULL));
  report("truncate", truncate(argv[0], 0));
  report("open_write", open(argv[0], O_WRONLY));
  report("setxattr", setxattr(argv[0], "user.evil", "1", 1, 0));
  report("unlink", unlink(argv[0]));
  report("rename", rename(argv[0], "/box/stolen"));
  return 0;
}

// What a handle the host passed as stdin leads to.
static int stdin_handle(int argc, char** argv) {
  report("reopen_rw", open("/proc/self/fd/0", O_RDWR));
  report("reopen_trunc", open("/dev/stdin", O_WRONLY | O_TRUNC));
  report("openat_name", openat(0, argv[0], O_RDONLY));
  report("openat_parent", openat(0, "..", O_RDONLY | O_DIRECTORY));
  DIR* dir = fdopendir(dup(0));
  int names = 0;
  struct dirent* entry;
  while (dir != NULL && (entry = readdir(dir)) != NULL) {
    printf("name %s\\n", entry->d_name);
    names++;
  }
  printf("listed %d\\n", names);
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(read_paths);
  ATTACK(chroot_escape);
  ATTACK(shocker);
  ATTACK(name_to_handle);
  ATTACK(devices);
  ATTACK(create_files);
  ATTACK(overwrite_files);
  ATTACK(fill_disk);
  ATTACK(fill_inodes);
  ATTACK(symlink_tricks);
  ATTACK(hardlink_tricks);
  ATTACK(tamper);
  ATTACK(stdin_handle);
  return 2;
}
`;

const DENIED = /^(ENOENT|EACCES|EPERM|EROFS|EXDEV)$/;

describe('security: filesystem', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let secrets: Secret[];
  let rootSecret: Secret;
  let varTmpSecret: Secret;
  let fixtureSecret: Secret;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'fs', source: compileAttacks(fixtures, 'fs', FS_ATTACKS) }];
    // World-readable, in world-searchable directories where the host allows it.
    rootSecret = plantSecret(join('/root', `${uniqueToken('root')}.secret`), 0o644);
    varTmpSecret = plantSecret(join('/var/tmp', `${uniqueToken('vartmp')}.secret`), 0o644);
    fixtureSecret = plantSecret(join(fixtures, 'fixture.secret'), 0o644);
    secrets = [rootSecret, varTmpSecret, fixtureSecret];
    assertAtimeWitnessWorks(varTmpSecret);
    start = await baseline();
  });

  after(() => {
    removeSecrets(secrets);
    removeFixtureDir(fixtures);
  });

  it('host secrets by path, through /proc/1/root, /proc/self/root and ".." are absent (C)', async () => {
    const attempts = secrets.flatMap((s) => [s.path, `/proc/1/root${s.path}`, `/proc/self/root${s.path}`, `/box/../..${s.path}`]);
    const result = await sandbox({ argv: ['./fs', 'read_paths', ...attempts], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, attempts.map((path) => `${path} ENOENT\n`).join(''));
    assertSecretsSafe(secrets, result);
  });

  it('every /proc/<pid>/root and cwd visible inside leads back into the sandbox only (Python)', async () => {
    const script = `
import os, sys
names = sys.argv[1:]
for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
    for link in ('root', 'cwd'):
        base = '/proc/%s/%s' % (pid, link)
        for name in names:
            try:
                print(base + name, 'read', open(base + name).read().strip())
            except OSError as e:
                print(base + name, e.strerror)
print('pids', ' '.join(sorted(p for p in os.listdir('/proc') if p.isdigit())))
try:
    print('/proc/1/root', os.listdir('/proc/1/root'))
except OSError as e:
    print('/proc/1/root', e.strerror)
`;
    const result = await sandbox({ argv: [PYTHON, '-c', script, ...secrets.map((s) => s.path)] });
    assertStatus(result, 'ok');
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.filter((line) => line.startsWith('pids ')).length, 1);
    assert.match(lines.find((line) => line.startsWith('pids ')) ?? '', /^pids \d+$/, 'only the program itself is visible');
    assert.equal(lines.filter((line) => line.includes(' read ')).length, 0, result.stdout);
    // root and cwd of the one visible process, each missing every secret
    const missing = lines.filter((line) => /^\/proc\/\d+\/(root|cwd)\/.* No such file or directory$/.test(line));
    assert.equal(missing.length, 2 * secrets.length, result.stdout);
    assert.ok(lines.includes('/proc/1/root No such file or directory'), result.stdout);
    assertSecretsSafe(secrets, result);
  });

  it('a search of the whole visible tree finds neither the secrets nor the fixture dir (shell)', async () => {
    const names = secrets.map((s) => basename(s.path));
    const script = `find / -xdev \\( ${names.map((n) => `-name '${n}'`).join(' -o ')} -o -name '${basename(fixtures)}' \\) -print 2>/dev/null; echo "find=done"`;
    // walking all of /usr takes seconds on a loaded machine: room beyond the default limits
    const roomy = { cpuMs: 20_000, wallMs: 60_000 };
    const result = await sandbox({ argv: ['/bin/sh', '-c', script], limits: roomy });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'find=done\n');
    const everywhere = await sandbox({ argv: ['/bin/sh', '-c', `grep -rl '${rootSecret.token}' /box /tmp /etc /usr/local 2>/dev/null; echo "grep=$?"`], limits: roomy });
    assertStatus(everywhere, 'ok');
    assert.equal(everywhere.stdout, 'grep=1\n');
    assertSecretsSafe(secrets, result, everywhere);
  });

  it('the classic chroot escape (chroot, fchdir out, chdir .., chroot .) stops at chroot(2)', async () => {
    const result = await sandbox({ argv: ['./fs', 'chroot_escape', varTmpSecret.path], files });
    assertViolation(result, 'chroot', 'before\n');
    assertSecretsSafe(secrets, result);
  });

  it('"shocker": open_by_handle_at with a guessed root handle stops the run', async () => {
    const result = await sandbox({ argv: ['./fs', 'shocker', rootSecret.path], files });
    assertViolation(result, 'open_by_handle_at', 'mount_fd ok 3\nbefore\n');
    assertSecretsSafe(secrets, result);
  });

  it('name_to_handle_at, the first half of shocker, stops the run too', async () => {
    const result = await sandbox({ argv: ['./fs', 'name_to_handle', rootSecret.path], files });
    assertViolation(result, 'name_to_handle_at', 'before\n');
  });

  it('/sys is absent and the host\'s device nodes cannot be made or reached (only a FIFO can be made)', async () => {
    const hostDevices = ['/dev/mem', '/dev/kmem', '/dev/kmsg', '/dev/vda', '/dev/sda', '/dev/tty', '/dev/console', '/dev/ptmx', '/dev/kvm', '/dev/net/tun', '/dev/fuse', '/sys/kernel/notes', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];
    const result = await sandbox({ argv: ['./fs', 'devices', ...hostDevices], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const node of ['mknod_mem', 'mknod_kmem', 'mknod_kmsg', 'mknod_vda', 'mknod_sda']) assert.match(seen.get(node) ?? '', /^(EPERM|EACCES)$/, node);
    assert.equal(seen.get('mknod_fifo'), 'ok 0', 'control: mknod itself works, for a FIFO');
    for (const path of hostDevices) assert.equal(seen.get(path), 'ENOENT', path);
  });

  it('nothing can be created outside /box and /tmp, and nothing appears on the host', async () => {
    const probe = uniqueToken('probe');
    const outside = ['/', '/etc', '/usr', '/usr/bin', '/usr/lib', '/bin', '/proc', '/proc/self', '/dev', '/dev/shm', '/run', '/var/tmp', '/root', '/sys', fixtures].map((dir) =>
      join(dir, probe),
    );
    const inside = [`/box/${probe}`, `/tmp/${probe}`];
    const result = await sandbox({ argv: ['./fs', 'create_files', ...outside, ...inside], files, readOnly: [fixtures] });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const path of outside) assert.match(seen.get(path) ?? 'missing', DENIED, path);
    for (const path of inside) assert.match(seen.get(path) ?? 'missing', /^ok \d+$/, `control: ${path}`);
    for (const path of outside) assert.equal(existsSync(path), false, `${path} appeared on the host`);
  });

  it('kernel knobs, the generated /etc/passwd and the read-only tree cannot be written', async () => {
    const targets = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/hostname', '/proc/sys/vm/drop_caches', '/proc/self/oom_score_adj', '/etc/passwd', '/etc/hosts', '/usr/bin/python3', '/etc/ld.so.cache'];
    const corePattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    const result = await sandbox({ argv: ['./fs', 'overwrite_files', ...targets], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const path of targets) assert.match(seen.get(path) ?? 'missing', DENIED, path);
    assert.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern);
  });

  it('filling the tmpfs stops at diskKb with ENOSPC; fallocate past it fails too', async () => {
    const diskKb = 2048;
    // fallocate of 16 MiB: past the work dir, under the file size limit (SIGXFSZ)
    const result = await sandbox({ argv: ['./fs', 'fill_disk', '/box/fill', '/tmp/more', String(16 << 20)], files, limits: { diskKb } });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    assert.equal(seen.get('write'), 'ENOSPC');
    const written = Number(seen.get('written'));
    assert.ok(written > diskKb * 512 && written <= diskKb * 1024, `wrote ${written} bytes into a ${diskKb} KiB work dir`);
    assert.equal(seen.get('fallocate'), 'ENOSPC');
  });

  it('creating files, dirs and links stops at the inode limit', async () => {
    const inodes = 64;
    const result = await sandbox({ argv: ['./fs', 'fill_inodes'], files, limits: { inodes } });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    const made = Number(seen.get('made'));
    assert.ok(made > inodes / 2 && made < inodes, `made ${made} files under a ${inodes}-inode limit`);
    assert.equal(seen.get('mkdir'), 'ENOSPC');
    assert.equal(seen.get('symlink'), 'ENOSPC');
  });

  it('symlinks of its own to a host secret (direct, via /proc/1/root, via "..") lead nowhere', async () => {
    const result = await sandbox({ argv: ['./fs', 'symlink_tricks', fixtureSecret.path], files });
    assertStatus(result, 'ok');
    assert.equal(
      result.stdout,
      'symlink ok 0\nread_via_link ENOENT\nsymlink_proc1 ok 0\nread_via_proc1 ENOENT\nsymlink_up ok 0\nread_via_up ENOENT\nread_via_dotdot ENOENT\n',
    );
    assertSecretsSafe(secrets, result);
  });

  it('hard links of read-only files into the work dir, and of our files out of it, fail', async () => {
    const bound = join(fixtures, 'bound.txt');
    writeFileSync(bound, 'bound\n', { mode: 0o666 });
    const result = await sandbox({ argv: ['./fs', 'hardlink_tricks', bound], files, readOnly: [fixtures] });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const attempt of ['link_su', 'link_passwd', 'link_bound', 'linkat_empty_path', 'linkat_proc_fd', 'rename_out']) {
      assert.equal(seen.get(attempt), 'EXDEV', attempt);
    }
    assert.match(seen.get('link_out') ?? '', /^(EXDEV|EROFS)$/);
    assert.equal(statSync(bound).nlink, 1, 'the host file gained a link');
  });

  it('a host file bound read-only cannot be chmod-ed, chown-ed, touched, truncated, written, unlinked or renamed', async () => {
    const target = join(fixtures, 'tamper.txt');
    writeFileSync(target, 'original\n', { mode: 0o666 });
    const stat = statSync(target);
    const result = await sandbox({ argv: ['./fs', 'tamper', target], files, readOnly: [fixtures] });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const attempt of ['chmod', 'chown', 'utimes', 'truncate', 'open_write', 'unlink', 'rename']) assert.match(seen.get(attempt) ?? '', DENIED, attempt);
    assert.equal(seen.get('setxattr'), 'ENOSYS');
    const after = statSync(target);
    assert.deepEqual(
      [after.mode, after.uid, after.gid, after.size, after.mtimeMs, after.ctimeMs],
      [stat.mode, stat.uid, stat.gid, stat.size, stat.mtimeMs, stat.ctimeMs],
      'the host file changed',
    );
    assert.equal(readFileSync(target, 'utf8'), 'original\n');
  });

  it('a world-writable host stdin file cannot be reopened for writing through /proc/self/fd/0', async () => {
    const input = join(fixtures, 'input.txt');
    writeFileSync(input, 'original input\n', { mode: 0o666 });
    const before = statSync(input);
    const result = await sandbox({ argv: ['./fs', 'stdin_handle', 'x'], files, stdin: { file: input } });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    assert.equal(seen.get('reopen_rw'), 'EACCES');
    assert.equal(seen.get('reopen_trunc'), 'EACCES');
    assert.equal(seen.get('openat_name'), 'ENOTDIR');
    assert.equal(readFileSync(input, 'utf8'), 'original input\n');
    assert.equal(statSync(input).mtimeMs, before.mtimeMs);
  });

  // stdin {file} refuses a directory ("a directory fd would be a handle on the
  // host's tree", native/supervisor.cc); stdin {fd} must refuse one just the same.
  it('a directory fd passed as stdin is refused, like a directory stdin file', async () => {
    const dir = join(fixtures, 'handed-over');
    mkdirSync(dir, { mode: 0o755 });
    const inside = plantSecret(join(dir, 'inside.secret'), 0o644);
    const fd = openSync(dir, 'r');
    try {
      const asFile = await sandbox({ argv: ['./fs', 'stdin_handle', 'inside.secret'], files, stdin: { file: dir } });
      assertStatus(asFile, 'internal_error');
      assert.equal(asFile.error?.code, 'PATH_NOT_FOUND', 'control: a directory stdin file is refused');

      let result;
      try {
        result = await sandbox({ argv: ['./fs', 'stdin_handle', 'inside.secret'], files, stdin: { fd } });
      } catch (error) {
        assert.ok(error instanceof SandboxError, String(error));
        return; // refused before the run: what we want
      }
      assertSecretsSafe([inside], result);
      assert.ok(!result.stdout.includes('name inside.secret'), `the host directory was listed inside:\n${result.stdout}`);
      assert.equal(result.status, 'internal_error', `a directory handle on the host reached the program: ${result.stdout}`);
    } finally {
      closeSync(fd);
      rmSync(inside.path, { force: true });
    }
  });

  // The same handle as stdout: stdoutFd (a pipe end from openPipe(), for
  // interactors) reaches the program as fd 1.
  it('a directory fd passed as stdoutFd is refused, like one passed as stdin', async () => {
    const dir = join(fixtures, 'handed-over-as-stdout');
    mkdirSync(dir, { mode: 0o755 });
    const inside = plantSecret(join(dir, 'inside.secret'), 0o644);
    const fd = openSync(dir, 'r');
    try {
      let result;
      try {
        result = await sandbox({ argv: ['/bin/sh', '-c', 'exec ./fs stdin_handle inside.secret 0<&1 1>&2'], files, stdoutFd: fd });
      } catch (error) {
        assert.ok(error instanceof SandboxError, String(error));
        return; // refused before the run: what we want
      }
      assertSecretsSafe([inside], result);
      assert.ok(!result.stderr.includes('name inside.secret'), `the host directory was listed inside:\n${result.stderr}`);
      assert.equal(result.status, 'internal_error', `a directory handle on the host reached the program: ${result.stderr}`);
    } finally {
      closeSync(fd);
      rmSync(inside.path, { force: true });
    }
  });

  it('leaves nothing behind', async () => {
    assertSecretsSafe(secrets);
    await assertNothingLeftBehind(start);
  });
});
