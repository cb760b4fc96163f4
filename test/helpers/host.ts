// Host-side observations the tests make before, during and after runs: which
// processes run under the sandbox's host uids, which cgroups, fds, threads and
// mounts exist, what the temp dirs hold. Read straight from /proc and /sys, never
// from the sandbox's own bookkeeping, so a test can catch the sandbox lying.
import { type Dirent, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { releaseWarmSandboxes } from '../../sandbox/run.js';

// The first host uid a sandbox slot maps (the addon's default base: init of slot
// n runs as base + 2n, its program as base + 2n + 1). Nothing on the host owns a
// uid at or above it.
export const UID_BASE = 1_500_000_000;

export interface HostProcess {
  pid: number;
  ppid: number;
  name: string;
  uids: number[];
}

// A /proc or cgroup file, or '' if it is gone (its process exited, its cgroup
// was removed while we looked).
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function hostProcesses(): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const status = readText(`/proc/${entry}/status`);
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

// Processes on the host running under the sandbox's host uids (any of real,
// effective, saved, fs uid at or above the range's base) that are `owner`'s: below
// it, by default this test process (init is its child, everything else init's descendant) or
// marked with OWNER_ENV. Other processes on this host may run sandboxes of their
// own at the same time, under the same uids: those are not ours.
// Sandboxes built ahead of their runs (native/warm.cc) are dropped first: their
// inits and waiting programs are no run's leftovers.
export function sandboxUidProcesses(owner = process.pid): HostProcess[] {
  releaseWarmSandboxes();
  const all = hostProcesses();
  const parent = new Map(all.map((p) => [p.pid, p.ppid]));
  const below = (pid: number): boolean => {
    for (let at = parent.get(pid), hops = 0; at !== undefined && at > 1 && hops < 1000; at = parent.get(at), hops++) {
      if (at === owner) return true;
    }
    return false;
  };
  const mark = `CELLBLOCK_TEST_OWNER=${owner}`;
  const marked = (pid: number): boolean => readText(`/proc/${pid}/environ`).split('\0').includes(mark);
  return all.filter((p) => p.uids.some((uid) => uid >= UID_BASE) && (below(p.pid) || marked(p.pid)));
}

export const CGROUP_V1_ROOT = '/sys/fs/cgroup';
export const CGROUP_CONTROLLERS = ['memory', 'pids', 'cpuacct', 'cpuset'] as const;
export type Controller = (typeof CGROUP_CONTROLLERS)[number];

// Run cgroups are named run-<pid of the Node process>-<sequence>, one per
// controller: the ones `owner` made that exist right now (other processes on the
// host may have runs of their own going on).
export function runCgroupsOf(owner = process.pid, controllers: readonly Controller[] = CGROUP_CONTROLLERS): string[] {
  const dirs: string[] = [];
  for (const controller of controllers) {
    const parent = `${CGROUP_V1_ROOT}/${controller}/cellblock`;
    let entries: Dirent[];
    try {
      entries = readdirSync(parent, { withFileTypes: true });
    } catch {
      continue; // no cellblock parent in this hierarchy (yet)
    }
    for (const entry of entries) {
      if (entry.isDirectory() && entry.name.startsWith(`run-${owner}-`)) dirs.push(`${parent}/${entry.name}`);
    }
  }
  return dirs;
}

export function readNumber(path: string): number | undefined {
  const text = readText(path).trim();
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

// Running, not just not reaped yet: a killed child stays a zombie until its
// parent waits for it, and kill(pid, 0) succeeds on zombies.
export function isAlive(pid: number): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return stat !== '' && state !== 'Z' && state !== 'X';
}

// SIGKILLs those of `pids` still alive; one that dies between the check and the
// signal is no error.
export function killAlive(pids: number[]): void {
  for (const pid of pids.filter(isAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

// Direct children of `ppid` (by default this test process), zombies included.
export function childrenOf(ppid = process.pid): HostProcess[] {
  return hostProcesses().filter((p) => p.ppid === ppid);
}
