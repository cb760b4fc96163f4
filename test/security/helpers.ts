// Shared by the security suite: runs marked as ours, attack programs compiled on
// the host, and the host-side witnesses each attack is judged by — listeners
// that count what reached them, secrets whose access time betrays a read, and
// the before/after snapshot that proves nothing was left behind.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chmodSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { run, type RunOptions } from '../../sandbox/run.js';
import type { RunResult, RunSpec } from '../../sandbox/schema.js';
import { compileStatic, uniqueToken } from '../helpers/fixtures.js';
import { OWNER_ENV, sandboxUidProcesses } from '../helpers/host.js';
import { assertNothingLeft, type Snapshot, snapshot } from '../helpers/leaks.js';

// Every run of the suite carries OWNER_ENV, so a process of ours is recognised on
// the host even if it escaped from below this test process.
export function sandbox(spec: RunSpec, options: RunOptions = {}): Promise<RunResult> {
  return run({ ...spec, env: { ...spec.env, ...OWNER_ENV } }, options);
}

// Included in every attack program: report() prints "<what> ok <rc>" or
// "<what> <ERRNO NAME>" and flushes at once (a violation ends the run in the
// middle of the program; what it printed before is the evidence).
const PRELUDE = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
static long report(const char* what, long rc) {
  const char* err = rc < 0 ? strerrorname_np(errno) : NULL;
  if (err) printf("%s %s\\n", what, err);
  else printf("%s ok %ld\\n", what, rc);
  fflush(stdout);
  return rc;
}
static void say(const char* line) { printf("%s\\n", line); fflush(stdout); }
// Opens and reads each path; what it read is printed (so a leak shows).
__attribute__((unused)) static int read_paths(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    int fd = report(argv[i], open(argv[i], O_RDONLY));
    if (fd < 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("%s:content %s\\n", argv[i], buf);
    close(fd);
  }
  return 0;
}
#define ATTACK(name) if (argc > 1 && strcmp(argv[1], #name) == 0) return name(argc - 2, argv + 2)
`;

// A static attack program: `source` defines its attacks and a main() that
// dispatches with ATTACK(name). Returns the host path of the binary.
export function compileAttacks(dir: string, name: string, source: string, flags: string[] = []): string {
  return compileStatic(dir, name, PRELUDE + source, flags);
}

// "<key> <value...>" lines into a map (keys are unique per program).
export function outcomes(stdout: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    map.set(space < 0 ? line : line.slice(0, space), space < 0 ? '' : line.slice(space + 1));
  }
  return map;
}

const describeRun = (result: RunResult): string =>
  `${result.status} exit=${result.exitCode} signal=${result.signalName} syscall=${result.syscall ?? '-'} error=${JSON.stringify(result.error)}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;

export function assertStatus(result: RunResult, status: RunResult['status']): void {
  assert.equal(result.status, status, describeRun(result));
}

// A never-legitimate syscall: the run is stopped at the call, which never
// returns to the program, and the result names it.
export function assertViolation(result: RunResult, syscall: string, printedBefore: string): void {
  assertStatus(result, 'security_violation');
  assert.equal(result.syscall, syscall, describeRun(result));
  assert.equal(result.signalName, 'SIGKILL');
  assert.equal(result.exitCode, null);
  assert.equal(result.stdout, printedBefore, 'the call returned to the program, or the program did not get there');
}

// -- Sandboxes reused between runs -----------------------------------------------

// C for attack programs (after the prelude): mark(burn) prints which sandbox
// the run is in, "sandbox <device of its tmpfs> <inode number a new file gets
// there>": tmpfs counts them up, so a sandbox used before gives higher ones. An
// attack starts by taking <burn> more, so that a run in a new sandbox whose
// tmpfs got the same device number is never taken for one in the attack's.
export const SANDBOX_MARK = String.raw`
static void mark(int burn) {
  struct stat box, probe;
  int fd = -1;
  for (int i = 0; i <= burn; i++) {
    if (fd >= 0) close(fd);
    unlink("/tmp/.probe");
    fd = open("/tmp/.probe", O_CREAT | O_WRONLY | O_EXCL, 0600);
  }
  if (stat("/box", &box) != 0 || fd < 0 || fstat(fd, &probe) != 0) { say("mark failed"); exit(3); }
  close(fd);
  unlink("/tmp/.probe");
  printf("sandbox %lu %lu\n", (unsigned long)box.st_dev, (unsigned long)probe.st_ino);
  fflush(stdout);
}
`;

// C main() of a look-or-attack program (after SANDBOX_MARK and the file's own
// before_mark(), look() and attack()): "look <args>" marks and looks, anything
// else takes <burn> inode numbers and attacks, the last thing its run does.
export const LOOK_OR_ATTACK_MAIN = String.raw`
int main(int argc, char** argv) {
  before_mark();
  if (argc > 1 && strcmp(argv[1], "look") == 0) {
    mark(0);
    return look(argc - 2, argv + 2);
  }
  mark(100);
  return attack(argc, argv);
}
`;

export interface SandboxMark {
  dev: string;
  ino: number;
}

export const markOf = (result: RunResult): SandboxMark => {
  const [dev, ino] = (outcomes(result.stdout).get('sandbox') ?? '').split(' ');
  assert.ok(dev !== undefined && ino !== undefined, `no mark: ${result.stdout}`);
  return { dev, ino: Number(ino) };
};

// B ran in A's sandbox: the same tmpfs, counting on from A's inode numbers.
export const sameSandbox = (a: SandboxMark, b: SandboxMark): boolean => a.dev === b.dev && b.ino > a.ino;

// -- Host secrets --------------------------------------------------------------

// A file planted on the host whose access time is set far in the past: with
// relatime (the host's root filesystem), any read moves it to now, so a read
// from anywhere — through any bind, link or handle — is visible afterwards.
export interface Secret {
  path: string;
  token: string;
  atimeMs: number;
}

const LONG_AGO = new Date('2001-01-01T00:00:00Z');

export function plantSecret(path: string, mode: number): Secret {
  const token = uniqueToken('secret');
  writeFileSync(path, `${token}\n`, { mode });
  chmodSync(path, mode); // the umask may have narrowed it
  utimesSync(path, LONG_AGO, LONG_AGO);
  return { path, token, atimeMs: statSync(path).atimeMs };
}

export const wasRead = (secret: Secret): boolean => statSync(secret.path).atimeMs !== secret.atimeMs;

// Control: a read on the host does move the access time (so "not moved" means
// "not read"); the witness is re-armed afterwards.
export function assertAtimeWitnessWorks(secret: Secret): void {
  assert.equal(wasRead(secret), false, `${secret.path} was read before the test`);
  assert.equal(readFileSync(secret.path, 'utf8'), `${secret.token}\n`);
  assert.equal(wasRead(secret), true, 'control: a host read does not move the access time (noatime?)');
  utimesSync(secret.path, LONG_AGO, LONG_AGO);
  assert.equal(wasRead(secret), false);
}

export function assertSecretsSafe(secrets: Secret[], ...results: RunResult[]): void {
  for (const secret of secrets) {
    for (const result of results) {
      const seen = [result.stdout, result.stderr, ...(result.files ?? []).map((file) => Buffer.from(file.data).toString('latin1'))];
      assert.ok(!seen.some((text) => text.includes(secret.token)), `the content of ${secret.path} came out of the sandbox`);
    }
    assert.equal(wasRead(secret), false, `${secret.path} was read on the host (its access time moved)`);
  }
}

export const removeSecrets = (secrets: Secret[]): void => {
  for (const secret of secrets) rmSync(secret.path, { force: true });
};

// -- Listeners -----------------------------------------------------------------

export interface StreamListener {
  server: Server;
  address: string; // host for TCP, path (leading NUL for abstract) for unix
  port: number; // 0 for unix
  connections: () => number;
  close: () => Promise<void>;
}

export async function streamListener(at: { host: string } | { path: string }): Promise<StreamListener> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in at) server.listen(at.path, resolve);
    else server.listen(0, at.host, resolve);
  });
  const port = 'path' in at ? 0 : (server.address() as AddressInfo).port;
  return {
    server,
    address: 'path' in at ? at.path : at.host,
    port,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// Control: a connection from the host itself is counted.
export async function assertStreamListenerCounts(listener: StreamListener): Promise<void> {
  const before = listener.connections();
  await new Promise<void>((resolve, reject) => {
    const socket = listener.port === 0 ? connect(listener.address) : connect(listener.port, listener.address);
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
  const counted = await waitFor(() => listener.connections() === before + 1);
  assert.ok(counted, 'control: the listener did not count a connection from the host');
}

export interface DatagramListener {
  socket: UdpSocket;
  host: string;
  port: number;
  received: string[];
  close: () => Promise<void>;
}

export async function datagramListener(host: '127.0.0.1' | '::1'): Promise<DatagramListener> {
  const socket = createSocket(host === '::1' ? 'udp6' : 'udp4');
  const received: string[] = [];
  socket.on('message', (message) => received.push(message.toString('latin1')));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    socket,
    host,
    port: socket.address().port,
    received,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export async function assertDatagramListenerCounts(listener: DatagramListener): Promise<void> {
  const before = listener.received.length;
  const sender = createSocket(listener.host === '::1' ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) =>
    sender.send('control', listener.port, listener.host, (error) => (error ? reject(error) : resolve())),
  );
  sender.close();
  const counted = await waitFor(() => listener.received.length === before + 1);
  assert.ok(counted, 'control: the listener did not receive a datagram from the host');
}

// -- Time and baseline ---------------------------------------------------------

export async function waitFor(check: () => boolean, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(10);
  }
  return true;
}

// Warm up `parallel` user namespace slots (each keeps its fds for the life of
// the process, by design), then take the snapshot the file ends with.
export async function baseline(parallel = 2): Promise<Snapshot> {
  const warm = await Promise.all(Array.from({ length: parallel }, () => sandbox({ argv: ['sleep', '0.2'] })));
  for (const result of warm) assertStatus(result, 'ok');
  return snapshot();
}

// Nothing of ours left: no process under the sandbox uids below us or marked as
// ours, no run cgroup, no new child, fd, thread or mount.
export async function assertNothingLeftBehind(before: Snapshot): Promise<void> {
  assert.deepEqual(sandboxUidProcesses(), [], 'sandbox processes left running');
  await assertNothingLeft(before);
}

export { OWNER_ENV };
