// The benchmark as a smoke run: `cellblock bench --quick --json --no-write`
// prints every stable row with its statistics and the targets, and leaves
// BENCHMARKS.md and its scratch dirs alone; `node dist/bench/launch.js` (npm run
// bench) is the same command. No timing is asserted: speed is the benchmark's to
// report, not a test's to check.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI, runCli } from '../helpers/cli.js';

const LAUNCH = fileURLToPath(new URL('../../bench/launch.js', import.meta.url));
const BENCHMARKS_MD = fileURLToPath(new URL('../../../BENCHMARKS.md', import.meta.url));

const STABLE = [
  'launch/bare',
  'launch/bwrap',
  'launch/cellblock',
  'launch/bare@2',
  'launch/cellblock@2',
  'http/sync',
  'http/sync@2',
  'judge/cellblock50',
  'judge/bare50',
  'syscall/bare',
  'syscall/cellblock',
  'compute/bare',
  'compute/cellblock',
  'accuracy/cpu',
  'accuracy/memory',
];

interface Row {
  name: string;
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  runsPerSec: number | null;
  unavailable?: string;
  [extra: string]: unknown;
}

const scratchDirs = (): string[] => readdirSync('/var/tmp').filter((name) => name.startsWith('cellblock-bench-'));

const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

describe('bench', () => {
  it('--quick --json --no-write prints every stable row with its statistics, and the targets', { timeout: 240_000 }, async () => {
    const recorded = readFileSync(BENCHMARKS_MD, 'utf8');
    const scratchBefore = scratchDirs();
    const { code, stdout, stderr } = await runCli(['bench', '--quick', '--json', '--no-write']);
    assert.equal(code, 0, stderr);
    const output = JSON.parse(stdout) as { rows: Row[]; targets: { goal: string; measured: string; pass: boolean | null }[] };
    const names = output.rows.map((row) => row.name);
    for (const name of STABLE) assert.ok(names.includes(name), `no row ${name} in ${names.join(', ')}`);
    assert.equal(new Set(names).size, names.length, 'row names are unique');

    for (const row of output.rows) {
      if (row.unavailable !== undefined) {
        // only bubblewrap may be missing on a host, never Cellblock's rows
        assert.match(row.name, /^launch\/bwrap/, `${row.name}: ${row.unavailable}`);
        continue;
      }
      assert.ok(row.count > 0, `${row.name} has samples`);
      const [median, p90, p99] = [row.medianMs, row.p90Ms, row.p99Ms];
      assert.ok(isFiniteNumber(median) && isFiniteNumber(p90) && isFiniteNumber(p99), `${row.name}: ${JSON.stringify(row)}`);
      assert.ok(median > 0 && median <= p90 && p90 <= p99, `${row.name}: percentiles in order: ${JSON.stringify(row)}`);
      assert.ok(row.runsPerSec === null || (isFiniteNumber(row.runsPerSec) && row.runsPerSec > 0), `${row.name}: runsPerSec`);
    }
    const row = (name: string): Row => output.rows.find((r) => r.name === name) as Row;
    for (const key of ['meanMs', 'cv', 'ratioToBare']) assert.ok(isFiniteNumber(row('accuracy/cpu')[key]), `accuracy/cpu.${key}`);
    for (const key of ['peakKb', 'ratioToBare']) assert.ok(isFiniteNumber(row('accuracy/memory')[key]), `accuracy/memory.${key}`);
    assert.ok(isFiniteNumber(row('judge/cellblock50').perTestOverheadMs), 'judge/cellblock50.perTestOverheadMs');
    for (const name of ['launch/cellblock', 'http/sync', 'judge/cellblock50', 'syscall/cellblock', 'compute/cellblock']) {
      assert.ok(isFiniteNumber(row(name).ratioToBare), `${name}.ratioToBare`);
    }
    assert.equal(row('launch/cellblock@2').runsPerSec !== null && row('launch/bare@2').runsPerSec !== null, true, 'runs/s at concurrency 2');

    assert.ok(output.targets.length >= 10, 'the issue’s targets');
    for (const target of output.targets) assert.ok(target.pass === null || typeof target.pass === 'boolean', target.goal);

    assert.equal(readFileSync(BENCHMARKS_MD, 'utf8'), recorded, '--no-write (and --quick) leave BENCHMARKS.md alone');
    const left = scratchDirs().filter((name) => !scratchBefore.includes(name));
    assert.deepEqual(left, [], 'the programs and the service’s data dir are removed');
  });

  it('npm run bench (dist/bench/launch.js) is the same command: it refuses the same bad option', async () => {
    for (const command of [[LAUNCH], [CLI, 'bench']]) {
      const { status, stderr } = spawnSync(process.execPath, [...command, '--runs', '0', '--no-write'], { encoding: 'utf8' });
      assert.equal(status, 2, `${command.join(' ')}: ${stderr}`);
      assert.match(stderr, /bench: --runs wants a positive integer, not '0'/);
    }
  });
});
