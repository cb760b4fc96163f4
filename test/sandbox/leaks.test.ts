// Leaks: 200 runs, sequential and 4 at a time, through every way a run can end
// (ok, runtime error, each limit, a violation, a setup failure), must leave
// nothing behind: no cgroup, no process, no fd or thread in this process, no
// mount on the host, no file in the host's temp dirs.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { cpus } from 'node:os';
import { describe, it } from 'node:test';
import { run } from '../../sandbox/run.js';
import type { RunSpec, RunStatus } from '../../sandbox/schema.js';
import { PYTHON, uniqueToken } from '../helpers/fixtures.js';
import { listDir, OWNER_ENV, UID_BASE } from '../helpers/host.js';
import { assertNothingLeft, snapshot } from '../helpers/leaks.js';

const token = uniqueToken('leak');
const TEMP_DIRS = ['/tmp', '/var/tmp', '/dev/shm'];
// What the sandbox builds in its staging dir (the mount namespace's /tmp): any of
// these appearing in a host temp dir would be the staging root leaking out.
const STAGING_NAMES = new Set(['box', 'proc', 'dev', 'etc', 'usr', 'bin', 'lib', 'lib64', 'sbin', 'work', 'tmp']);

interface Case {
  name: string;
  spec: RunSpec;
  status: RunStatus;
  check?: (stdout: string) => boolean;
}

const CASES: Case[] = [
  {
    name: 'writes to /box and /tmp',
    spec: { argv: ['/bin/sh', '-c', 'echo "$1" > /tmp/"$1"; echo "$1" > /box/"$1"; cat /tmp/"$1"', 'sh', token] },
    status: 'ok',
    check: (stdout) => stdout === `${token}\n`,
  },
  { name: 'exits 1', spec: { argv: ['/bin/false'] }, status: 'runtime_error' },
  { name: 'no such program', spec: { argv: ['/no/such/program'] }, status: 'internal_error' },
  { name: 'output flood', spec: { argv: ['yes'], limits: { outputKb: 4 } }, status: 'output_limit' },
  { name: 'cpu spin', spec: { argv: ['/bin/sh', '-c', 'while :; do :; done'], limits: { cpuMs: 20 } }, status: 'time_limit' },
  { name: 'sleeps', spec: { argv: ['sleep', '5'], limits: { wallMs: 20 } }, status: 'wall_time_limit' },
  {
    name: 'fills memory through tmpfs',
    spec: { argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=/box/big bs=1M count=64'], limits: { memoryKb: 8192 } },
    status: 'memory_limit',
  },
  { name: 'pinned to cpu 0', spec: { argv: ['/bin/true'], cpus: '0' }, status: 'ok' },
  // A valid spec the host cannot honour: the cgroup setup fails half-way.
  { name: 'pinned to a missing cpu', spec: { argv: ['/bin/true'], cpus: String(cpus().length + 8) }, status: 'internal_error' },
  {
    name: 'stdin and copied-in files',
    spec: { argv: ['/bin/sh', '-c', 'cat; cat data'], stdin: { text: 'in\n' }, files: [{ path: 'data', content: 'file\n' }] },
    status: 'ok',
    check: (stdout) => stdout === 'in\nfile\n',
  },
  {
    name: 'leaves a daemon',
    spec: { argv: ['/bin/sh', '-c', 'setsid sh -c "sleep 30 &" </dev/null >/dev/null 2>&1; echo left'] },
    status: 'ok',
    check: (stdout) => stdout === 'left\n',
  },
];
const VIOLATION: Case = {
  name: 'mount(2)',
  spec: { argv: [PYTHON, '-c', 'import ctypes; ctypes.CDLL(None).syscall(165, 0, 0, 0, 0, 0)'] },
  status: 'security_violation',
};

// Case i of 200: every kind often, the (slower) python violation every 10th run.
const caseFor = (i: number): Case => (i % 10 === 9 ? VIOLATION : (CASES[i % CASES.length] as Case));

async function runCase(c: Case, i: number): Promise<void> {
  const result = await run({ ...c.spec, env: { ...c.spec.env, ...OWNER_ENV } });
  assert.equal(result.status, c.status, `run ${i} (${c.name}): ${result.status} ${JSON.stringify(result.error)} ${result.stderr}`);
  if (c.check) assert.ok(c.check(result.stdout), `run ${i} (${c.name}): stdout ${JSON.stringify(result.stdout)}`);
}

// Entries of the host temp dirs that the sandbox could have made: named like
// the staging skeleton or the test's token, or owned by a sandbox uid.
function suspectTempEntries(): string[] {
  const suspects: string[] = [];
  for (const dir of TEMP_DIRS) {
    for (const name of listDir(dir)) {
      const path = `${dir}/${name}`;
      let uid = 0;
      try {
        uid = statSync(path).uid;
      } catch {
        continue;
      }
      if (STAGING_NAMES.has(name) || name.includes(token) || uid >= UID_BASE) suspects.push(path);
    }
  }
  return suspects;
}

describe('leaks', () => {
  it('200 runs, sequential and 4 at a time, leave nothing behind', async () => {
    // Warm up: 4 runs that surely overlap create the 4 user namespace slots (each
    // keeps an fd for the life of the process, by design: slots are reused)
    // before the baseline is taken.
    const overlapping = await Promise.all([0, 1, 2, 3].map(() => run({ argv: ['sleep', '0.3'], env: OWNER_ENV })));
    for (const result of overlapping) assert.equal(result.status, 'ok');
    const suspectsBefore = suspectTempEntries();
    const before = snapshot();

    const sequential = 120;
    for (let i = 0; i < sequential; i++) await runCase(caseFor(i), i);
    for (let i = sequential; i < 200; i += 4) {
      await Promise.all([i, i + 1, i + 2, i + 3].map((j) => runCase(caseFor(j), j)));
    }

    await assertNothingLeft(before);
    assert.deepEqual(suspectTempEntries(), suspectsBefore, 'files left in the host temp dirs');
  });
});
