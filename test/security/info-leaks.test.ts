// Information leaks: host paths in the mount table, the host's name, the
// worker's environment (and /proc/1/environ: init's is Node's), host accounts,
// cgroup names (which carry the worker's pid), and other runs' files — runs at
// the same time (synchronised through a pipe, so the second looks while the
// first's marker surely exists) and runs that came before.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { closeSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openPipe } from '../../sandbox/run.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import type { Snapshot } from '../helpers/leaks.js';
import { assertNothingLeftBehind, assertStatus, baseline, compileAttacks, outcomes, sandbox } from './helpers.js';

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

const parseMountInfo = (text: string): Mount[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [before = '', after = ''] = line.split(' - ');
      const fields = before.split(' ');
      const [fsType = '', source = ''] = after.split(' ');
      return { root: fields[3] ?? '', mountPoint: fields[4] ?? '', fsType, source };
    });

// Looks for a marker by name and content everywhere the program can look.
const SEARCH = `
import os, sys
name, content = sys.argv[1], sys.argv[2]
found = []
for top in ['/box', '/tmp', '/proc']:
    for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: None):
        if top == '/proc' and dirpath.count('/') > 3:
            dirnames[:] = []
        for f in filenames + dirnames:
            if name in f:
                found.append(os.path.join(dirpath, f))
for top in ['/box', '/tmp']:
    for dirpath, _, filenames in os.walk(top):
        for f in filenames:
            try:
                if content in open(os.path.join(dirpath, f), errors='replace').read():
                    found.append('content:' + os.path.join(dirpath, f))
            except OSError:
                pass
print('found', len(found), ' '.join(found))
print('box', sorted(os.listdir('/box')))
print('tmp', sorted(os.listdir('/tmp')))
`;

// Reads /proc/net/unix for an abstract name, then connects to it.
const LOOK = `
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char** argv) {
  static char table[1 << 16];
  int fd = open("/proc/net/unix", O_RDONLY);
  ssize_t n = read(fd, table, sizeof table - 1);
  table[n > 0 ? n : 0] = 0;
  printf("listed %s\\n", strstr(table, argv[1]) ? "yes" : "no");
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  strncpy(un.sun_path + 1, argv[1], sizeof un.sun_path - 2);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  report("connect", connect(s, (struct sockaddr*)&un, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[1])));
  return 0;
}
`;

describe('security: information leaks', () => {
  let fixtures: string;
  let look: string;
  let start: Snapshot;

  before(async () => {
    fixtures = makeFixtureDir();
    look = compileAttacks(fixtures, 'look', LOOK);
    start = await baseline(3);
  });

  after(() => removeFixtureDir(fixtures));

  it('the mount table inside shows no host path that is not the same path inside', async () => {
    const bound = join(fixtures, 'bound');
    mkdirSync(bound, { mode: 0o755 });
    const result = await sandbox({ argv: ['/bin/cat', '/proc/self/mountinfo'], readOnly: [bound] });
    assertStatus(result, 'ok');
    const mounts = parseMountInfo(result.stdout);
    assert.ok(mounts.length > 10, `control: the mount table was read (${mounts.length} mounts)`);
    // Binds of host filesystems: what is bound is where it is bound.
    const hostFs = mounts.filter((m) => m.source.startsWith('/dev/') && m.fsType !== 'devtmpfs');
    assert.ok(hostFs.some((m) => m.mountPoint === bound && m.root === bound), `control: ${bound} is bound`);
    for (const mount of hostFs) assert.equal(mount.root, mount.mountPoint, `host path ${mount.root} shown at ${mount.mountPoint}`);
    // Nothing names the staging dir, the slot locks, the fixture parent beyond the bound dir, Node.
    for (const leak of ['/run/cellblock', 'cellblock/root', '/var/tmp', process.execPath, '/work/']) {
      const lines = result.stdout.split('\n').filter((line) => line.includes(leak) && !line.includes(bound));
      assert.deepEqual(lines, [], `${leak} appears inside`);
    }
  });

  it("the host's name is not visible: uname, /proc/sys, /etc/hostname all say cellblock", async () => {
    const host = hostname();
    assert.notEqual(host, 'cellblock', 'control: this host has a name of its own');
    const script = 'uname -n; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname /etc/hostname; hostname; cat /etc/hosts';
    const result = await sandbox({ argv: ['/bin/sh', '-c', script] });
    assertStatus(result, 'ok');
    assert.equal(result.stdout.split('\n').slice(0, 5).join('\n'), 'cellblock\ncellblock\ncellblock\ncellblock\ncellblock');
    assert.ok(!new RegExp(`\\b${host}\\b`).test(result.stdout), `the host name ${host} is visible inside`);
  });

  it("the worker's environment is not visible: not in env, not in any /proc/*/environ; /proc/1/environ is unreadable", async () => {
    const name = `CELLBLOCK_SECRET_${process.pid}`;
    const value = uniqueToken('env');
    process.env[name] = value;
    try {
      const script = `
import os, sys
name, value = sys.argv[1], sys.argv[2]
print('env', name in os.environ or any(value in v for v in os.environ.values()))
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self', '1']:
    try:
        data = open('/proc/%s/environ' % pid, 'rb').read()
        print('environ', pid, 'leak' if value.encode() in data or name.encode() in data else 'clean')
    except OSError as e:
        print('environ', pid, e.strerror)
`;
      const result = await sandbox({ argv: [PYTHON, '-c', script, name, value] });
      assertStatus(result, 'ok');
      assert.ok(!result.stdout.includes('leak') && !result.stdout.includes('True'), result.stdout);
      assert.match(result.stdout, /^env False\n/);
      assert.match(result.stdout, /^environ self clean$/m, 'control: its own environ was read');
      assert.match(result.stdout, /^environ 1 No such file or directory$/m);
      const env = await sandbox({ argv: ['/usr/bin/env'] });
      assertStatus(env, 'ok');
      assert.ok(!env.stdout.includes(value) && !env.stdout.includes(name));
    } finally {
      delete process.env[name];
    }
  });

  it("the host's accounts, its cgroup names and the worker's pid are not visible", async () => {
    const hostUsers = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':')[0] ?? '')
      .filter((user) => user !== '' && !['root', 'nobody'].includes(user));
    const script = 'cat /etc/passwd /etc/group; echo ==; cat /proc/self/cgroup /proc/self/cpuset; echo ==; cat /proc/self/status /proc/self/stat';
    const result = await sandbox({ argv: ['/bin/sh', '-c', script] });
    assertStatus(result, 'ok');
    const [accounts = '', cgroups = '', status = ''] = result.stdout.split('==\n');
    for (const user of hostUsers) assert.ok(!new RegExp(`^${user}:`, 'm').test(accounts), `host user ${user} is listed inside`);
    assert.match(accounts, /^box:x:1000:1000:/m, 'control: the generated passwd was read');
    assert.ok(!cgroups.includes('cellblock') && !cgroups.includes(`run-${process.pid}`), cgroups);
    for (const line of cgroups.trim().split('\n')) assert.match(line, /:\/$|^\/$/, `cgroup path shown: ${line}`);
    assert.ok(!new RegExp(`\\b${process.pid}\\b`).test(status), "the worker's pid appears in the program's status");
  });

  it('a run does not see the files of a run going on at the same time', async () => {
    const marker = uniqueToken('concurrent');
    const pipe = openPipe();
    // A writes its markers, then says so on the pipe and stays alive; B waits
    // for that line before it looks, so the markers surely exist meanwhile.
    const writer = sandbox({
      argv: ['/bin/sh', '-c', 'echo "$1" > "/tmp/$1"; echo "$1" > "/box/$1"; mkdir "/tmp/$1.d"; echo written; sleep 1', 'sh', marker],
      stdoutFd: pipe.write,
      limits: { wallMs: 5_000 },
    });
    const reader = sandbox({
      argv: ['/bin/sh', '-c', 'read line; echo "A said: $line"; exec "$0" -c "$1" "$2" "$2"', PYTHON, SEARCH, marker],
      stdin: { fd: pipe.read },
      limits: { wallMs: 5_000 },
    });
    // both runs have started; they own their ends now
    closeSync(pipe.read);
    closeSync(pipe.write);
    const [a, b] = await Promise.all([writer, reader]);
    assertStatus(a, 'ok');
    assertStatus(b, 'ok');
    const seen = outcomes(b.stdout);
    assert.equal(seen.get('A'), 'said: written', 'control: B looked while A was running, after A wrote');
    assert.equal(seen.get('found'), '0 ', `B found A's marker: ${b.stdout}`);
    assert.equal(seen.get('box'), '[]');
    assert.equal(seen.get('tmp'), '[]');
  });

  it('a later run does not see an earlier run\'s files, in the same slot and in others', async () => {
    const marker = uniqueToken('earlier');
    const writers = await Promise.all(
      [0, 1, 2].map(() => sandbox({ argv: ['/bin/sh', '-c', 'echo "$1" > "/tmp/$1"; echo "$1" > "/box/$1"; ls /tmp /box', 'sh', marker] })),
    );
    for (const writer of writers) {
      assertStatus(writer, 'ok');
      assert.equal(writer.stdout, `/box:\n${marker}\n\n/tmp:\n${marker}\n`, 'control: the marker was written');
    }
    const readers = await Promise.all([0, 1, 2].map(() => sandbox({ argv: [PYTHON, '-c', SEARCH, marker, marker] })));
    for (const reader of readers) {
      assertStatus(reader, 'ok');
      assert.equal(reader.stdout, "found 0 \nbox []\ntmp []\n");
    }
  });

  // Runs of a slot share its network namespace (one at a time). A unix socket
  // kept alive in flight (an SCM_RIGHTS cycle nobody can receive any more)
  // outlives its run until the kernel's unix garbage collector gets to it.
  it("the next run (same slot) sees no unix socket an earlier run left in flight: not in /proc/net/unix, not by connect", async () => {
    const name = uniqueToken('inflight');
    const leave = `
import socket, sys
listener = socket.socket(socket.AF_UNIX)
listener.bind('\\0' + sys.argv[1])
listener.listen()
a, b = socket.socketpair()
socket.send_fds(a, [b'x'], [listener.fileno(), a.fileno()])
socket.send_fds(b, [b'x'], [b.fileno()])
print('left in flight')
`;
    const earlier = await sandbox({ argv: [PYTHON, '-c', leave, name] });
    assertStatus(earlier, 'ok');
    assert.equal(earlier.stdout, 'left in flight\n');
    // a fast static prober: the first thing it does is look
    const later = await sandbox({ argv: ['./look', name], files: [{ path: 'look', source: look }] });
    assertStatus(later, 'ok');
    assert.equal(later.stdout, 'listed no\nconnect ECONNREFUSED\n', "the earlier run's socket is visible to the next run");
  });

  it('leaves nothing behind', async () => {
    await assertNothingLeftBehind(start);
  });
});
