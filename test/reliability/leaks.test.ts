// Leaks over many runs: a worker process judges 500 runs (CI; the soak 5,000),
// then nothing of ours is left — no run cgroup, mount, process, thread, fd,
// slot beyond its slots, temp file — and its resident memory stays flat. Read
// from /proc and /sys, from outside the worker.
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { childrenOf, eventually, runCgroupsOf, sampleWhile } from '../helpers/host.js';
import { aplusb, aplusbTests, asView, call, describeReply, sandboxPidsBelow, type Started, stopAll, tempDir } from '../service/helpers.js';
import { type Deployment, deploy, inPool, ourMounts, percentile, report, rssKb, size } from './harness.js';

const TESTS_PER_SUBMISSION = 5;
const RUNS = size(500, 5_000);
const SLOTS = 2;
// Slots a worker may hold for its life: one per sandbox alive at once — its runs,
// those being torn down, and up to 8 built ahead (native/warm.cc).
const SLOTS_BOUND = 2 * SLOTS + 8;
// the worker's RSS after the runs against after the warm-up
const RSS_GROWTH_BOUND_KB = size(40 * 1024, 60 * 1024);

const threads = (pid: number): number => readdirSync(`/proc/${pid}/task`).length;

// The worker's fds by target, without the addon's pool of ready network
// namespaces (refilled in the background) and its slots' lock files and user
// namespaces (kept for the life of the process).
function fdsOf(pid: number): { fds: string[]; slots: string[] } {
  const fds: string[] = [];
  const slots: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith('/run/cellblock/slots/')) slots.push(target);
    else if (!target.startsWith('net:[') && !target.startsWith('user:[')) fds.push(`${fd}->${target}`);
  }
  return { fds: fds.sort(), slots };
}

// A socket's or pipe's inode changes when it is reopened: compare kinds, not names.
const kinds = (fds: string[]) => fds.map((fd) => fd.replace(/\[\d+\]/, '[]').replace(/^\d+->/, '')).sort();

describe('reliability: nothing left after many runs', () => {
  let deployment: Deployment;
  let worker: Started;
  let tmp: string;

  before(async () => {
    deployment = await deploy();
    tmp = tempDir('cb-rel-tmp-');
    worker = await deployment.startWorker('leaks-worker', SLOTS, { TMPDIR: tmp });
  });

  after(async () => {
    await stopAll();
  });

  async function judgeAll(count: number): Promise<number> {
    const submissions = Array.from({ length: count }, (_, i) => aplusb(aplusbTests(TESTS_PER_SUBMISSION).map((test) => ({ ...test, name: `${test.name}-${i}` }))));
    const verdicts = await inPool(submissions, SLOTS * 2, async (submission) => {
      const reply = await call(deployment.api.url, 'POST', '/v1/submissions?wait=true', { body: submission });
      assert.equal(reply.status, 200, describeReply(reply));
      return asView(reply).verdict;
    });
    return verdicts.filter((verdict) => verdict === 'AC').length;
  }

  it(`${RUNS} runs through a worker: no cgroup, mount, process, fd, slot or temp file left; RSS flat`, async () => {
    // warm-up: the slots' user namespaces, caches, the JIT; then the sandboxes
    // built ahead of runs (native/warm.cc) are given up once the worker is idle
    await judgeAll(8);
    await eventually(() => sandboxPidsBelow(worker.pid).length === 0, 10_000);
    await delay(500);
    const before = { fds: fdsOf(worker.pid), threads: threads(worker.pid), rss: rssKb(worker.pid), mounts: ourMounts() };

    let done = false;
    const judging = judgeAll(RUNS / TESTS_PER_SUBMISSION).finally(() => {
      done = true;
    });
    const samples = await sampleWhile(judging, 500, () => rssKb(worker.pid));
    const accepted = await judging;
    assert.ok(done);

    // runs end asynchronously (a sandbox's thread exits after its result), and
    // the sandboxes built ahead are given up a few seconds after the last run
    await eventually(() => sandboxPidsBelow(worker.pid).length === 0 && threads(worker.pid) <= before.threads, 10_000);
    const after = { fds: fdsOf(worker.pid), threads: threads(worker.pid), rss: rssKb(worker.pid), mounts: ourMounts() };
    const leftovers = {
      cgroups: runCgroupsOf(worker.pid),
      sandboxProcesses: sandboxPidsBelow(worker.pid),
      children: childrenOf(worker.pid).map((child) => `${child.pid} ${child.name}`),
      mounts: after.mounts.filter((line) => !before.mounts.includes(line)),
      tempFiles: readdirSync(tmp),
    };
    const half = Math.floor(samples.length / 2);
    const firstHalf = samples.slice(0, half);
    const secondHalf = samples.slice(half);
    report('leaks', {
      submitted: RUNS,
      completed: accepted * TESTS_PER_SUBMISSION,
      leaked: Object.values(leftovers).reduce((sum, list) => sum + list.length, 0) + Math.max(0, after.fds.fds.length - before.fds.fds.length),
      fdsBefore: before.fds.fds.length,
      fdsAfter: after.fds.fds.length,
      slotsHeld: after.fds.slots.length,
      threadsBefore: before.threads,
      threadsAfter: after.threads,
      rssAfterWarmupKb: before.rss,
      rssFirstHalfMedianKb: percentile(firstHalf, 50),
      rssSecondHalfMedianKb: percentile(secondHalf, 50),
      rssMaxKb: Math.max(...samples),
      rssEndKb: after.rss,
    });
    assert.equal(accepted * TESTS_PER_SUBMISSION, RUNS, 'not every run was AC');
    assert.deepEqual(leftovers, { cgroups: [], sandboxProcesses: [], children: [], mounts: [], tempFiles: [] });
    assert.deepEqual(kinds(after.fds.fds), kinds(before.fds.fds), 'the worker\'s fds changed');
    assert.ok(after.fds.slots.length <= SLOTS_BOUND, `slots held: ${after.fds.slots.join(', ')}`);
    assert.ok(after.threads <= before.threads, `threads: ${before.threads} → ${after.threads}`);
    assert.ok(after.rss - before.rss < RSS_GROWTH_BOUND_KB, `RSS ${before.rss} → ${after.rss} kB`);
    assert.ok(percentile(secondHalf, 50) - percentile(firstHalf, 50) < RSS_GROWTH_BOUND_KB / 2, `RSS climbs: ${percentile(firstHalf, 50)} → ${percentile(secondHalf, 50)} kB`);
  });
});
