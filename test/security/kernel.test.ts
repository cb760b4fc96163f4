// Kernel attack surface: the syscalls behind most container escapes and kernel
// exploits (bpf, perf_event_open, userfaultfd, io_uring, keyrings, namespaces,
// mounts, modules, kexec, reboot, the clock, personality, foreign ABIs, clone
// with namespace flags), made for real with plausible arguments by a static C
// program. A never-legitimate call must not return: the run stops with
// security_violation naming it; a merely unavailable one returns ENOSYS and the
// program goes on. Plus the same attacks through the tools an attacker finds
// in the root (unshare, dmesg, mount, date, hostname).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertStatus, assertViolation, baseline, compileAttacks, sandbox } from './helpers.js';

const KERNEL_ATTACKS = `
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

struct clone3_args { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; };

static int bpf_prog_load(int argc, char** argv) {
  struct bpf_insn prog[] = {{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0}, {.code = BPF_JMP | BPF_EXIT}};
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = (unsigned long)prog;
  attr.insn_cnt = 2;
  attr.license = (unsigned long)"GPL";
  say("before");
  report("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  return 0;
}

static int bpf_map_create(int argc, char** argv) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 8;
  attr.max_entries = 1;
  say("before");
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  return 0;
}

static int perf_cycles(int argc, char** argv) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.disabled = 1;
  say("before");
  report("perf_event_open", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  return 0;
}

static int uffd(int argc, char** argv) {
  report("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  say("before");
  report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  return 0;
}

static int uring(int argc, char** argv) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  report("io_uring_setup", syscall(SYS_io_uring_setup, 32, &params));
  report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0));
  report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
  return 0;
}

static int keyring_join(int argc, char** argv) {
  say("before");
  report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "evil"));
  return 0;
}

static int keyring_add(int argc, char** argv) {
  say("before");
  report("add_key", syscall(SYS_add_key, "user", "evil", "payload", 7, KEY_SPEC_USER_KEYRING));
  return 0;
}

static int keyring_request(int argc, char** argv) {
  say("before");
  report("request_key", syscall(SYS_request_key, "user", "evil", NULL, KEY_SPEC_USER_KEYRING));
  return 0;
}

static int unshare_user(int argc, char** argv) {
  say("before");
  report("unshare", unshare(CLONE_NEWUSER | CLONE_NEWNS));
  return 0;
}

static int unshare_net(int argc, char** argv) {
  say("before");
  report("unshare", unshare(CLONE_NEWNET));
  return 0;
}

static int setns_net(int argc, char** argv) {
  int fd = report("open_ns", open("/proc/self/ns/net", O_RDONLY));
  say("before");
  report("setns", setns(fd, 0));
  return 0;
}

static int mount_tmpfs(int argc, char** argv) {
  say("before");
  report("mount", mount("none", "/tmp", "tmpfs", 0, "size=1m"));
  return 0;
}

static int mount_proc_over(int argc, char** argv) {
  say("before");
  report("mount", mount("proc", "/box", "proc", 0, NULL));
  return 0;
}

static int fsopen_tmpfs(int argc, char** argv) {
  say("before");
  report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
  return 0;
}

static int open_tree_clone(int argc, char** argv) {
  say("before");
  report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/usr", 1 /* OPEN_TREE_CLONE */));
  return 0;
}

static int unmask_proc(int argc, char** argv) {
  say("before");
  report("umount2", umount2("/proc/kallsyms", MNT_DETACH));
  return 0;
}

static int remount_rw(int argc, char** argv) {
  struct { unsigned long long attr_set, attr_clr, propagation, userns_fd; } attr = {0, 1 /* MOUNT_ATTR_RDONLY */, 0, 0};
  say("before");
  report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0, &attr, sizeof attr));
  return 0;
}

static int pivot(int argc, char** argv) {
  say("before");
  report("pivot_root", syscall(SYS_pivot_root, ".", "."));
  return 0;
}

static int load_module(int argc, char** argv) {
  static const char image[64] = "\\x7f" "ELF";
  say("before");
  report("init_module", syscall(SYS_init_module, image, sizeof image, ""));
  return 0;
}

static int load_module_file(int argc, char** argv) {
  int fd = open("/box/evil.ko", O_RDWR | O_CREAT, 0644);
  write(fd, "\\x7f" "ELF", 4);
  say("before");
  report("finit_module", syscall(SYS_finit_module, fd, "", 0));
  return 0;
}

static int unload_module(int argc, char** argv) {
  say("before");
  report("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK));
  return 0;
}

static int kexec(int argc, char** argv) {
  say("before");
  report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
  return 0;
}

static int kexec_file(int argc, char** argv) {
  int fd = open("/box/vmlinuz", O_RDWR | O_CREAT, 0644);
  say("before");
  report("kexec_file_load", syscall(SYS_kexec_file_load, fd, fd, 1UL, "", 0UL));
  return 0;
}

static int do_reboot(int argc, char** argv) {
  say("before");
  report("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, NULL));
  return 0;
}

static int set_clock(int argc, char** argv) {
  struct timespec epoch = {0, 0};
  say("before");
  report("clock_settime", clock_settime(CLOCK_REALTIME, &epoch));
  return 0;
}

static int set_time_of_day(int argc, char** argv) {
  struct timeval epoch = {0, 0};
  say("before");
  report("settimeofday", syscall(SYS_settimeofday, &epoch, NULL));  // glibc's wrapper uses clock_settime
  return 0;
}

static int adjust_time(int argc, char** argv) {
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  tx.modes = ADJ_OFFSET;
  tx.offset = 500000;
  say("before");
  report("adjtimex", syscall(SYS_adjtimex, &tx));  // glibc's wrapper uses clock_adjtime
  return 0;
}

static int adjust_clock(int argc, char** argv) {
  struct timex tx;
  memset(&tx, 0, sizeof tx);
  tx.modes = ADJ_FREQUENCY;
  tx.freq = 1 << 16;
  say("before");
  report("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
  return 0;
}

static int set_personality(int argc, char** argv) {
  report("query", personality(0xffffffff));
  report("read_implies_exec", personality(READ_IMPLIES_EXEC));
  report("addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
  report("linux32", personality(PER_LINUX32));
  report("high_bits", syscall(SYS_personality, 0x100000000UL | READ_IMPLIES_EXEC));
  report("query_again", personality(0xffffffff));
  return 0;
}

// mount(2) through the i386 entry point: eax = 21, int $0x80.
static int i386_mount(int argc, char** argv) {
  long rc;
  say("before");
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(21L), "b"(0L), "c"(0L), "d"(0L) : "memory");
  printf("after %ld\\n", rc);
  return 0;
}

// unshare(2) through the x32 ABI: the x86_64 number with bit 30 set.
static int x32_unshare(int argc, char** argv) {
  say("before");
  report("x32_unshare", syscall(0x40000000 | SYS_unshare, CLONE_NEWUSER));
  return 0;
}

static int clone3_namespaces(int argc, char** argv) {
  struct clone3_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID;
  args.exit_signal = SIGCHLD;
  long rc = syscall(SYS_clone3, &args, sizeof args);
  if (rc == 0) _exit(0);
  report("clone3", rc);
  return 0;
}

// argv: "user", "net", "pid", "cgroup", "mnt", "uts" or "ipc".
static int clone_namespace(int argc, char** argv) {
  long flag = !strcmp(argv[0], "user") ? CLONE_NEWUSER : !strcmp(argv[0], "net") ? CLONE_NEWNET
            : !strcmp(argv[0], "pid") ? CLONE_NEWPID : !strcmp(argv[0], "cgroup") ? CLONE_NEWCGROUP
            : !strcmp(argv[0], "mnt") ? CLONE_NEWNS : !strcmp(argv[0], "uts") ? CLONE_NEWUTS : CLONE_NEWIPC;
  say("before");
  long rc = syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
  if (rc == 0) _exit(0);
  report("clone", rc);
  return 0;
}

static int read_kernel_log(int argc, char** argv) {
  static char buf[4096];
  say("before");
  report("syslog", syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf));
  return 0;
}

static int io_privileges(int argc, char** argv) {
  say("before");
  report("iopl", syscall(SYS_iopl, 3));
  return 0;
}

static int io_ports(int argc, char** argv) {
  say("before");
  report("ioperm", syscall(SYS_ioperm, 0x70, 2, 1));
  return 0;
}

static int swap_on(int argc, char** argv) {
  close(open("/box/swap", O_RDWR | O_CREAT, 0600));
  say("before");
  report("swapon", syscall(SYS_swapon, "/box/swap", 0));
  return 0;
}

static int process_accounting(int argc, char** argv) {
  say("before");
  report("acct", syscall(SYS_acct, "/box/acct"));
  return 0;
}

static int set_hostname(int argc, char** argv) {
  say("before");
  report("sethostname", syscall(SYS_sethostname, "evil", 4));
  return 0;
}

static int ldt(int argc, char** argv) {
  unsigned int desc[4] = {0};
  report("modify_ldt", syscall(SYS_modify_ldt, 1, desc, sizeof desc));
  report("memfd_secret", syscall(447, 0));
  report("landlock_create_ruleset", syscall(444, NULL, 0, 1));
  report("ioprio_set", syscall(SYS_ioprio_set, 1, 0, (1 << 13) | 0));
  report("sync", syscall(SYS_sync));
  report("syncfs", syscall(SYS_syncfs, 0));
  return 0;
}

// A seccomp filter of the program's own, answering mount(2) with EPERM: stacked
// on ours, its errno would win over our notification and hide the violation.
// argv: the route — "seccomp" (the syscall), "prctl", or "prctl_high" (the
// PR_SET_SECCOMP option with bits above the int the kernel reads).
static int own_filter(int argc, char** argv) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = 4, .filter = code};
  if (!strcmp(argv[0], "seccomp")) report("install", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
  else if (!strcmp(argv[0], "prctl")) report("install", syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
  else report("install", syscall(SYS_prctl, (1UL << 32) | PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
  say("before");
  report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(bpf_prog_load);
  ATTACK(bpf_map_create);
  ATTACK(perf_cycles);
  ATTACK(uffd);
  ATTACK(uring);
  ATTACK(keyring_join);
  ATTACK(keyring_add);
  ATTACK(keyring_request);
  ATTACK(unshare_user);
  ATTACK(unshare_net);
  ATTACK(setns_net);
  ATTACK(mount_tmpfs);
  ATTACK(mount_proc_over);
  ATTACK(fsopen_tmpfs);
  ATTACK(open_tree_clone);
  ATTACK(unmask_proc);
  ATTACK(remount_rw);
  ATTACK(pivot);
  ATTACK(load_module);
  ATTACK(load_module_file);
  ATTACK(unload_module);
  ATTACK(kexec);
  ATTACK(kexec_file);
  ATTACK(do_reboot);
  ATTACK(set_clock);
  ATTACK(set_time_of_day);
  ATTACK(adjust_time);
  ATTACK(adjust_clock);
  ATTACK(set_personality);
  ATTACK(i386_mount);
  ATTACK(x32_unshare);
  ATTACK(clone3_namespaces);
  ATTACK(clone_namespace);
  ATTACK(read_kernel_log);
  ATTACK(io_privileges);
  ATTACK(io_ports);
  ATTACK(swap_on);
  ATTACK(process_accounting);
  ATTACK(set_hostname);
  ATTACK(ldt);
  ATTACK(own_filter);
  return 2;
}
`;

// [what, argv after the program, the syscall named, what the program printed first]
const VIOLATIONS: [string, string[], string, string][] = [
  ['bpf(BPF_PROG_LOAD) of a socket filter', ['bpf_prog_load'], 'bpf', 'before\n'],
  ['bpf(BPF_MAP_CREATE)', ['bpf_map_create'], 'bpf', 'before\n'],
  ['perf_event_open on CPU cycles', ['perf_cycles'], 'perf_event_open', 'before\n'],
  ['userfaultfd (after /dev/userfaultfd is found absent)', ['uffd'], 'userfaultfd', 'dev_userfaultfd ENOENT\nbefore\n'],
  ['keyctl(KEYCTL_JOIN_SESSION_KEYRING)', ['keyring_join'], 'keyctl', 'before\n'],
  ['add_key to the user keyring', ['keyring_add'], 'add_key', 'before\n'],
  ['request_key', ['keyring_request'], 'request_key', 'before\n'],
  ['unshare(CLONE_NEWUSER | CLONE_NEWNS)', ['unshare_user'], 'unshare', 'before\n'],
  ['unshare(CLONE_NEWNET)', ['unshare_net'], 'unshare', 'before\n'],
  ['setns into a namespace fd', ['setns_net'], 'setns', 'open_ns ok 3\nbefore\n'],
  ['mount of a tmpfs over /tmp', ['mount_tmpfs'], 'mount', 'before\n'],
  ['mount of a fresh proc (unmasked)', ['mount_proc_over'], 'mount', 'before\n'],
  ['fsopen (the new mount API)', ['fsopen_tmpfs'], 'fsopen', 'before\n'],
  ['open_tree(OPEN_TREE_CLONE) of /usr', ['open_tree_clone'], 'open_tree', 'before\n'],
  ['umount2 of the mask over /proc/kallsyms', ['unmask_proc'], 'umount2', 'before\n'],
  ['mount_setattr clearing read-only on /usr', ['remount_rw'], 'mount_setattr', 'before\n'],
  ['pivot_root', ['pivot'], 'pivot_root', 'before\n'],
  ['init_module', ['load_module'], 'init_module', 'before\n'],
  ['finit_module', ['load_module_file'], 'finit_module', 'before\n'],
  ['delete_module', ['unload_module'], 'delete_module', 'before\n'],
  ['kexec_load', ['kexec'], 'kexec_load', 'before\n'],
  ['kexec_file_load', ['kexec_file'], 'kexec_file_load', 'before\n'],
  ['reboot(LINUX_REBOOT_CMD_RESTART)', ['do_reboot'], 'reboot', 'before\n'],
  ['clock_settime to the epoch', ['set_clock'], 'clock_settime', 'before\n'],
  ['settimeofday to the epoch', ['set_time_of_day'], 'settimeofday', 'before\n'],
  ['adjtimex(ADJ_OFFSET)', ['adjust_time'], 'adjtimex', 'before\n'],
  ['clock_adjtime(ADJ_FREQUENCY)', ['adjust_clock'], 'clock_adjtime', 'before\n'],
  ['mount(2) through int $0x80 (i386)', ['i386_mount'], 'i386:mount', 'before\n'],
  ['unshare(2) through the x32 ABI', ['x32_unshare'], 'x32:unshare', 'before\n'],
  ['clone(CLONE_NEWUSER)', ['clone_namespace', 'user'], 'clone', 'before\n'],
  ['clone(CLONE_NEWNET)', ['clone_namespace', 'net'], 'clone', 'before\n'],
  ['clone(CLONE_NEWPID)', ['clone_namespace', 'pid'], 'clone', 'before\n'],
  ['clone(CLONE_NEWNS)', ['clone_namespace', 'mnt'], 'clone', 'before\n'],
  ['clone(CLONE_NEWCGROUP)', ['clone_namespace', 'cgroup'], 'clone', 'before\n'],
  ['syslog(SYSLOG_ACTION_READ_ALL)', ['read_kernel_log'], 'syslog', 'before\n'],
  ['iopl(3)', ['io_privileges'], 'iopl', 'before\n'],
  ['ioperm on the CMOS ports', ['io_ports'], 'ioperm', 'before\n'],
  ['swapon', ['swap_on'], 'swapon', 'before\n'],
  ['acct', ['process_accounting'], 'acct', 'before\n'],
  ['sethostname', ['set_hostname'], 'sethostname', 'before\n'],
  ['prctl(PR_SET_SECCOMP) to stack a filter of its own', ['own_filter', 'prctl'], 'prctl', ''],
];

// Tools in the root, used the obvious way: [command, the syscall named].
const TOOLS: [string, string][] = [
  ['unshare -Ur id', 'unshare'],
  ['dmesg', 'syslog'],
  ['mount -t tmpfs none /tmp', 'mount'],
  ['date -s 2001-01-01', 'clock_settime'],
  ['hostname evil', 'sethostname'],
];

describe('security: kernel attack surface', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'kernel', source: compileAttacks(fixtures, 'kernel', KERNEL_ATTACKS) }];
    start = await baseline();
  });

  after(() => removeFixtureDir(fixtures));

  for (const [what, args, syscall, printed] of VIOLATIONS) {
    it(`${what} stops the run, naming ${syscall}`, async () => {
      assertViolation(await sandbox({ argv: ['./kernel', ...args], files }), syscall, printed);
    });
  }

  it('io_uring (setup, enter, register) is ENOSYS and the program goes on', async () => {
    const result = await sandbox({ argv: ['./kernel', 'uring'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'io_uring_setup ENOSYS\nio_uring_enter ENOSYS\nio_uring_register ENOSYS\n');
  });

  it('clone3 with namespace flags is ENOSYS (its flags are out of a filter\'s reach)', async () => {
    const result = await sandbox({ argv: ['./kernel', 'clone3_namespaces'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'clone3 ENOSYS\n');
  });

  it('personality can only be queried: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, PER_LINUX32 and high bits are refused', async () => {
    const result = await sandbox({ argv: ['./kernel', 'set_personality'], files });
    assertStatus(result, 'ok');
    assert.equal(
      result.stdout,
      'query ok 0\nread_implies_exec ENOSYS\naddr_no_randomize ENOSYS\nlinux32 ENOSYS\nhigh_bits ENOSYS\nquery_again ok 0\n',
    );
  });

  it('modify_ldt, memfd_secret, landlock, ioprio_set, sync and syncfs are ENOSYS', async () => {
    const result = await sandbox({ argv: ['./kernel', 'ldt'], files });
    assertStatus(result, 'ok');
    const names = ['modify_ldt', 'memfd_secret', 'landlock_create_ruleset', 'ioprio_set', 'sync', 'syncfs'];
    assert.equal(result.stdout, names.map((name) => `${name} ENOSYS\n`).join(''));
  });

  it('seccomp(2), to stack a filter of its own, is ENOSYS: the mount that follows is still a violation', async () => {
    assertViolation(await sandbox({ argv: ['./kernel', 'own_filter', 'seccomp'], files }), 'mount', 'install ENOSYS\nbefore\n');
  });

  // prctl's option is an int: the kernel ignores the upper 32 bits of the
  // register, the policy's rule (prctl arg0 == 22 → violation, != 22 → allow)
  // compares all 64. (1 << 32) | PR_SET_SECCOMP is allowed and installs the
  // program's filter, whose errno then hides every later violation it covers.
  it('prctl(PR_SET_SECCOMP) with bits set above the int is still a violation', async () => {
    const result = await sandbox({ argv: ['./kernel', 'own_filter', 'prctl_high'], files });
    assert.notEqual(result.stdout, 'install ok 0\nbefore\nmount EPERM\n', 'the program stacked its own filter and hid a mount(2) from the supervisor');
    assertViolation(result, 'prctl', '');
  });

  for (const [command, syscall] of TOOLS) {
    it(`\`${command}\` stops the run, naming ${syscall}`, async () => {
      const result = await sandbox({ argv: ['/bin/sh', '-c', `${command}; echo "went on: $?"`] });
      assertViolation(result, syscall, '');
    });
  }

  it('leaves nothing behind', async () => {
    await assertNothingLeftBehind(start);
  });
});
