// Host-side observations the tests make before, during and after runs: which
// processes run under the sandbox's host uids, which cgroups, fds, threads and
// mounts exist, what the temp dirs hold. Read straight from /proc and /sys, never
// from the sandbox's own bookkeeping, so a test can catch the sandbox lying.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

// The first host uid a sandbox slot maps (README: 1500000000 + 2*slot + 1 for the
// program, + 2*slot for init). Nothing on the host owns a uid at or above it.
export const UID_BASE = 1_500_000_000;

export interface HostProcess {
  pid: number;
  ppid: number;
  name: string;
  uids: number[];
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // the process exited while we looked
  }
}

export function hostProcesses(): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const status = readOrEmpty(`/proc/${entry}/status`);
    const uidLine = /^Uid:\s+(.+)$/m.exec(status)?.[1];
    if (uidLine === undefined) continue;
    found.push({
      pid: Number(entry),
      ppid: Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1] ?? 0),
      name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?',
      uids: uidLine.trim().split(/\s+/).map(Number),
    });
  }
  return found;
}

// Every run in a test that looks for leftover processes passes this in its env,
// so that a process of ours is recognised even if it were no longer below us.
export const OWNER_ENV = { CELLBLOCK_TEST_OWNER: String(process.pid) };
const OWNER_MARK = `CELLBLOCK_TEST_OWNER=${process.pid}`;

// Processes on the host running under the sandbox's host uids (any of real,
// effective, saved, fs uid at or above the range's base) that are ours: below
// this test process (init is its child, everything else init's descendant) or
// marked with OWNER_ENV. Other processes on this host may run sandboxes of their
// own at the same time, under the same uids: those are not ours.
export function sandboxUidProcesses(base = UID_BASE): HostProcess[] {
  const all = hostProcesses();
  const parent = new Map(all.map((p) => [p.pid, p.ppid]));
  const below = (pid: number): boolean => {
    for (let at = parent.get(pid), hops = 0; at !== undefined && at > 1 && hops < 1000; at = parent.get(at), hops++) {
      if (at === process.pid) return true;
    }
    return false;
  };
  const marked = (pid: number): boolean => readOrEmpty(`/proc/${pid}/environ`).split('\0').includes(OWNER_MARK);
  return all.filter((p) => p.uids.some((uid) => uid >= base) && (below(p.pid) || marked(p.pid)));
}

export const CGROUP_V1_ROOT = '/sys/fs/cgroup';
export const CGROUP_CONTROLLERS = ['memory', 'pids', 'cpuacct', 'cpuset'] as const;

// Sub-directories (cgroups) under each controller's cellblock/ parent: only the
// control files should be there between runs.
export function cellblockCgroups(): string[] {
  const dirs: string[] = [];
  for (const controller of CGROUP_CONTROLLERS) {
    const parent = `${CGROUP_V1_ROOT}/${controller}/cellblock`;
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue; // no cellblock parent in this hierarchy (yet)
    }
    for (const entry of entries) {
      if (statSync(`${parent}/${entry}`).isDirectory()) dirs.push(`${controller}/cellblock/${entry}`);
    }
  }
  return dirs;
}

// The run cgroups this process made right now (named run-<pid>-<seq>), per controller.
export function ownRunCgroups(controller: (typeof CGROUP_CONTROLLERS)[number]): string[] {
  const parent = `${CGROUP_V1_ROOT}/${controller}/cellblock`;
  try {
    return readdirSync(parent)
      .filter((name) => name.startsWith(`run-${process.pid}-`))
      .map((name) => `${parent}/${name}`);
  } catch {
    return [];
  }
}

export function readNumber(path: string): number | undefined {
  const text = readOrEmpty(path).trim();
  return text === '' ? undefined : Number(text);
}

// This process's open fds, each with what it points to (for a useful diff).
export function openFds(): Map<string, string> {
  const fds = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the fd readdir itself used, closed by now
    }
  }
  return fds;
}

export const threadCount = (): number => readdirSync('/proc/self/task').length;

export const mountInfo = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

export function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

// Polls `sample` every `everyMs` until `stop` resolves; returns what was sampled.
export async function sampleWhile<T>(stop: Promise<unknown>, everyMs: number, sample: () => T): Promise<T[]> {
  const samples: T[] = [];
  let done = false;
  const finished = stop.finally(() => {
    done = true;
  });
  while (!done) {
    samples.push(sample());
    await Promise.race([delay(everyMs), finished]);
  }
  samples.push(sample());
  return samples;
}

// Waits until `check` holds (the kernel finishes some teardown asynchronously,
// e.g. a thread's exit after its last callback), up to `timeoutMs`.
export async function eventually(check: () => boolean, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(20);
  }
  return true;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
