// Worker crash: three workers are SIGKILLed at once, one in the middle of a
// compile, one in the middle of a test, one in the middle of a checker. A worker
// started after takes the three jobs over and judges them: each result is
// written once and delivered once. The dead workers' sandboxes die with them,
// and the start-up sweep of the next worker removes the run cgroups they left —
// and nothing else (a run cgroup of a live process stays). No mount, temp file
// or process of theirs is left.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { uniqueToken } from '../helpers/fixtures.js';
import { CGROUP_V1_ROOT, hostProcesses, isAlive, readText, runCgroupsOf } from '../helpers/host.js';
import {
  aplusbTests,
  describeProcesses,
  eventuallyTrue,
  getView,
  isFinal,
  PYTHON_APLUSB,
  Receiver,
  sandboxPidsBelow,
  type Started,
  stop,
  stopAll,
  submit,
  tempDir,
  waitForView,
} from '../service/helpers.js';
import { type Deployment, deploy, eventLog, type EventLog, ourMounts, report, size } from './harness.js';

// Each phase lasts long enough to be caught (the kill waits for all three).
const PHASE_SECONDS = 5;
const ROUNDS = size(1, 5);

// A compile of a few seconds: the whole standard library, and a comment no
// other compile had (the compile cache would skip it).
const slowCompile = () => ({
  language: 'cpp',
  source: `// ${uniqueToken('compile')}\n#include <bits/stdc++.h>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }\n`,
  tests: aplusbTests(2),
  limits: { timeMs: 2_000, wallMs: 10_000 },
});

const slowTest = () => ({
  language: 'python3',
  source: `import time\ntime.sleep(${PHASE_SECONDS})\n${PYTHON_APLUSB}`,
  tests: aplusbTests(1),
  limits: { timeMs: 2_000, wallMs: (PHASE_SECONDS + 10) * 1_000 },
});

// The solution in bash, the checker in Python: a python3 in the sandbox is the checker.
const slowChecker = () => ({
  language: 'bash',
  source: 'read a b\necho $((a + b))\n',
  tests: aplusbTests(1),
  checker: { kind: 'program', program: { language: 'python3', source: `import sys, time\ntime.sleep(${PHASE_SECONDS})\nsys.exit(0)\n` } },
});

type Phase = 'compile' | 'test' | 'checker';

// What a worker's sandbox runs right now: g++'s cc1plus, the bash solution, or a python3.
function phaseOf(worker: Started): Phase | undefined {
  const names = sandboxPidsBelow(worker.pid).map((pid) => readText(`/proc/${pid}/comm`).trim());
  if (names.some((name) => name === 'cc1plus' || name === 'g++')) return 'compile';
  if (names.includes('python3')) {
    // the test's python3 (main.py, no arguments) or the checker's (3 arguments)
    const checking = sandboxPidsBelow(worker.pid).some((pid) => readText(`/proc/${pid}/cmdline`).includes('answer.txt'));
    return checking ? 'checker' : 'test';
  }
  return undefined;
}


describe('reliability: a worker SIGKILLed mid-compile, mid-test, mid-checker', () => {
  let deployment: Deployment;
  let events: EventLog;
  let receiver: Receiver;
  // a run cgroup named for this live test process: the sweep must leave it
  const decoy = join(CGROUP_V1_ROOT, 'memory', 'cellblock', `run-${process.pid}-1000000`);

  before(async () => {
    receiver = new Receiver();
    await receiver.listen();
    deployment = await deploy();
    events = await eventLog(deployment.redis.url);
  });

  after(async () => {
    try {
      rmdirSync(decoy);
    } catch {
      // not made, or gone: the assertion said so
    }
    await receiver?.close();
    await events?.close();
    await stopAll();
  });

  for (let round = 1; round <= ROUNDS; round++) {
    it(`${ROUNDS > 1 ? `round ${round}: ` : ''}another worker finishes each, the result is written once, and the next start sweeps what the dead left`, async () => {
      const base = deployment.api.url;
      const tmp = tempDir('cb-rel-tmp-');
      const workerEnv = { TMPDIR: tmp };
      const mountsBefore = ourMounts();
      const victims = await Promise.all(['victim-1', 'victim-2', 'victim-3'].map((name) => deployment.startWorker(name, 1, workerEnv)));
      const submissions: Record<Phase, () => object> = { compile: slowCompile, test: slowTest, checker: slowChecker };
      const ids = new Map<Phase, string>();
      const hooks = new Map<Phase, string>();
      for (const phase of ['compile', 'test', 'checker'] as const) {
        hooks.set(phase, `/crash/${phase}/${uniqueToken('hook')}`);
        ids.set(phase, await submit(base, { ...submissions[phase](), callbackUrl: `${receiver.url}${hooks.get(phase)}` }));
      }

      // all three caught in their phase at once, then killed together
      const phases = () => victims.map(phaseOf);
      const caught = await eventuallyTrue(() => new Set(phases()).size === 3 && !phases().includes(undefined), 30_000, 20);
      assert.ok(caught, `not all phases at once: ${JSON.stringify(phases())}`);
      const sandboxes = victims.flatMap((victim) => sandboxPidsBelow(victim.pid));
      // what they will leave: their runs' cgroups (a supervisor removes them after
      // a run; a dead one cannot)
      const running = victims.flatMap((victim) => runCgroupsOf(victim.pid));
      assert.ok(running.length >= 3, `run cgroups of the victims: ${running.join(', ')}`);
      const killedAt = Date.now();
      await Promise.all(victims.map((victim) => stop(victim, 'SIGKILL')));
      // (another cellblock process starting on this host sweeps them too)
      const left = victims.flatMap((victim) => runCgroupsOf(victim.pid));

      // their sandboxes die with them (init's parent-death signal)
      const gone = await eventuallyTrue(() => sandboxes.every((pid) => !isAlive(pid)), 5_000);
      assert.ok(gone, `sandboxes alive after their worker was SIGKILLed: ${describeProcesses(sandboxes)}`);
      mkdirSync(decoy);

      const survivor = await deployment.startWorker('survivor', 2, workerEnv);
      const swept = victims.flatMap((victim) => runCgroupsOf(victim.pid));
      assert.deepEqual(swept, [], 'run cgroups of the dead workers left after the next worker started');
      assert.ok(readdirSync(join(CGROUP_V1_ROOT, 'memory', 'cellblock')).includes(`run-${process.pid}-1000000`), 'the sweep removed a live process\'s cgroup');

      const takeoverMs: number[] = [];
      let completed = 0;
      for (const [phase, id] of ids) {
        const view = await waitForView(base, id, isFinal, 60_000);
        takeoverMs.push(Date.now() - killedAt);
        if (view.status === 'done') completed++;
        assert.equal(view.status, 'done', `${phase}: ${JSON.stringify(view)}`);
        assert.equal(view.verdict, 'AC', `${phase}: ${JSON.stringify(view)}`);
      }
      assert.ok(isAlive(survivor.pid), 'the survivor died');
      // written once, delivered once, unchanged a while later
      await eventuallyTrue(() => [...hooks.values()].every((hook) => receiver.to(hook).length > 0), 10_000);
      await delay(1_000);
      const duplicated = [...ids.values()].filter((id) => events.done(id) !== 1).length;
      const deliveries = [...hooks.values()].map((hook) => receiver.to(hook).length);
      for (const [phase, id] of ids) {
        const view = await getView(base, id);
        assert.equal(JSON.parse(receiver.to(hooks.get(phase)!)[0]?.body ?? '{}').verdict, view.verdict);
      }

      // nothing of the dead left on the host
      const leftovers = {
        cgroups: victims.flatMap((victim) => runCgroupsOf(victim.pid)),
        processes: hostProcesses().filter((p) => sandboxes.includes(p.pid) && isAlive(p.pid)).map((p) => p.pid),
        mounts: ourMounts().filter((line) => !mountsBefore.includes(line)),
        tempFiles: readdirSync(tmp),
        storeTemp: storeTempFiles(deployment.storeDir),
      };
      const leaked = Object.values(leftovers).reduce((sum, list) => sum + list.length, 0);
      report('worker-crash', {
        submitted: ids.size,
        completed,
        lost: ids.size - completed,
        duplicated,
        leaked,
        cgroupsLeftByTheDead: left.length,
        latencies: takeoverMs,
      });
      assert.equal(duplicated, 0, `done events: ${[...ids.values()].map((id) => events.done(id)).join(',')}`);
      assert.deepEqual(deliveries, [1, 1, 1], 'deliveries per submission');
      assert.deepEqual(leftovers, { cgroups: [], processes: [], mounts: [], tempFiles: [], storeTemp: [] });
      rmdirSync(decoy);
      await deployment.stopWorkers();
    });
  }
});

// Temporary files of the content store (written, then renamed into place).
function storeTempFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    let entries;
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) walk(join(at, entry.name));
      else if (entry.name.endsWith('.tmp')) found.push(join(at, entry.name));
    }
  };
  walk(dir);
  return found;
}
