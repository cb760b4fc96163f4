// What a run may leave behind in the Node process and on the host, captured
// before and compared after: fds, threads, mounts, cgroups, processes.
import assert from 'node:assert/strict';
import { releaseWarmSandboxes } from '../../sandbox/run.js';
import {
  childrenOf,
  eventually,
  type HostProcess,
  mountInfo,
  openFds,
  runCgroupsOf,
  sandboxUidProcesses,
  threadCount,
} from './host.js';

export interface Snapshot {
  fds: Map<string, string>;
  threads: number;
  mounts: string;
  children: HostProcess[];
}

// Sandboxes built ahead of their runs are not leaks: both sides are taken
// without them.
export function snapshot(): Snapshot {
  releaseWarmSandboxes();
  return { fds: ownFds(), threads: threadCount(), mounts: mountInfo(), children: childrenOf() };
}

const describeFds = (fds: Map<string, string>): string => [...fds].map(([fd, target]) => `${fd}->${target}`).join(', ');

// The addon keeps a few fresh network namespaces ready (native/netns.cc), refilled
// in the background, and each slot it has ever used (a user namespace and a lock
// file; more slots when more sandboxes were built at once): their fds are not a run's.
const SLOT_FDS = ['net:[', 'user:[', '/run/cellblock/slots/'];
const ownFds = (): Map<string, string> =>
  new Map([...openFds()].filter(([, target]) => !SLOT_FDS.some((prefix) => target.startsWith(prefix))));

export async function assertNothingLeft(before: Snapshot): Promise<void> {
  releaseWarmSandboxes();
  // The run cgroups of this process, in every hierarchy.
  assert.deepEqual(runCgroupsOf(), [], 'run cgroups left behind');
  // Processes under the sandbox uids, and any new child (a zombie init or
  // namespace holder would show up here).
  assert.deepEqual(sandboxUidProcesses(), [], 'sandbox processes left running');
  // (the pool's namespace holders live for microseconds: give them a moment)
  const newChildren = () => childrenOf().filter((child) => !before.children.some((old) => old.pid === child.pid));
  await eventually(() => newChildren().length === 0);
  assert.deepEqual(newChildren(), [], 'children of the test process left behind');
  // No mount appeared or vanished in the host's mount namespace.
  assert.equal(mountInfo(), before.mounts, 'the host mount table changed');
  // Exactly the same fds (the slots' user namespaces aside, see ownFds).
  const fds = ownFds();
  assert.equal(fds.size, before.fds.size, `fds before: ${describeFds(before.fds)}\nfds after: ${describeFds(fds)}`);
  // Each run has a supervisor thread, which exits just after handing its result
  // over, so it may still be on its way out when the promise settles.
  const settled = await eventually(() => threadCount() <= before.threads);
  assert.ok(settled, `threads: ${before.threads} before, ${threadCount()} after`);
}
