// Every layer tested alone: with the test-only switch (testLayersOff), one
// layer — sometimes two — is taken away and the same attack is made again, to
// show which other layer still holds it. Where a class turns out to be held by
// one layer only, the test documents it: it asserts the exposure that appears
// once that layer is off too (each such test says "held only by ..." and is
// listed in the report). Those exposures are also the controls: they prove the
// attack and the host-side witness would catch a real escape.
process.env.CELLBLOCK_TEST_LAYERS = '1';

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestLayer } from '../../sandbox/run.js';
import type { RunResult } from '../../sandbox/schema.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import { isAlive } from '../helpers/host.js';
import type { Snapshot } from '../helpers/leaks.js';
import {
  assertAtimeWitnessWorks,
  assertDatagramListenerCounts,
  assertNothingLeftBehind,
  assertSecretsSafe,
  assertStatus,
  assertStreamListenerCounts,
  baseline,
  compileAttacks,
  type DatagramListener,
  datagramListener,
  outcomes,
  plantSecret,
  removeSecrets,
  sandbox,
  type Secret,
  type StreamListener,
  streamListener,
  waitFor,
} from './helpers.js';

const LAYER_ATTACKS = `
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include <linux/capability.h>
#include <time.h>

static void inet(const char* host, int port, struct sockaddr_in* in) {
  memset(in, 0, sizeof *in);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, host, &in->sin_addr);
}

static int tcp(int argc, char** argv) {
  struct sockaddr_in in;
  inet(argv[0], atoi(argv[1]), &in);
  int s = report("socket", socket(AF_INET, SOCK_STREAM, 0));
  if (s >= 0) report("connect", connect(s, (struct sockaddr*)&in, sizeof in));
  return 0;
}

static int udp(int argc, char** argv) {
  struct sockaddr_in in;
  inet(argv[0], atoi(argv[1]), &in);
  int s = report("socket", socket(AF_INET, SOCK_DGRAM, 0));
  if (s >= 0) report("sendto", sendto(s, "from-the-sandbox", 16, 0, (struct sockaddr*)&in, sizeof in));
  return 0;
}

// A unix socket by path, or abstract ("@name", padded to the full sun_path as
// Node binds it).
static int unix_connect(int argc, char** argv) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  if (argv[0][0] == '@') strncpy(un.sun_path + 1, argv[0] + 1, sizeof un.sun_path - 2);
  else strncpy(un.sun_path, argv[0], sizeof un.sun_path - 1);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  report("connect", connect(s, (struct sockaddr*)&un, sizeof un));
  return 0;
}

static int raw(int argc, char** argv) {
  report("inet_raw", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  report("packet", socket(AF_PACKET, SOCK_RAW, htons(3)));
  return 0;
}

// vsock is the VM's channel to its hypervisor: bind a port (a local operation
// only, nothing is sent) to see whether it is shared with the host.
static int vsock_bind(int argc, char** argv) {
  struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_port = atoi(argv[0]), .svm_cid = VMADDR_CID_ANY};
  int s = report("socket", socket(AF_VSOCK, SOCK_STREAM, 0));
  if (s >= 0) report("bind", bind(s, (struct sockaddr*)&vm, sizeof vm));
  return 0;
}

// What capabilities and namespace ownership hold without seccomp.
static int privileged_calls(int argc, char** argv) {
  struct timespec epoch = {0, 0};
  char buf[8];
  struct iovec local = {buf, 8}, remote = {(void*)0x1000, 8};
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2] = {{1u << CAP_SYS_ADMIN, 1u << CAP_SYS_ADMIN, 0}, {0, 0, 0}};
  report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  report("umount_mask", umount2("/proc/kallsyms", MNT_DETACH));
  report("unshare_mnt", unshare(CLONE_NEWNS));
  report("unshare_net", unshare(CLONE_NEWNET));
  report("unshare_pid", unshare(CLONE_NEWPID));
  report("sethostname", sethostname("evil", 4));
  report("clock_settime", clock_settime(CLOCK_REALTIME, &epoch));
  report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
  report("swapon", syscall(SYS_swapon, "/box/swap", 0));
  report("syslog", syscall(SYS_syslog, 3, buf, sizeof buf));
  report("chroot", chroot("/box"));
  union bpf_attr map;
  memset(&map, 0, sizeof map);
  map.map_type = BPF_MAP_TYPE_ARRAY;
  map.key_size = 4;
  map.value_size = 8;
  map.max_entries = 1;
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &map, sizeof map));
  report("ptrace_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
  report("vm_readv_init", process_vm_readv(1, &local, 1, &remote, 1, 0));
  int pidfd = syscall(SYS_pidfd_open, 1, 0);
  report("pidfd_getfd_init", syscall(SYS_pidfd_getfd, pidfd, 0, 0));
  report("capset", syscall(SYS_capset, &header, caps));
  report("setuid", setuid(0));
  report("init_module", syscall(SYS_init_module, "x", 1, ""));
  report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
  return 0;
}

// Kernel interfaces an unprivileged process reaches once seccomp is gone.
static int unprivileged_surface(int argc, char** argv) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  report("perf_event_open", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
  report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "cellblock-test"));
  report("unshare_user", unshare(CLONE_NEWUSER));
  report("unshare_net_in_own_userns", unshare(CLONE_NEWNET));
  return 0;
}

// A user namespace of its own, then what it would be for: mounts, the chroot
// escape. argv[0]: "1" to also take a mount namespace of its own.
static int own_userns(int argc, char** argv) {
  report("unshare_user", unshare(CLONE_NEWUSER | (atoi(argv[0]) ? CLONE_NEWNS : 0)));
  report("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
  report("umount_mask", umount2("/proc/kallsyms", MNT_DETACH));
  report("remount_usr_rw", mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
  report("write_usr", open("/usr/escape", O_WRONLY | O_CREAT, 0644));
  struct stat st;
  stat("/proc/kallsyms", &st);
  printf("kallsyms_is_devnull %d\\n", S_ISCHR(st.st_mode));
  mkdir("/box/jail", 0755);
  int outside = open("/box", O_RDONLY | O_DIRECTORY);
  report("chroot", chroot("/box/jail"));
  fchdir(outside);
  for (int i = 0; i < 64; i++) chdir("..");
  report("chroot_dot", chroot("."));
  DIR* root = opendir("/");
  struct dirent* entry;
  printf("root");
  while (root != NULL && (entry = readdir(root)) != NULL)
    if (entry->d_name[0] != '.') printf(" %s", entry->d_name);
  printf("\\n");
  return 0;
}

// argv: pids ("label=pid") of host processes to kill.
static int kill_host(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    char label[64];
    snprintf(label, sizeof label, "%s", argv[i]);
    char* eq = strchr(label, '=');
    *eq = 0;
    report(label, kill(atoi(eq + 1), SIGKILL));
  }
  report("init", kill(1, SIGKILL));
  report("everything", kill(-1, SIGKILL));
  return 0;
}

// Reopen stdin (a host file) for writing, through /proc/self/fd/0.
static int stdin_write(int argc, char** argv) {
  int fd = report("reopen", open("/proc/self/fd/0", O_WRONLY | O_TRUNC));
  if (fd >= 0) report("write", write(fd, "pwned\\n", 6));
  return 0;
}

// Read a file relative to stdin (a directory handle).
static int stdin_dir(int argc, char** argv) {
  int fd = report("openat", openat(0, argv[0], O_RDONLY));
  if (fd >= 0) {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("content %s", buf);
  }
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(tcp);
  ATTACK(udp);
  ATTACK(unix_connect);
  ATTACK(raw);
  ATTACK(vsock_bind);
  ATTACK(read_paths);
  ATTACK(privileged_calls);
  ATTACK(unprivileged_surface);
  ATTACK(own_userns);
  ATTACK(kill_host);
  ATTACK(stdin_write);
  ATTACK(stdin_dir);
  return 2;
}
`;

const IF_NAMES = `
import socket
try:
    print('interfaces', ' '.join(sorted(name for _, name in socket.if_nameindex())))
except OSError as e:
    print('interfaces', e.strerror)
`;

// After a documented (intended) read, the secret's access-time witness is re-armed.
const rearm = (secret: Secret): void => {
  const longAgo = new Date('2001-01-01T00:00:00Z');
  utimesSync(secret.path, longAgo, longAgo);
  secret.atimeMs = longAgo.getTime();
};

const sorted = (words: string | undefined): string => (words ?? '').split(' ').sort().join(' ');

// What the sandbox's own root contains: an escape that lands here gained nothing.
const SANDBOX_ROOT = 'bin box dev etc lib lib64 proc sbin tmp usr';

describe('security: every layer tested alone', () => {
  let fixtures: string;
  let files: { path: string; source: string }[];
  let start: Snapshot;
  let tcp4: StreamListener;
  let udp4: DatagramListener;
  let abstract: StreamListener;
  let pathSocket: StreamListener;
  let secrets: Secret[];
  let root644: Secret;
  let root600: Secret;
  let var644: Secret;
  let var600: Secret;
  let etc644: Secret;
  let hostSleep: ChildProcess;

  const attack = (args: string[], layersOff: TestLayer[], extra: { stdin?: { file: string } | { fd: number } } = {}): Promise<RunResult> =>
    sandbox({ argv: ['./layers', ...args], files, ...extra }, { testLayersOff: layersOff });

  const weakened = (result: RunResult, layersOff: TestLayer[]): void =>
    assert.deepEqual(result.weakened, layersOff.map((layer) => `${layer} (test)`), 'the result must say which layers were off');

  before(async () => {
    fixtures = makeFixtureDir();
    files = [{ path: 'layers', source: compileAttacks(fixtures, 'layers', LAYER_ATTACKS) }];
    tcp4 = await streamListener({ host: '127.0.0.1' });
    udp4 = await datagramListener('127.0.0.1');
    abstract = await streamListener({ path: `\0${uniqueToken('layers')}` });
    pathSocket = await streamListener({ path: join(fixtures, 'service.sock') });
    chmodSync(join(fixtures, 'service.sock'), 0o777);
    for (const listener of [tcp4, abstract, pathSocket]) await assertStreamListenerCounts(listener);
    await assertDatagramListenerCounts(udp4);
    root644 = plantSecret(join('/root', `${uniqueToken('l644')}.secret`), 0o644);
    root600 = plantSecret(join('/root', `${uniqueToken('l600')}.secret`), 0o600);
    var644 = plantSecret(join(fixtures, 'world-readable.secret'), 0o644);
    var600 = plantSecret(join(fixtures, 'private.secret'), 0o600);
    etc644 = plantSecret(join('/etc', `${uniqueToken('etc')}.secret`), 0o644);
    secrets = [root644, root600, var644, var600, etc644];
    assertAtimeWitnessWorks(var644);
    hostSleep = spawn('sleep', ['120'], { stdio: 'ignore' });
    start = await baseline();
  });

  after(async () => {
    hostSleep.kill('SIGKILL');
    for (const listener of [tcp4, udp4, abstract, pathSocket]) await listener?.close();
    removeSecrets(secrets);
    removeFixtureDir(fixtures);
  });

  describe('network: a TCP connect to a host loopback service', () => {
    it('seccomp off: the network namespace and Landlock still refuse it (EACCES), UDP has no route', async () => {
      const off: TestLayer[] = ['seccomp'];
      const connections = tcp4.connections();
      const tcp = await attack(['tcp', '127.0.0.1', String(tcp4.port)], off);
      assertStatus(tcp, 'ok');
      weakened(tcp, off);
      assert.equal(tcp.stdout, 'socket ok 3\nconnect EACCES\n');
      const udp = await attack(['udp', '127.0.0.1', String(udp4.port)], off);
      assertStatus(udp, 'ok');
      assert.equal(udp.stdout, 'socket ok 3\nsendto ENETUNREACH\n');
      await delay(100);
      assert.equal(tcp4.connections(), connections);
      assert.deepEqual(udp4.received, ['control']);
    });

    it('network off (the host\'s namespace): seccomp refuses the socket', async () => {
      const off: TestLayer[] = ['network'];
      const connections = tcp4.connections();
      const tcp = await attack(['tcp', '127.0.0.1', String(tcp4.port)], off);
      assertStatus(tcp, 'ok');
      weakened(tcp, off);
      assert.equal(tcp.stdout, 'socket EAFNOSUPPORT\n');
      const udp = await attack(['udp', '127.0.0.1', String(udp4.port)], off);
      assertStatus(udp, 'ok');
      assert.equal(udp.stdout, 'socket EAFNOSUPPORT\n');
      await delay(100);
      assert.equal(tcp4.connections(), connections);
      assert.deepEqual(udp4.received, ['control']);
    });

    it('network and seccomp off: Landlock alone refuses the TCP connect', async () => {
      const off: TestLayer[] = ['network', 'seccomp'];
      const connections = tcp4.connections();
      const tcp = await attack(['tcp', '127.0.0.1', String(tcp4.port)], off);
      assertStatus(tcp, 'ok');
      weakened(tcp, off);
      assert.equal(tcp.stdout, 'socket ok 3\nconnect EACCES\n');
      await delay(100);
      assert.equal(tcp4.connections(), connections, 'a TCP connection reached the host');
    });

    it('UDP is held only by seccomp and the network namespace: with both off a datagram reaches the host (Landlock has no UDP rule)', async () => {
      const off: TestLayer[] = ['network', 'seccomp'];
      const udp = await attack(['udp', '127.0.0.1', String(udp4.port)], off);
      assertStatus(udp, 'ok');
      assert.equal(udp.stdout, 'socket ok 3\nsendto ok 16\n');
      assert.ok(await waitFor(() => udp4.received.length === 2), 'documented exposure: the datagram did not arrive');
      assert.deepEqual(udp4.received, ['control', 'from-the-sandbox']);
      udp4.received.splice(1);
    });

    it('control: with network, seccomp and Landlock all off the TCP connect reaches the host', async () => {
      const off: TestLayer[] = ['network', 'seccomp', 'landlock'];
      const connections = tcp4.connections();
      const tcp = await attack(['tcp', '127.0.0.1', String(tcp4.port)], off);
      assertStatus(tcp, 'ok');
      assert.equal(tcp.stdout, 'socket ok 3\nconnect ok 0\n');
      assert.ok(await waitFor(() => tcp4.connections() === connections + 1), 'the listener did not see the connection');
    });

    it('an abstract unix socket of the host: network off, Landlock scoping refuses it (EPERM)', async () => {
      const off: TestLayer[] = ['network'];
      const connections = abstract.connections();
      const result = await attack(['unix_connect', `@${abstract.address.slice(1)}`], off);
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'connect EPERM\n');
      await delay(50);
      assert.equal(abstract.connections(), connections);
    });

    it('abstract unix sockets are held only by the network namespace and Landlock scoping: with both off the host socket is reached', async () => {
      const off: TestLayer[] = ['network', 'landlock'];
      const connections = abstract.connections();
      const result = await attack(['unix_connect', `@${abstract.address.slice(1)}`], off);
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'connect ok 0\n');
      assert.ok(await waitFor(() => abstract.connections() === connections + 1), 'documented exposure: no connection arrived');
    });

    it('raw and packet sockets: seccomp off, no CAP_NET_RAW refuses them (EPERM), also in the host\'s namespace', async () => {
      for (const off of [['seccomp'], ['seccomp', 'network']] as TestLayer[][]) {
        const result = await attack(['raw'], off);
        assertStatus(result, 'ok');
        assert.equal(result.stdout, 'inet_raw EPERM\npacket EPERM\n', off.join('+'));
      }
    });

    it("the host's interfaces: seccomp off, netlink works but the network namespace has only lo; with both off the host's are listed", async () => {
      const own = await sandbox({ argv: [PYTHON, '-c', IF_NAMES] }, { testLayersOff: ['seccomp'] });
      assertStatus(own, 'ok');
      assert.equal(own.stdout, 'interfaces lo\n');
      const hostNames = Object.keys(networkInterfaces()).sort().join(' ');
      const host = await sandbox({ argv: [PYTHON, '-c', IF_NAMES] }, { testLayersOff: ['seccomp', 'network'] });
      assertStatus(host, 'ok');
      assert.ok(host.stdout.startsWith('interfaces ') && hostNames.split(' ').every((name) => host.stdout.includes(name)), `documented exposure: ${host.stdout}`);
      const filtered = await sandbox({ argv: [PYTHON, '-c', IF_NAMES] }, { testLayersOff: ['network'] });
      assertStatus(filtered, 'ok');
      assert.equal(filtered.stdout, 'interfaces Address family not supported by protocol\n');
    });

    it('AF_VSOCK (the VM\'s channel to its hypervisor) is held only by seccomp: without it, vsock ports are the host\'s', async (t) => {
      const port = 40_000 + (process.pid % 20_000);
      // A host process holds a vsock port; binding it from the sandbox collides.
      const holder = spawn(PYTHON, ['-c', `import socket,sys,time\ns=socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\ns.bind((socket.VMADDR_CID_ANY, ${port}))\nprint('ready', flush=True)\ntime.sleep(30)`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      try {
        const ready = await new Promise<boolean>((resolve) => {
          holder.stdout?.once('data', (data: Buffer) => resolve(data.toString().startsWith('ready')));
          holder.once('exit', () => resolve(false));
        });
        if (!ready) {
          t.skip('this host has no vsock');
          return;
        }
        const filtered = await attack(['vsock_bind', String(port)], []);
        assertStatus(filtered, 'ok');
        assert.equal(filtered.stdout, 'socket EAFNOSUPPORT\n');
        const unfiltered = await attack(['vsock_bind', String(port)], ['seccomp']);
        assertStatus(unfiltered, 'ok');
        assert.equal(unfiltered.stdout, 'socket ok 3\nbind EADDRINUSE\n', 'documented exposure: the host\'s vsock port space is shared');
      } finally {
        holder.kill('SIGKILL');
        await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve(null) : holder.once('exit', resolve)));
      }
    });
  });

  describe('host files', () => {
    const paths = (): string[] => [root644.path, root600.path, var644.path, var600.path, '/etc/shadow'];

    it('Landlock off: the mount namespace alone hides them (ENOENT)', async () => {
      const result = await attack(['read_paths', ...paths()], ['landlock']);
      assertStatus(result, 'ok');
      assert.equal(result.stdout, paths().map((path) => `${path} ENOENT\n`).join(''));
      assertSecretsSafe(secrets, result);
    });

    it('mount off (/etc, /root, /var ... of the host bound): Landlock and DAC refuse them (EACCES)', async () => {
      const result = await attack(['read_paths', ...paths()], ['mount']);
      assertStatus(result, 'ok');
      weakened(result, ['mount']);
      assert.equal(result.stdout, paths().map((path) => `${path} EACCES\n`).join(''));
      assertSecretsSafe(secrets, result);
    });

    it('host files under /var/tmp are held only by the mount namespace and Landlock: with both off a 0644 file is read (0600 and /root stay closed by DAC)', async () => {
      const result = await attack(['read_paths', ...paths()], ['mount', 'landlock']);
      assertStatus(result, 'ok');
      const seen = outcomes(result.stdout);
      assert.match(seen.get(var644.path) ?? '', /^ok \d+$/, 'documented exposure: the 0644 file was not readable');
      assert.equal(seen.get(`${var644.path}:content`), var644.token);
      for (const path of [root644.path, root600.path, var600.path, '/etc/shadow']) assert.equal(seen.get(path), 'EACCES', path);
      rearm(var644); // the documented read moved its access time
      assertSecretsSafe([root644, root600, var600, etc644], result);
    });

    it("the host's /etc is held by Landlock too: with the mount layer off, a 0644 host file there stays unread (Landlock allows only the generated /etc files)", async () => {
      const result = await attack(['read_paths', etc644.path], ['mount']);
      assertStatus(result, 'ok');
      assert.match(outcomes(result.stdout).get(etc644.path) ?? '', /^(EACCES|EPERM)$/);
      assertSecretsSafe([etc644], result);
      const both = await attack(['read_paths', etc644.path], ['mount', 'landlock']);
      assert.match(outcomes(both.stdout).get(etc644.path) ?? '', /^ok \d+$/, 'with both off it is exposed: the test can tell');
      rearm(etc644);
    });

    it("the host's unix sockets are held only by the mount namespace: with it off a 0777 socket under /var/tmp is connected (Landlock ABI 7 has no rule for it)", async () => {
      const connections = pathSocket.connections();
      const normal = await attack(['unix_connect', pathSocket.address], []);
      assertStatus(normal, 'ok');
      assert.equal(normal.stdout, 'connect ENOENT\n');
      const result = await attack(['unix_connect', pathSocket.address], ['mount']);
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'connect ok 0\n', 'documented exposure');
      assert.ok(await waitFor(() => pathSocket.connections() === connections + 1), 'the host socket did not see the connection');
    });

    it('a world-writable host stdin file is held only by Landlock: with it off, /proc/self/fd/0 reopens it for writing', async () => {
      const input = join(fixtures, 'stdin.txt');
      writeFileSync(input, 'original\n', { mode: 0o666 });
      chmodSync(input, 0o666);
      const held = await attack(['stdin_write'], [], { stdin: { file: input } });
      assertStatus(held, 'ok');
      assert.equal(held.stdout, 'reopen EACCES\n');
      assert.equal(readFileSync(input, 'utf8'), 'original\n');
      const exposed = await attack(['stdin_write'], ['landlock'], { stdin: { file: input } });
      assertStatus(exposed, 'ok');
      assert.equal(exposed.stdout, 'reopen ok 3\nwrite ok 6\n', 'documented exposure');
      assert.equal(readFileSync(input, 'utf8'), 'pwned\n', 'documented exposure: the host file was not changed');
      chmodSync(input, 0o644);
      writeFileSync(input, 'original\n');
      const dac = await attack(['stdin_write'], ['landlock'], { stdin: { file: input } });
      assertStatus(dac, 'ok');
      assert.equal(dac.stdout, 'reopen EACCES\n', 'a 0644 file is still closed by DAC');
      assert.equal(readFileSync(input, 'utf8'), 'original\n');
    });

    it('a directory fd given as stdin (see filesystem.test.ts) gives no access to the files below, with Landlock or without', async () => {
      const dir = join(fixtures, 'handed');
      mkdirSync(dir, { mode: 0o755 });
      const inside = plantSecret(join(dir, 'inside.secret'), 0o644);
      const fd = openSync(dir, 'r');
      try {
        for (const off of [[], ['landlock']] as TestLayer[][]) {
          const result = await attack(['stdin_dir', 'inside.secret'], off, { stdin: { fd } });
          // refused before the program runs, or the open fails
          if (result.status === 'internal_error') assert.ok(result.error, JSON.stringify(result));
          else assert.equal(result.stdout, 'openat EACCES\n', `${off.join('+')}: ${JSON.stringify(result)}`);
          assertSecretsSafe([inside], result);
        }
      } finally {
        closeSync(fd);
        rmSync(inside.path, { force: true });
      }
    });
  });

  describe('kernel surface and privileges without seccomp', () => {
    const EXPECTED = [
      ['mount', 'EPERM'],
      ['unshare_mnt', 'EPERM'],
      ['unshare_net', 'EPERM'],
      ['unshare_pid', 'EPERM'],
      ['sethostname', 'EPERM'],
      ['clock_settime', 'EPERM'],
      ['reboot', 'EPERM'],
      ['swapon', 'EPERM'],
      ['syslog', 'EPERM'],
      ['chroot', 'EPERM'],
      ['bpf', 'EPERM'],
      ['ptrace_init', 'EPERM'],
      ['vm_readv_init', 'EPERM'],
      ['pidfd_getfd_init', 'EPERM'],
      ['capset', 'EPERM'],
      ['setuid', 'EPERM'],
    ] as const;

    for (const off of [['seccomp'], ['seccomp', 'landlock']] as TestLayer[][]) {
      it(`${off.join(' and ')} off: mount, unshare, ptrace, clock, reboot, capset ... fail for lack of capabilities over namespaces the initial user namespace owns`, async () => {
        const result = await attack(['privileged_calls'], off);
        assertStatus(result, 'ok');
        weakened(result, off);
        const seen = outcomes(result.stdout);
        for (const [call, errno] of EXPECTED) assert.equal(seen.get(call), errno, `${call}: ${result.stdout}`);
        assert.match(seen.get('umount_mask') ?? '', /^(EPERM|EINVAL)$/);
        // this kernel has neither modules nor kexec: ENOSYS from the kernel itself
        assert.match(seen.get('init_module') ?? '', /^(EPERM|ENOSYS)$/);
        assert.match(seen.get('kexec_load') ?? '', /^(EPERM|ENOSYS)$/);
      });
    }

    it('held only by seccomp: a user namespace of its own (and a network namespace it administers), perf_event_open, userfaultfd and keyrings', async () => {
      const filtered = await attack(['unprivileged_surface'], []);
      assert.equal(filtered.status, 'security_violation');
      assert.equal(filtered.syscall, 'perf_event_open');
      const result = await attack(['unprivileged_surface'], ['seccomp']);
      assertStatus(result, 'ok');
      // the keyring's serial number varies
      assert.match(result.stdout, /^perf_event_open ok 3\nuserfaultfd ok 4\nkeyctl ok \d+\nunshare_user ok 0\nunshare_net_in_own_userns ok 0\n$/, 'documented exposure');
    });

    it('seccomp off, in a user namespace of its own: Landlock refuses every mount, and the chroot escape lands in the sandbox root', async () => {
      const result = await attack(['own_userns', '1'], ['seccomp']);
      assertStatus(result, 'ok');
      const seen = outcomes(result.stdout);
      assert.equal(seen.get('unshare_user'), 'ok 0');
      assert.equal(seen.get('mount_tmpfs'), 'EPERM');
      assert.match(seen.get('umount_mask') ?? '', /^(EPERM|EINVAL)$/);
      assert.equal(seen.get('remount_usr_rw'), 'EPERM');
      assert.match(seen.get('write_usr') ?? '', /^(EROFS|EACCES)$/);
      assert.equal(seen.get('kallsyms_is_devnull'), '1');
      assert.equal(seen.get('chroot'), 'ok 0');
      assert.equal(sorted(seen.get('root')), SANDBOX_ROOT, 'the chroot escape reached something beyond the sandbox root');
    });

    it('seccomp and Landlock off, in user and mount namespaces of its own: the locked mounts hold (no unmask, no read-write /usr) and the escape lands in the sandbox root', async () => {
      const result = await attack(['own_userns', '1'], ['seccomp', 'landlock']);
      assertStatus(result, 'ok');
      const seen = outcomes(result.stdout);
      assert.equal(seen.get('unshare_user'), 'ok 0');
      assert.equal(seen.get('mount_tmpfs'), 'ok 0', 'control: it is root of namespaces of its own');
      assert.equal(seen.get('umount_mask'), 'EINVAL', 'the /proc mask came off');
      assert.equal(seen.get('remount_usr_rw'), 'EPERM', '/usr became writable');
      assert.equal(seen.get('write_usr'), 'EROFS');
      assert.equal(seen.get('kallsyms_is_devnull'), '1');
      assert.equal(sorted(seen.get('root')), SANDBOX_ROOT);
    });
  });

  describe('processes without seccomp', () => {
    for (const off of [['seccomp'], ['seccomp', 'landlock']] as TestLayer[][]) {
      it(`${off.join(' and ')} off: host processes and the supervisor cannot be named (pid namespace), init refuses (uid)`, async () => {
        assert.ok(hostSleep.pid !== undefined);
        const result = await attack(['kill_host', `host=${hostSleep.pid}`, `supervisor=${process.pid}`], off);
        assertStatus(result, 'ok');
        assert.equal(result.stdout, 'host ESRCH\nsupervisor ESRCH\ninit EPERM\neverything ESRCH\n');
        assert.equal(isAlive(hostSleep.pid), true);
      });
    }
  });

  it('leaves nothing behind', async () => {
    assertSecretsSafe(secrets);
    await assertNothingLeftBehind(start);
  });
});
