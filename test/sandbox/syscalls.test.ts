// Syscalls: the seccomp policy lists syscalls that are never legitimate in a
// sandbox as violations. Such a call must not return: the run is stopped, its
// status is security_violation and the result names the syscall. Calls go through
// libc's syscall(3) with x86_64 numbers, so no library wrapper can intervene.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import { compileStatic, makeFixtureDir, PYTHON, removeFixtureDir } from '../helpers/fixtures.js';

// argv: nr a0..a4. Prints "before", makes the call, prints "after <rc> <errno>".
const SYSCALL = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
nr, *args = (int(a, 0) for a in sys.argv[1:])
print('before', flush=True)
rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
print('after', rc, ctypes.get_errno(), flush=True)
`;

const X86_64: [name: string, nr: number, args: string[]][] = [
  ['mount', 165, ['0', '0', '0', '0', '0']],
  ['ptrace', 101, ['16', '1', '0', '0']], // PTRACE_ATTACH to pid 1, init
  ['unshare', 272, ['0x10000000']], // CLONE_NEWUSER
  ['bpf', 321, ['0', '0', '0']],
  ['keyctl', 250, ['0', '0']],
  // docs/SECURITY.md: the other never-legitimate calls
  ['setns', 308, ['0', '0']],
  ['umount2', 166, ['0', '2']],
  ['pivot_root', 155, ['0', '0']],
  ['chroot', 161, ['0']],
  ['open_by_handle_at', 304, ['0', '0', '0']],
  ['process_vm_readv', 310, ['1', '0', '0', '0', '0']], // init's memory is Node's
  ['perf_event_open', 298, ['0', '0', '0', '0', '0']],
  ['init_module', 175, ['0', '0', '0']],
  ['kexec_load', 246, ['0', '0', '0', '0']],
  ['reboot', 169, ['0', '0', '0', '0']],
  ['clock_settime', 227, ['0', '0']],
  ['userfaultfd', 323, ['0']],
];

// getuid through the i386 entry point: eax = 24 (i386 __NR_getuid), int $0x80.
const INT80 = `
#include <stdio.h>
int main(void) {
  long rc;
  printf("before\\n");
  fflush(stdout);
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(24L) : "memory");
  printf("after %ld\\n", rc);
  return 0;
}
`;

// Who the process is once exec'd, and whether it can become root.
const WHOAMI = `
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &header, data);
  unsigned uid = getuid(), euid = geteuid();
  int rc = setuid(0);
  printf("uid %u euid %u capeff %x setuid(0) %d %s\\n", uid, euid, data[0].effective | data[1].effective, rc,
         rc == 0 ? "ok" : errno == EPERM ? "EPERM" : strerror(errno));
  return 0;
}
`;

describe('syscalls', () => {
  let fixtures: string;
  let int80: string;

  before(() => {
    fixtures = makeFixtureDir();
    int80 = compileStatic(fixtures, 'int80', INT80);
  });

  after(() => removeFixtureDir(fixtures));

  for (const [name, nr, args] of X86_64) {
    it(`${name}(2) is a security violation naming "${name}"`, async () => {
      const result = await run({ argv: [PYTHON, '-c', SYSCALL, String(nr), ...args] });
      assert.equal(result.status, 'security_violation', `${result.status}: ${result.stdout}${result.stderr}`);
      assert.equal(result.syscall, name);
      assert.equal(result.stdout, 'before\n', 'the call returned to the program');
      assert.equal(result.exitCode, null);
      assert.equal(result.signalName, 'SIGKILL');
      assert.equal(result.error, undefined);
    });
  }

  it('an i386 syscall through int $0x80 is a security violation', async () => {
    const result = await run({ argv: ['./int80'], files: [{ path: 'int80', source: int80 }] });
    assert.equal(result.status, 'security_violation', `${result.status}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, 'before\n', 'the i386 call returned to the program');
    assert.equal(result.syscall, 'i386:getuid');
  });

  it('an x32 syscall (x86_64 number with bit 30 set) is a security violation naming it', async () => {
    // x32 calls arrive with the x86_64 audit arch and nr | 0x40000000: the
    // policy file says the x32 ABI is refused as a violation, named like i386's.
    const result = await run({ argv: [PYTHON, '-c', SYSCALL, String(0x40000000 | 165), '0', '0', '0', '0', '0'] });
    assert.equal(result.status, 'security_violation', `${result.status}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, 'before\n', 'the x32 call returned to the program');
    assert.equal(result.syscall, 'x32:mount');
  });

  it('a setuid-root binary and a file-capability binary give no privileges', async () => {
    // Both made on the host in a dir the program gets read-only: no_new_privs,
    // the nosuid bind and an owner unmapped in the user namespace each defeat them.
    const dir = join(fixtures, 'privileged');
    mkdirSync(dir, { mode: 0o755 });
    const setuidRoot = compileStatic(dir, 'setuid-root', WHOAMI);
    chmodSync(setuidRoot, 0o4755);
    const fileCaps = compileStatic(dir, 'file-caps', WHOAMI);
    execFileSync('setcap', ['cap_setuid,cap_sys_admin+ep', fileCaps]);
    assert.equal(statSync(setuidRoot).mode & 0o4000, 0o4000);
    const result = await run({ argv: ['/bin/sh', '-c', `${setuidRoot}; ${fileCaps}`], readOnly: [dir] });
    assert.equal(result.status, 'ok', result.stderr);
    const line = 'uid 1000 euid 1000 capeff 0 setuid(0) -1 EPERM\n';
    assert.equal(result.stdout, line + line);
  });

  it('a violation in a grandchild stops the whole run', async () => {
    // The filter and its listener are inherited: the shell must not go on.
    const script = `${PYTHON} -c "$1" 165 0 0 0 0 0; echo "shell went on: $?"; sleep 5`;
    const result = await run({ argv: ['/bin/sh', '-c', script, 'sh', SYSCALL] });
    assert.equal(result.status, 'security_violation');
    assert.equal(result.syscall, 'mount');
    assert.equal(result.stdout, 'before\n');
    assert.ok(result.wallMs < 4_000, `the run went on for ${result.wallMs} ms`);
  });

  it('control: an allowed syscall through the same path returns normally', async () => {
    // getuid (102) via the same helper returns 1000: the harness itself is sound.
    const result = await run({ argv: [PYTHON, '-c', SYSCALL, '102'] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, 'before\nafter 1000 0\n');
    assert.equal(result.syscall, undefined);
  });
});
