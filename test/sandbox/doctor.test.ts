// cellblock doctor on this machine: every check passes and a live launch works.
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { describe, it } from 'node:test';
import { type DoctorReport } from '../../cli/doctor.js';
import { runCli } from '../helpers/cli.js';
import { UID_BASE } from '../helpers/host.js';

type DoctorJson = DoctorReport & { healthy: boolean };

describe('doctor', () => {
  it('doctor --json: healthy, Landlock ABI 7, cgroup v1, every check ok', async () => {
    const { code, stdout, stderr } = await runCli(['doctor', '--json']);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as DoctorJson;
    assert.equal(report.healthy, true, stdout);
    assert.equal(report.landlockAbi, 7);
    assert.equal(report.cgroupVersion, 'v1');
    assert.equal(report.uidBase, UID_BASE);
    assert.equal(report.kernel, release());
    const failing = report.checks.filter((check) => !check.ok);
    assert.deepEqual(failing, []);
    assert.deepEqual(
      report.checks.map((check) => check.name).sort(),
      ['cgroups', 'landlock', 'root', 'seccomp user notification', 'user namespaces'],
    );
    assert.equal(report.launch.ok, true, report.launch.detail);
    assert.match(report.launch.detail, /^ok in [0-9.]+ ms$/);
  });

  it('doctor (text) agrees and exits 0', async () => {
    const { code, stdout } = await runCli(['doctor']);
    assert.equal(code, 0);
    assert.match(stdout, /cgroup v1; Landlock ABI 7;/);
    assert.doesNotMatch(stdout, /^(MISS|FAIL)/m);
  });
});
