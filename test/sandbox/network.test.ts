// Network: the sandbox has an empty network namespace (even loopback is down),
// seccomp refuses non-unix sockets and Landlock refuses TCP connect. Each test
// opens a listener on the host, proves with a control connection from the host
// that the listener counts, then checks the program's attempt never arrived.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { run } from '../../sandbox/run.js';
import { PYTHON, uniqueToken } from '../helpers/fixtures.js';

// argv: kind host port. Prints "<kind> connected|sent" or "<kind> failed <ERRNO>".
const CLIENT = `
import errno, socket, sys
kind, host, port = sys.argv[1], sys.argv[2], sys.argv[3]
families = {'tcp': (socket.AF_INET, socket.SOCK_STREAM), 'tcp6': (socket.AF_INET6, socket.SOCK_STREAM),
            'udp': (socket.AF_INET, socket.SOCK_DGRAM), 'unix': (socket.AF_UNIX, socket.SOCK_STREAM)}
family, type_ = families[kind]
# Node binds an abstract name padded with NULs to the whole sun_path: so must we
address = ('\\0' + host).ljust(108, '\\0') if kind == 'unix' else (host, int(port))
try:
    s = socket.socket(family, type_)
    s.settimeout(2)
    if type_ == socket.SOCK_DGRAM:
        for _ in range(5):
            s.sendto(b'from-the-sandbox', address)
        print(kind, 'sent', flush=True)
    else:
        s.connect(address)
        print(kind, 'connected', flush=True)
except OSError as e:
    print(kind, 'failed', errno.errorcode.get(e.errno, e.errno), flush=True)
`;

interface CountingServer {
  server: Server;
  connections: () => number;
}

async function countingServer(listenOn: string | { host: string; port: number }): Promise<CountingServer> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof listenOn === 'string') server.listen(listenOn, resolve);
    else server.listen(listenOn.port, listenOn.host, resolve);
  });
  return { server, connections: () => connections };
}

// A connection from the host itself: shows the listener works and is counted.
async function controlConnect(target: string | { host: string; port: number }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = typeof target === 'string' ? connect(target) : connect(target.port, target.host);
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
  await delay(50);
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port;

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

// A non-loopback IPv4 address of this host, if it has one.
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

describe('network', () => {
  let tcp: CountingServer;

  before(async () => {
    tcp = await countingServer({ host: '127.0.0.1', port: 0 });
    await controlConnect({ host: '127.0.0.1', port: portOf(tcp.server) });
    assert.equal(tcp.connections(), 1, 'control: the host can connect to its own listener');
  });

  after(async () => {
    await close(tcp.server);
  });

  it('a TCP connect to a listener on the host loopback fails inside and never reaches it', async () => {
    const result = await run({ argv: [PYTHON, '-c', CLIENT, 'tcp', '127.0.0.1', String(portOf(tcp.server))] });
    await delay(100);
    assert.equal(result.status, 'ok', result.stderr);
    // seccomp: socket(AF_INET) fails before any packet could leave
    assert.equal(result.stdout, 'tcp failed EAFNOSUPPORT\n');
    assert.equal(tcp.connections(), 1, 'the listener saw only the control connection');
  });

  it('with socket() allowed by seccomp, the network namespace and Landlock still keep TCP in', async () => {
    // Defence in depth: take the seccomp layer out of the way for socket(2) only.
    const wildcard = await countingServer({ host: '0.0.0.0', port: 0 });
    try {
      const port = String(portOf(wildcard.server));
      const external = externalAddress();
      const targets = ['127.0.0.1', ...(external ? [external] : [])];
      for (const host of targets) {
        const result = await run({ argv: [PYTHON, '-c', CLIENT, 'tcp', host, port], seccomp: { allow: ['socket'] } });
        assert.equal(result.status, 'ok', result.stderr);
        assert.match(result.stdout, /^tcp failed (EACCES|ENETUNREACH|EPERM)\n$/, `connect to ${host}`);
      }
      await delay(100);
      assert.equal(wildcard.connections(), 0, 'no connection reached the host');
    } finally {
      await close(wildcard.server);
    }
  });

  it('UDP datagrams sent to a host loopback socket never arrive', async () => {
    const received: string[] = [];
    const udp: UdpSocket = createSocket('udp4');
    udp.on('message', (message) => received.push(message.toString()));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    try {
      const port = udp.address().port;
      // control: a datagram from the host itself is received
      const sender = createSocket('udp4');
      await new Promise<void>((resolve, reject) => sender.send('control', port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      sender.close();
      await delay(50);
      assert.deepEqual(received, ['control']);

      const denied = await run({ argv: [PYTHON, '-c', CLIENT, 'udp', '127.0.0.1', String(port)] });
      assert.equal(denied.status, 'ok', denied.stderr);
      assert.equal(denied.stdout, 'udp failed EAFNOSUPPORT\n');

      // and with socket() allowed, the empty network namespace has no route
      const unrouted = await run({
        argv: [PYTHON, '-c', CLIENT, 'udp', '127.0.0.1', String(port)],
        seccomp: { allow: ['socket'] },
      });
      assert.equal(unrouted.status, 'ok', unrouted.stderr);
      assert.match(unrouted.stdout, /^udp failed (ENETUNREACH|EACCES|EPERM)\n$/);

      await delay(200);
      assert.deepEqual(received, ['control'], 'nothing from the sandbox arrived');
    } finally {
      udp.close();
    }
  });

  it('an abstract unix socket listening on the host cannot be reached', async () => {
    // Abstract unix sockets belong to the network namespace; AF_UNIX itself is allowed.
    const name = uniqueToken('abstract');
    const abstract = await countingServer(`\0${name}`);
    try {
      await controlConnect(`\0${name}`);
      assert.equal(abstract.connections(), 1, 'control: the host can connect');
      const result = await run({ argv: [PYTHON, '-c', CLIENT, 'unix', name, '0'] });
      await delay(100);
      assert.equal(result.status, 'ok', result.stderr);
      assert.match(result.stdout, /^unix failed (ECONNREFUSED|EPERM|EACCES)\n$/);
      assert.equal(abstract.connections(), 1, 'only the control connection arrived');
    } finally {
      await close(abstract.server);
    }
  });

  it('raw, packet, netlink and other non-unix sockets cannot even be created', async () => {
    const script = `
import errno, socket
for name, family, type_ in [('inet-raw', socket.AF_INET, socket.SOCK_RAW), ('inet6-dgram', socket.AF_INET6, socket.SOCK_DGRAM),
                            ('packet', socket.AF_PACKET, socket.SOCK_RAW), ('netlink', socket.AF_NETLINK, socket.SOCK_RAW),
                            ('vsock', 40, socket.SOCK_STREAM), ('unix', socket.AF_UNIX, socket.SOCK_STREAM)]:
    try:
        socket.socket(family, type_).close()
        print(name, 'created')
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
`;
    const result = await run({ argv: [PYTHON, '-c', script] });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(
      result.stdout,
      'inet-raw EAFNOSUPPORT\ninet6-dgram EAFNOSUPPORT\npacket EAFNOSUPPORT\nnetlink EAFNOSUPPORT\nvsock EAFNOSUPPORT\nunix created\n',
    );
  });

  it('inside, loopback is down and there is no other interface', async () => {
    const script = 'cat /proc/net/dev; echo ==; cat /proc/net/if_inet6; echo ==; cat /proc/net/fib_trie';
    const result = await run({ argv: ['/bin/sh', '-c', script] });
    assert.equal(result.status, 'ok', result.stderr);
    const [dev = '', inet6 = '', trie = ''] = result.stdout.split('==\n');
    const interfaces = dev.split('\n').flatMap((line) => /^\s*([^\s:]+):/.exec(line)?.[1] ?? []);
    assert.deepEqual(interfaces, ['lo'], 'only the namespace loopback exists');
    assert.equal(inet6, '', 'no IPv6 address (not even ::1): loopback is down');
    assert.equal(trie, '', 'no IPv4 address (not even 127.0.0.1): loopback is down');
  });
});
