// Privilege escalation: become uid 0 by every set*id call, raise capabilities
// (capset, ambient, securebits, keep-caps), clear no_new_privs, run the
// setuid-root binaries of the root (su, passwd, mount ...) and one made setuid
// in the work dir, file capabilities, lower oom_score_adj (so the host's OOM
// killer picks someone else), real-time scheduling and negative nice (to starve
// the host), raising hard rlimits, locking memory, writing its own uid map.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertStatus, baseline, compileAttacks, outcomes, sandbox } from './helpers.js';

const PRIVILEGE_ATTACKS = `
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/xattr.h>

static int become_root(int argc, char** argv) {
  gid_t root_group = 0;
  report("setuid", setuid(0));
  report("seteuid", seteuid(0));
  report("setreuid", setreuid(0, 0));
  report("setresuid", setresuid(0, 0, 0));
  report("setgid", setgid(0));
  report("setresgid", setresgid(0, 0, 0));
  report("setgroups", setgroups(1, &root_group));
  setfsuid(0);
  report("fsuid_after_setfsuid0", setfsuid(-1));
  printf("ids %d %d %d %d\\n", getuid(), geteuid(), getgid(), getegid());
  return 0;
}

static int raise_capabilities(int argc, char** argv) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = data[0].inheritable = 1u << CAP_SYS_ADMIN | 1u << CAP_SETUID | 1u << CAP_DAC_OVERRIDE;
  report("capset", syscall(SYS_capget, &header, NULL) == 0 ? syscall(SYS_capset, &header, data) : -1);
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &header, data);
  printf("capget %x %x %x\\n", data[0].effective | data[1].effective, data[0].permitted | data[1].permitted, data[0].inheritable | data[1].inheritable);
  int bounding = 0;
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) bounding += prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1;
  printf("bounding %d\\n", bounding);
  report("ambient_raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0));
  report("securebits_clear", prctl(PR_SET_SECUREBITS, 0, 0, 0, 0));
  report("keepcaps", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
  return 0;
}

static int clear_no_new_privs(int argc, char** argv) {
  report("clear", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
  report("get", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  return 0;
}

// Execs each setuid binary with stdin on a pipe that never delivers, and reads
// the credentials the exec gave it from /proc (the process may wait for a
// password, or exit at once: a zombie still shows them).
static int setuid_binaries(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    int in[2];
    pipe(in);
    pid_t child = fork();
    if (child == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(in[0], 0);
      dup2(null, 1);
      dup2(null, 2);
      execl(argv[i], argv[i], (char*)NULL);
      _exit(127);
    }
    char path[64], status[4096], creds[160] = "not-exec-ed";
    snprintf(path, sizeof path, "/proc/%d/status", child);
    const char* base = strrchr(argv[i], '/') + 1;
    for (int tries = 0; tries < 500; tries++) {
      FILE* f = fopen(path, "r");
      if (f == NULL) break;
      size_t n = fread(status, 1, sizeof status - 1, f);
      fclose(f);
      status[n] = 0;
      char name[64] = "";
      sscanf(status, "Name:\\t%63s", name);
      if (strncmp(name, base, 15) == 0) {
        char *uid = strstr(status, "Uid:"), *cap = strstr(status, "CapEff:");
        snprintf(creds, sizeof creds, "%.*s %.*s", (int)strcspn(uid, "\\n"), uid, (int)strcspn(cap, "\\n"), cap);
        break;
      }
      usleep(1000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(in[1]);
    for (char* p = creds; *p; p++) if (*p == '\\t') *p = ' ';
    printf("%s %s\\n", argv[i], creds);
  }
  return 0;
}

// Who the process is, once exec'd.
static int whoami(int argc, char** argv) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &header, data);
  printf("whoami uid=%d euid=%d capeff=%x\\n", getuid(), geteuid(), data[0].effective | data[1].effective);
  return 0;
}

// Makes a copy of itself setuid (and tries root-owned, and file capabilities), then execs it.
static int setuid_copy(int argc, char** argv) {
  char buf[65536];
  int in = open("/proc/self/exe", O_RDONLY), out = open("/box/escalate", O_WRONLY | O_CREAT | O_TRUNC, 0755);
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
  close(out);
  report("chown_root", chown("/box/escalate", 0, 0));
  report("chmod_setuid", chmod("/box/escalate", 06755));
  struct stat st;
  stat("/box/escalate", &st);
  printf("mode %o\\n", st.st_mode & 07777);
  static const unsigned char caps[20] = {0x01, 0, 0, 0x02, 0xff, 0xff, 0xff, 0xff};
  report("setcap", setxattr("/box/escalate", "security.capability", caps, sizeof caps, 0));
  fflush(stdout);
  execl("/box/escalate", "escalate", "whoami", (char*)NULL);
  report("exec", -1);
  return 0;
}

// oom_score_adj: lower it (the host's OOM killer would pick another process),
// the legacy oom_adj too; then raise it; read back what it is.
static int oom_adjust(int argc, char** argv) {
  const char* attempts[][2] = {{"/proc/self/oom_score_adj", "-1000"}, {"/proc/self/oom_score_adj", "-1"},
                               {"/proc/self/oom_adj", "-17"}, {"/proc/self/oom_score_adj", "1000"}};
  for (int i = 0; i < 4; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s=%s", strrchr(attempts[i][0], '/') + 1, attempts[i][1]);
    int fd = open(attempts[i][0], O_WRONLY);
    if (fd < 0) { report(key, -1); continue; }
    report(key, write(fd, attempts[i][1], strlen(attempts[i][1])));
    close(fd);
  }
  char value[32] = "";
  int fd = open("/proc/self/oom_score_adj", O_RDONLY);
  ssize_t n = read(fd, value, sizeof value - 1);
  value[n > 0 ? n - 1 : 0] = 0;
  printf("oom_score_adj %s\\n", value);
  return 0;
}

// Starve the host: real-time scheduling, the best nice value.
static int starve_host(int argc, char** argv) {
  struct sched_param param = {.sched_priority = 99};
  report("sched_fifo", sched_setscheduler(0, SCHED_FIFO, &param));
  report("sched_rr", sched_setscheduler(0, SCHED_RR, &param));
  struct { unsigned int size, policy; unsigned long long flags; int nice; unsigned int priority; unsigned long long runtime, deadline, period; }
      attr = {48, 6 /* SCHED_DEADLINE */, 0, 0, 0, 10000000, 30000000, 30000000};
  report("sched_deadline", syscall(SYS_sched_setattr, 0, &attr, 0));
  report("nice_minus_20", setpriority(PRIO_PROCESS, 0, -20));
  report("nice_user", setpriority(PRIO_USER, 0, -20));
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  report("rlimit_rtprio", setrlimit(RLIMIT_RTPRIO, &unlimited));
  return 0;
}

static int raise_limits(int argc, char** argv) {
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  report("nofile", setrlimit(RLIMIT_NOFILE, &unlimited));
  report("cpu", setrlimit(RLIMIT_CPU, &unlimited));
  report("fsize", setrlimit(RLIMIT_FSIZE, &unlimited));
  report("memlock", setrlimit(RLIMIT_MEMLOCK, &unlimited));
  report("core", setrlimit(RLIMIT_CORE, &unlimited));
  report("mlockall", mlockall(MCL_CURRENT | MCL_FUTURE));
  static char page[4096];
  report("mlock", mlock(page, sizeof page));
  return 0;
}

static int write_id_maps(int argc, char** argv) {
  const char* files[][2] = {{"/proc/self/uid_map", "0 0 4294967295"}, {"/proc/self/gid_map", "0 0 4294967295"},
                            {"/proc/self/setgroups", "allow"}};
  for (int i = 0; i < 3; i++) {
    int fd = open(files[i][0], O_WRONLY);
    report(files[i][0], fd < 0 ? -1 : write(fd, files[i][1], strlen(files[i][1])));
  }
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(become_root);
  ATTACK(raise_capabilities);
  ATTACK(clear_no_new_privs);
  ATTACK(setuid_binaries);
  ATTACK(whoami);
  ATTACK(setuid_copy);
  ATTACK(oom_adjust);
  ATTACK(starve_host);
  ATTACK(raise_limits);
  ATTACK(write_id_maps);
  return 2;
}
`;

// setuid-root binaries of the host's /usr, all executable by anyone.
const SETUID_BINARIES = [
  '/usr/bin/su',
  '/usr/bin/passwd',
  '/usr/bin/chfn',
  '/usr/bin/chsh',
  '/usr/bin/gpasswd',
  '/usr/bin/mount',
  '/usr/bin/umount',
  '/usr/lib/openssh/ssh-keysign',
  '/usr/lib/polkit-1/polkit-agent-helper-1',
];

const PROGRAM_CREDS = 'Uid: 1000 1000 1000 1000 CapEff: 0000000000000000';

describe('security: privileges', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let setuidBinaries: string[];
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'priv', source: compileAttacks(fixtures, 'priv', PRIVILEGE_ATTACKS) }];
    // Only those this host has, setuid root and executable by others: the attack is real.
    setuidBinaries = SETUID_BINARIES.filter((path) => {
      try {
        const stat = statSync(path);
        return stat.uid === 0 && (stat.mode & 0o4001) === 0o4001;
      } catch {
        return false;
      }
    });
    assert.ok(setuidBinaries.length >= 3, `only ${setuidBinaries.length} setuid-root binaries on this host`);
    start = await baseline();
  });

  after(() => removeFixtureDir(fixtures));

  it('setuid(0), seteuid, setreuid, setresuid, setgid, setresgid, setgroups and setfsuid all fail', async () => {
    const result = await sandbox({ argv: ['./priv', 'become_root'], files });
    assertStatus(result, 'ok');
    assert.equal(
      result.stdout,
      [
        'setuid EPERM',
        'seteuid EPERM',
        'setreuid EPERM',
        'setresuid EPERM',
        'setgid EPERM',
        'setresgid EPERM',
        'setgroups EPERM',
        'fsuid_after_setfsuid0 ok 1000',
        'ids 1000 1000 1000 1000',
        '',
      ].join('\n'),
    );
  });

  it('capset, ambient capabilities, securebits and keep-caps give nothing; every set stays empty', async () => {
    const result = await sandbox({ argv: ['./priv', 'raise_capabilities'], files });
    assertStatus(result, 'ok');
    // capset is not in the allow-list (ENOSYS); with it, EPERM (see layers.test.ts)
    assert.match(result.stdout, /^capset (ENOSYS|EPERM)\ncapget 0 0 0\nbounding 0\nambient_raise EPERM\nsecurebits_clear EPERM\nkeepcaps EPERM\n$/);
  });

  it('no_new_privs cannot be cleared', async () => {
    const result = await sandbox({ argv: ['./priv', 'clear_no_new_privs'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'clear EINVAL\nget ok 1\n');
  });

  it('the setuid-root binaries of the root (su, passwd, mount ...) run with the program\'s credentials', async () => {
    const result = await sandbox({ argv: ['./priv', 'setuid_binaries', ...setuidBinaries], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, setuidBinaries.map((path) => `${path} ${PROGRAM_CREDS}\n`).join(''));
  });

  it('a setuid copy of its own (chown root refused, setuid bit set, file caps refused) execs as uid 1000', async () => {
    const result = await sandbox({ argv: ['./priv', 'setuid_copy'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'chown_root EPERM\nchmod_setuid ok 0\nmode 6755\nsetcap ENOSYS\nwhoami uid=1000 euid=1000 capeff=0\n');
  });

  it('oom_score_adj cannot be lowered (nor oom_adj, nor raised): it stays 0', async () => {
    const result = await sandbox({ argv: ['./priv', 'oom_adjust'], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const attempt of ['oom_score_adj=-1000', 'oom_score_adj=-1', 'oom_adj=-17', 'oom_score_adj=1000']) {
      assert.match(seen.get(attempt) ?? '', /^(EACCES|EPERM)$/, attempt);
    }
    assert.equal(seen.get('oom_score_adj'), '0');
  });

  it('real-time scheduling, SCHED_DEADLINE and negative nice values are refused', async () => {
    const result = await sandbox({ argv: ['./priv', 'starve_host'], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const attempt of ['sched_fifo', 'sched_rr', 'rlimit_rtprio']) assert.equal(seen.get(attempt), 'EPERM', attempt);
    // sched_setattr is not in the allow-list
    assert.match(seen.get('sched_deadline') ?? '', /^(ENOSYS|EPERM)$/);
    for (const attempt of ['nice_minus_20', 'nice_user']) assert.match(seen.get(attempt) ?? '', /^(EACCES|EPERM)$/, attempt);
  });

  it('hard rlimits cannot be raised and memory cannot be locked', async () => {
    const result = await sandbox({ argv: ['./priv', 'raise_limits'], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const limit of ['nofile', 'cpu', 'fsize', 'memlock', 'core']) assert.equal(seen.get(limit), 'EPERM', limit);
    assert.match(seen.get('mlockall') ?? '', /^(EPERM|ENOMEM)$/);
    assert.match(seen.get('mlock') ?? '', /^(EPERM|ENOMEM)$/);
  });

  it('its own uid_map, gid_map and setgroups cannot be rewritten', async () => {
    const result = await sandbox({ argv: ['./priv', 'write_id_maps'], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    for (const file of ['/proc/self/uid_map', '/proc/self/gid_map', '/proc/self/setgroups']) assert.match(seen.get(file) ?? '', /^(EACCES|EPERM)$/, file);
  });

  it('leaves nothing behind', async () => {
    await assertNothingLeftBehind(start);
  });
});
