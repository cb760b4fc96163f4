// cgroup v2, as far as this v1 machine can test it: forced to v2, detection
// reads the unified mount, finds the memory controller missing there, and every
// run is refused with that reason named — never run without limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DoctorReport } from '../../cli/doctor.js';
import { runCli } from '../helpers/cli.js';

const forcedV2 = { ...process.env, CELLBLOCK_CGROUP: 'v2' };

describe('cgroup v2 detection', () => {
  it('doctor names the missing v2 controller and where it must be enabled', async () => {
    const { code, stdout } = await runCli(['doctor', '--json'], forcedV2);
    assert.equal(code, 1);
    const report = JSON.parse(stdout) as DoctorReport & { healthy: boolean };
    assert.equal(report.healthy, false);
    assert.equal(report.cgroupVersion, 'none');
    const cgroups = report.checks.find((check) => check.name === 'cgroups');
    assert.ok(cgroups && !cgroups.ok);
    assert.match(cgroups.detail, /cgroup v2: the memory controller is not enabled in \/sys\/fs\/cgroup\/unified\/cgroup\.subtree_control/);
  });

  it('a run is refused with UNSUPPORTED, not run without a memory limit', async () => {
    const { code, stdout, stderr } = await runCli(['run', '--json', '--', '/bin/true'], forcedV2);
    assert.equal(code, 1);
    assert.match(stderr, /UNSUPPORTED: cannot sandbox on this host: cgroups \(cgroup v2: the memory controller/);
    assert.deepEqual(Object.keys(JSON.parse(stdout) as object), ['error']);
  });
});
