// The cellblock CLI, run as a separate process the way a user runs it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { makeFixtureDir, PYTHON, removeFixtureDir, uniqueToken } from '../helpers/fixtures.js';
import { runCgroupsOf } from '../helpers/host.js';

// The keys of RunResult (sandbox/schema.ts) that every judged run prints; syscall
// only on a violation, error only when the run could not start.
const RESULT_KEYS = ['status', 'exitCode', 'signal', 'signalName', 'cpuMs', 'wallMs', 'memoryKb', 'stdout', 'stderr'];

const parseJson = (stdout: string): Record<string, unknown> => {
  const lines = stdout.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `--json prints one line, got: ${stdout}`);
  return JSON.parse(lines[0] as string) as Record<string, unknown>;
};

describe('cli', () => {
  let fixtures: string;

  before(() => {
    fixtures = makeFixtureDir();
  });

  after(() => removeFixtureDir(fixtures));

  describe('--json', () => {
    it('a judged run prints exactly the result keys, with their types', async () => {
      const { code, stdout } = await runCli(['run', '--json', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(code, 0);
      const result = parseJson(stdout);
      assert.deepEqual(Object.keys(result).sort(), [...RESULT_KEYS].sort());
      assert.equal(result.status, 'runtime_error');
      assert.equal(result.exitCode, 3);
      assert.equal(result.signal, null);
      assert.equal(result.signalName, null);
      assert.equal(result.stdout, 'out\n');
      assert.equal(result.stderr, 'err\n');
      for (const key of ['cpuMs', 'wallMs', 'memoryKb']) assert.equal(typeof result[key], 'number', key);
    });

    it('a violation adds syscall, and only that', async () => {
      const { code, stdout } = await runCli([
        'run',
        '--json',
        '--',
        PYTHON,
        '-c',
        'import ctypes; ctypes.CDLL(None).syscall(250, 0, 0)',
      ]);
      assert.equal(code, 0);
      const result = parseJson(stdout);
      assert.deepEqual(Object.keys(result).sort(), [...RESULT_KEYS, 'syscall'].sort());
      assert.equal(result.status, 'security_violation');
      assert.equal(result.syscall, 'keyctl');
      assert.equal(result.signal, 9);
      assert.equal(result.signalName, 'SIGKILL');
    });

    it('a run that could not start adds error, and exits 1', async () => {
      const { code, stdout } = await runCli(['run', '--json', '--', '/no/such/program']);
      assert.equal(code, 1);
      const result = parseJson(stdout);
      assert.deepEqual(Object.keys(result).sort(), [...RESULT_KEYS, 'error'].sort());
      assert.equal(result.status, 'internal_error');
      assert.deepEqual(Object.keys(result.error as object).sort(), ['code', 'message']);
      assert.equal((result.error as { code: string }).code, 'EXEC_NOT_FOUND');
    });
  });

  describe('exit codes', () => {
    it('0 when judged, whatever the status', async () => {
      const ok = await runCli(['run', '--', '/bin/echo', 'hello']);
      assert.equal(ok.code, 0);
      assert.equal(ok.stdout, 'hello\n');
      assert.match(ok.stderr, /status=ok/);
      const failed = await runCli(['run', '--', '/bin/false']);
      assert.equal(failed.code, 0);
      assert.match(failed.stderr, /status=runtime_error exit=1/);
      const timed = await runCli(['run', '--wall', '200ms', '--', 'sleep', '5']);
      assert.equal(timed.code, 0);
      assert.match(timed.stderr, /status=wall_time_limit/);
    });

    it('1 when the run could not happen', async () => {
      const missingProgram = await runCli(['run', '--', 'cellblock-no-such-program']);
      assert.equal(missingProgram.code, 1);
      assert.match(missingProgram.stderr, /EXEC_NOT_FOUND/);
      const missingRo = await runCli(['run', '--json', '--ro', join(fixtures, 'missing'), '--', '/bin/true']);
      assert.equal(missingRo.code, 1);
      assert.deepEqual(parseJson(missingRo.stdout), {
        error: { code: 'PATH_NOT_FOUND', message: `read-only path does not exist: ${join(fixtures, 'missing')}` },
      });
    });

    it('2 on a usage error', async () => {
      for (const args of [
        ['run'],
        ['run', '--'],
        ['run', '--no-such-option', '--', '/bin/true'],
        ['run', '--time', 'soon', '--', '/bin/true'],
        ['run', '--env', 'NOEQUALS', '--', '/bin/true'],
        ['no-such-command'],
        [],
      ]) {
        const { code } = await runCli(args);
        assert.equal(code, 2, `cellblock ${args.join(' ')}`);
      }
    });

    it('1 on bad input the spec refuses, with its error code on stderr', async () => {
      // README: 1 when it could not run (bad input, ...): a limit out of range is
      // not a usage error but an INVALID_SPEC.
      const { code, stdout, stderr } = await runCli(['run', '--memory', '1K', '--', '/bin/true']);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, /^cellblock: INVALID_SPEC: .*memoryKb/s);
    });

    it('0 for help', async () => {
      const { code, stdout } = await runCli(['help']);
      assert.equal(code, 0);
      assert.match(stdout, /usage: cellblock/);
    });
  });

  describe('options', () => {
    it('--copy-in keeps the mode: an executable script runs as ./name, a 0640 file stays 0640', async () => {
      const script = join(fixtures, 'hello.sh');
      writeFileSync(script, '#!/bin/sh\necho "script ran as $(id -u) in $(pwd)"\n');
      chmodSync(script, 0o755);
      const data = join(fixtures, 'data.txt');
      writeFileSync(data, 'data\n');
      chmodSync(data, 0o640);
      const { code, stdout, stderr } = await runCli([
        'run',
        '--copy-in',
        script,
        '--copy-in',
        `${data}:sub/renamed.txt`,
        '--',
        '/bin/sh',
        '-c',
        './hello.sh && stat -c "%a %n" hello.sh sub/renamed.txt',
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, 'script ran as 1000 in /box\n755 hello.sh\n640 sub/renamed.txt\n');
    });

    it('--ro PATH appears at the same path, read-only', async () => {
      const dir = join(fixtures, 'ro-dir');
      mkdirSync(dir);
      writeFileSync(join(dir, 'inside.txt'), 'bound\n');
      const { code, stdout, stderr } = await runCli([
        'run',
        '--ro',
        dir,
        '--',
        '/bin/sh',
        '-c',
        `cat ${dir}/inside.txt; touch ${dir}/new 2>/dev/null && echo writable || echo read-only`,
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, 'bound\nread-only\n');
    });

    it('--env K=V is visible and the caller environment is not', async () => {
      const canary = uniqueToken('canary');
      const { code, stdout, stderr } = await runCli(
        ['run', '--env', 'GREETING=hello world', '--env', 'EMPTY=', '--', '/usr/bin/env'],
        { ...process.env, CELLBLOCK_CANARY: canary },
      );
      assert.equal(code, 0, stderr);
      const env = stdout.trim().split('\n').sort();
      assert.ok(env.includes('GREETING=hello world'), stdout);
      assert.ok(env.includes('EMPTY='), stdout);
      assert.ok(!stdout.includes(canary), 'the caller environment leaked in');
      // Only the documented base (PATH, HOME, LANG) and what was asked for.
      assert.deepEqual(
        env.map((line) => line.slice(0, line.indexOf('='))),
        ['EMPTY', 'GREETING', 'HOME', 'LANG', 'PATH'],
      );
    });

    it('--stdin FILE is the program stdin', async () => {
      const input = join(fixtures, 'input.bin');
      const bytes = Buffer.concat([Buffer.from('line one\nline two\n'), Buffer.from([0, 255, 10])]);
      writeFileSync(input, bytes);
      // od shows every byte: what the program read must be the file, exactly.
      const expected = execFileSync('/usr/bin/od', ['-An', '-c', input], { encoding: 'utf8' });
      const { code, stdout, stderr } = await runCli(['run', '--json', '--stdin', input, '--', '/usr/bin/od', '-An', '-c']);
      assert.equal(code, 0, stderr);
      const result = parseJson(stdout);
      assert.equal(result.status, 'ok');
      assert.equal(result.stdout, expected);
      const counted = await runCli(['run', '--stdin', input, '--', '/usr/bin/wc', '-c']);
      assert.equal(counted.stdout, `${bytes.length}\n`);
    });

    it('leaves no cgroup of its own behind', async () => {
      // Each CLI process names its run cgroups after its own pid.
      const { code, pid } = await runCli(['run', '--', '/bin/true']);
      assert.equal(code, 0);
      assert.ok(pid !== undefined);
      assert.deepEqual(runCgroupsOf(pid), []);
    });
  });
});
