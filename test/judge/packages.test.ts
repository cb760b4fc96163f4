// Problem packages: the three examples judged for real (folder and .zip, the
// CLI's --package), the ICPC default output validator flag by flag, scoring
// groups, validator failures, and malformed or partial packages refused with the
// file named.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { check } from '../../judge/checkers.js';
import { judge } from '../../judge/judge.js';
import { readPackage, readPackageDir, unzipPackage, type PackageFiles } from '../../judge/packages/files.js';
import { loadProblem } from '../../judge/packages/index.js';
import { defaultValidator } from '../../judge/packages/kattis.js';
import { languageOfFile, submissionFor } from '../../judge/packages/problem.js';
import { timedProblem } from '../../judge/packages/timing.js';
import { type Checker } from '../../judge/schema.js';
import { SandboxError } from '../../sandbox/errors.js';
import { runCli } from '../helpers/cli.js';
import { makeFixtureDir, removeFixtureDir } from '../helpers/fixtures.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const zipOf = (files: PackageFiles): Uint8Array => zipSync(Object.fromEntries([...files].map(([name, data]) => [name, new Uint8Array(data)])));

async function judgeWith(files: PackageFiles, solutionPath: string) {
  const source = readFileSync(solutionPath, 'utf8');
  return judge(submissionFor(loadProblem(files), languageOfFile(solutionPath)!, source));
}

// Each example: its solutions and the verdicts (and scores) they must get.
const EXPECTED: Record<string, Record<string, { verdict: string; score: number }>> = {
  'kattis-pairsum': {
    'submissions/accepted/half.py': { verdict: 'AC', score: 100 },
    'submissions/accepted/zero.cpp': { verdict: 'AC', score: 100 },
    'submissions/wrong_answer/off_by_one.py': { verdict: 'WA', score: 0 },
  },
  'kattis-guess': {
    'submissions/accepted/binary_search.py': { verdict: 'AC', score: 100 },
    'submissions/accepted/binary_search.cpp': { verdict: 'AC', score: 100 },
    'submissions/wrong_answer/linear.py': { verdict: 'WA', score: 25 },
    'submissions/time_limit_exceeded/silent.py': { verdict: 'TLE', score: 0 },
  },
  'polygon-sum': {
    'solutions/sum.cpp': { verdict: 'AC', score: 100 },
    'solutions/sum.py': { verdict: 'AC', score: 100 },
    // group 1 (complete-group, 40) lost with test 03, test 04 (30) lost, test 05 (30) kept
    'solutions/int-overflow.cpp': { verdict: 'WA', score: 30 },
  },
};

describe('example packages, judged for real', () => {
  for (const [example, solutions] of Object.entries(EXPECTED)) {
    for (const [solution, want] of Object.entries(solutions)) {
      it(`${example}: ${solution} is ${want.verdict} (${want.score})`, async () => {
        const result = await judgeWith(readPackage(join(examples, example)), join(examples, example, solution));
        assert.equal(result.verdict, want.verdict, JSON.stringify(result.tests.map((t) => [t.name, t.verdict, t.message])));
        assert.equal(result.score, want.score);
      });
    }
  }

  it('a custom validator’s judgemessage.txt is the test’s message', async () => {
    const result = await judgeWith(readPackage(join(examples, 'kattis-pairsum')), join(examples, 'kattis-pairsum/submissions/wrong_answer/off_by_one.py'));
    assert.equal(result.tests[1]!.message, 'a + b = 1, not 0');
  });

  it('the interactive validator’s feedback is read back', async () => {
    const result = await judgeWith(readPackage(join(examples, 'kattis-guess')), join(examples, 'kattis-guess/submissions/accepted/binary_search.py'));
    assert.match(result.tests[1]!.message, /found in 1 guesses/);
  });

  it('a package as a .zip (with a top folder) loads as its folder does', () => {
    for (const example of Object.keys(EXPECTED)) {
      const files = readPackageDir(join(examples, example));
      const nested = new Map([...files].map(([name, data]) => [`${example}/${name}`, data]));
      assert.deepEqual(loadProblem(unzipPackage(zipOf(nested))), loadProblem(files), example);
    }
  });

  it('cellblock judge --package takes a folder or a .kpp', async () => {
    const dir = makeFixtureDir();
    try {
      const kpp = join(dir, 'pairsum.kpp');
      writeFileSync(kpp, zipOf(readPackageDir(join(examples, 'kattis-pairsum'))));
      const solution = join(examples, 'kattis-pairsum/submissions/accepted/zero.cpp');
      for (const target of [kpp, join(examples, 'kattis-pairsum')]) {
        const out = await runCli(['judge', solution, '--package', target, '--json']);
        assert.equal(out.code, 0, out.stderr);
        assert.equal((JSON.parse(out.stdout) as { verdict: string }).verdict, 'AC');
      }
      const broken = await runCli(['judge', solution, '--package', join(dir, 'nothing.zip'), '--json']);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /PATH_NOT_FOUND/);
    } finally {
      removeFixtureDir(dir);
    }
  });
});

const outcome = (checker: Checker, output: string, expected: string) => check(checker, undefined, { input: '', output, expected });
const verdicts = async (flags: string[], cases: [string, string, string][]) => {
  const checker = defaultValidator(flags, 'test');
  for (const [output, expected, want] of cases) {
    assert.equal((await outcome(checker, output, expected)).verdict, want, `${JSON.stringify(flags)}: ${JSON.stringify(output)} against ${JSON.stringify(expected)}`);
  }
};

describe('the ICPC default output validator, flag by flag', () => {
  it('no flags: tokens, case-insensitive, any whitespace, numbers as text', () =>
    verdicts([], [
      ['Yes\n', 'yes\n', 'AC'],
      ['1   2\n\n3', '1 2 3\n', 'AC'],
      ['1.0', '1', 'WA'],
      ['1 2', '1 2 3', 'WA'],
      ['1 2 3 4', '1 2 3', 'WA'],
      ['', '1', 'WA'],
    ]));

  it('case_sensitive', () => verdicts(['case_sensitive'], [['Yes', 'Yes', 'AC'], ['Yes', 'yes', 'WA']]));

  it('space_change_sensitive: whitespace must match exactly', () =>
    verdicts(['space_change_sensitive'], [
      ['1 2\n', '1 2\n', 'AC'],
      ['1  2\n', '1 2\n', 'WA'],
      ['1 2', '1 2\n', 'WA'],
      ['1\n2\n', '1 2\n', 'WA'],
      [' 1 2\n', '1 2\n', 'WA'],
      ['A b\n', 'a B\n', 'AC'],
    ]));

  it('float_tolerance: absolute or relative', () =>
    verdicts(['float_tolerance', '1e-6'], [
      ['1.0000005', '1', 'AC'],
      ['1.00001', '1', 'WA'],
      ['1000000.5', '1000000', 'AC'],
      ['abc', 'ABC', 'AC'],
      ['x', '1', 'WA'],
      ['1e0', '1', 'AC'],
    ]));

  it('float_absolute_tolerance alone', () => verdicts(['float_absolute_tolerance', '0.1'], [['100.05', '100', 'AC'], ['1000.5', '1000', 'WA']]));

  it('float_relative_tolerance alone', () => verdicts(['float_relative_tolerance', '0.001'], [['1000.5', '1000', 'AC'], ['0.0015', '0.001', 'WA']]));

  it('flags together', () => verdicts(['case_sensitive', 'float_absolute_tolerance', '0.5', 'space_change_sensitive'], [['Pi 3.3\n', 'Pi 3.14\n', 'AC'], ['pi 3.3\n', 'Pi 3.14\n', 'WA']]));

  it('an unknown flag or a tolerance without its number is a package error', () => {
    assert.throws(() => defaultValidator(['ignore_case'], 'problem.yaml'), (e: SandboxError) => e.code === 'INVALID_PACKAGE' && /problem.yaml: unknown default validator flag 'ignore_case'/.test(e.message));
    assert.throws(() => defaultValidator(['float_tolerance'], 'problem.yaml'), /float_tolerance needs a non-negative number/);
  });

  it('flags from problem.yaml reach the checker', () => {
    const files = readPackageDir(join(examples, 'kattis-pairsum'));
    files.set('problem.yaml', Buffer.from('name: x\nvalidator_flags: float_tolerance 0.01 case_sensitive\n'));
    for (const name of [...files.keys()]) if (name.startsWith('output_validators/')) files.delete(name);
    assert.deepEqual(loadProblem(files).checker, { kind: 'kattis', caseSensitive: true, spaceChangeSensitive: false, absolute: 0.01, relative: 0.01 });
  });
});

// A small package in memory.
const pkg = (entries: Record<string, string>): PackageFiles => new Map(Object.entries(entries).map(([name, text]) => [name, Buffer.from(text)]));
const refused = (files: PackageFiles, pattern: RegExp) =>
  assert.throws(() => loadProblem(files), (e: unknown) => e instanceof SandboxError && e.code === 'INVALID_PACKAGE' && pattern.test(e.message));

describe('Kattis scoring and validators', () => {
  const echo = 'print(input())\n';

  it('scoring: groups with aggregation min score all or nothing, sum a share per test', async () => {
    const files = pkg({
      'problem.yaml': 'problem_format_version: 2025-09\nname: Echo\ntype: scoring\nlimits:\n  time_limit: 1\n  memory: 256\n',
      'data/sample/1.in': '1\n', 'data/sample/1.ans': '1\n',
      'data/secret/g1/test_group.yaml': 'scoring:\n  score: 40\n  aggregation: min\n',
      'data/secret/g1/1.in': '1\n', 'data/secret/g1/1.ans': '1\n',
      'data/secret/g1/2.in': '2\n', 'data/secret/g1/2.ans': '3\n',
      'data/secret/g2/testdata.yaml': 'accept_score: 30\n',
      'data/secret/g2/1.in': '4\n', 'data/secret/g2/1.ans': '4\n',
      'data/secret/g2/2.in': '5\n', 'data/secret/g2/2.ans': '6\n',
    });
    const problem = loadProblem(files);
    assert.deepEqual(problem.groups, [
      { name: 'secret/g1', tests: ['secret/g1/1', 'secret/g1/2'], points: 40 },
      { name: 'secret/g2/1', tests: ['secret/g2/1'], points: 30 },
      { name: 'secret/g2/2', tests: ['secret/g2/2'], points: 30 },
    ]);
    const result = await judge(submissionFor(problem, 'python3', echo));
    assert.equal(result.score, 30);
    assert.equal(result.maxScore, 100);
  });

  it('a validator that exits other than 42 or 43 is a judge error, never the submission’s', async () => {
    const files = pkg({
      'problem.yaml': 'name: x\nvalidation: custom\nlimits:\n  time_limit: 1\n',
      'data/secret/1.in': '1\n', 'data/secret/1.ans': '1\n',
      'output_validators/v/v.py': 'import sys\nsys.exit(1)\n',
    });
    const result = await judge(submissionFor(loadProblem(files), 'python3', echo));
    assert.equal(result.verdict, 'IE');
    assert.match(result.tests[0]!.message, /checker failed \(exit code 1\)/);
  });

  it('validator arguments (output_validator_args) and a single-file validator', async () => {
    const files = pkg({
      'problem.yaml': 'name: x\nvalidation: custom\nlimits:\n  time_limit: 1\n',
      'data/testdata.yaml': 'output_validator_args: [want, "7"]\n',
      'data/secret/1.in': '7\n', 'data/secret/1.ans': '\n',
      'output_validators/check.py': 'import sys\nok = sys.stdin.read().split() == [sys.argv[5]] and sys.argv[4] == "want"\nopen(sys.argv[3] + "teammessage.txt", "w").write("seen")\nsys.exit(42 if ok else 43)\n',
    });
    const result = await judge(submissionFor(loadProblem(files), 'python3', echo));
    assert.equal(result.verdict, 'AC', JSON.stringify(result.tests));
    assert.equal(result.tests[0]!.message, 'seen');
    const wrong = await judge(submissionFor(loadProblem(files), 'python3', 'print(8)\n'));
    assert.equal(wrong.verdict, 'WA');
  });
});

describe('a package without a time limit is timed on its accepted submissions', () => {
  it('legacy: the slowest accepted test × time_multiplier, rounded up to the resolution', async () => {
    const files = readPackageDir(join(examples, 'kattis-pairsum'));
    files.delete('.timelimit');
    const loaded = loadProblem(files);
    assert.deepEqual(loaded.timing && { multiplier: loaded.timing.multiplier, accepted: loaded.timing.accepted.map((a) => a.path) }, {
      multiplier: 5,
      accepted: ['submissions/accepted/half.py', 'submissions/accepted/zero.cpp'],
    });
    const timed = await timedProblem(loaded);
    assert.equal(timed.timing, undefined);
    assert.equal(timed.limits.timeMs, 1_000, 'fast solutions: one resolution step');
    // 2025-09: ac_to_time_limit and time_resolution; a sleeping accepted submission burns no CPU
    files.set('problem.yaml', Buffer.from('problem_format_version: 2025-09\nname: x\nlimits:\n  time_multipliers: {ac_to_time_limit: 3}\n  time_resolution: 0.25\n'));
    for (const name of [...files.keys()]) if (name.startsWith('output_validators/')) files.delete(name);
    files.set('output_validator/v.py', Buffer.from('import sys\nsys.exit(42)\n'));
    const spin = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint(0, 0)\n';
    files.set('submissions/accepted/half.py', Buffer.from(spin));
    files.delete('submissions/accepted/zero.cpp');
    const modern = await timedProblem(loadProblem(files));
    assert.ok(modern.limits.timeMs! >= 1_000 && modern.limits.timeMs! % 250 === 0, `3 × ~0.3 s rounded up to 0.25 s: ${modern.limits.timeMs}`);
  });

  it('an accepted submission that fails is the package’s error, named', async () => {
    const files = readPackageDir(join(examples, 'kattis-pairsum'));
    files.delete('.timelimit');
    files.set('submissions/accepted/half.py', files.get('submissions/wrong_answer/off_by_one.py')!);
    await assert.rejects(timedProblem(loadProblem(files)), (e: SandboxError) => e.code === 'INVALID_PACKAGE' && /^submissions\/accepted\/half\.py: an accepted submission is WA/.test(e.message));
  });
});

describe('Polygon interactive problems', () => {
  it('the interactor (testlib protocol) decides, with the package’s headers beside it', async () => {
    const xml = `<?xml version="1.0"?><problem short-name="echo"><names><name language="english" value="Echo back"/></names>
      <judging><testset name="tests"><time-limit>1000</time-limit><memory-limit>268435456</memory-limit><test-count>2</test-count>
      <input-path-pattern>tests/%02d</input-path-pattern><answer-path-pattern>tests/%02d.a</answer-path-pattern>
      <tests><test method="manual"/><test method="manual"/></tests></testset></judging>
      <files><resources><file path="files/testlib.h" type="h.g++"/></resources></files>
      <assets><checker type="testlib"><source path="files/check.py" type="python.3"/></checker>
      <interactor><source path="files/interactor.cpp" type="cpp.g++17"/></interactor></assets></problem>`;
    const files = pkg({
      'problem.xml': xml,
      'tests/01': '5\n', 'tests/01.a': '5\n', 'tests/02': '9\n', 'tests/02.a': '9\n',
      // not the real testlib.h: a header the interactor includes, to show resources reach it
      'files/testlib.h': '#pragma once\n#define VERDICT_OK 0\n#define VERDICT_WA 1\n',
      'files/check.py': 'import sys\nsys.exit(0)\n',
      'files/interactor.cpp': '#include <cstdio>\n#include "testlib.h"\nint main(int, char** argv) { FILE* in = std::fopen(argv[1], "r"); int x, y; std::fscanf(in, "%d", &x); std::printf("%d\\n", x); std::fflush(stdout); if (std::scanf("%d", &y) != 1 || y != 2 * x) { std::fprintf(stderr, "wanted %d", 2 * x); return VERDICT_WA; } return VERDICT_OK; }\n',
    });
    const problem = loadProblem(files);
    assert.equal(problem.interactor && 'files' in problem.interactor ? problem.interactor.files?.[0]?.path : undefined, 'testlib.h');
    const good = await judge(submissionFor(problem, 'python3', 'print(2 * int(input()))\n'));
    assert.equal(good.verdict, 'AC', JSON.stringify(good.tests));
    const bad = await judge(submissionFor(problem, 'python3', 'print(int(input()))\n'));
    assert.equal(bad.verdict, 'WA');
    assert.match(bad.tests[0]!.message, /wanted 10/);
  });
});

describe('malformed or partial packages are refused, naming the file', () => {
  const good = () => readPackageDir(join(examples, 'kattis-pairsum'));

  it('Kattis', () => {
    const noAnswer = good();
    noAnswer.delete('data/secret/02.ans');
    refused(noAnswer, /^data\/secret\/02\.ans: missing/);
    const badYaml = good();
    badYaml.set('problem.yaml', Buffer.from('name: [unclosed\n'));
    refused(badYaml, /^problem\.yaml: not valid YAML/);
    const noTime = good();
    noTime.delete('.timelimit');
    for (const name of [...noTime.keys()]) if (name.startsWith('submissions/')) noTime.delete(name);
    refused(noTime, /^problem\.yaml: no time limit/);
    const noSecret = good();
    for (const name of [...noSecret.keys()]) if (name.startsWith('data/secret/')) noSecret.delete(name);
    refused(noSecret, /^data\/secret\/: no test cases/);
    const twoValidators = good();
    twoValidators.set('output_validators/other/v.py', Buffer.from('pass\n'));
    refused(twoValidators, /^output_validators\/: one output validator expected/);
    const twoSources = good();
    twoSources.set('output_validators/pairsum/extra.cpp', Buffer.from('int x;\n'));
    refused(twoSources, /^output_validators\/pairsum\/: one source file expected/);
    const version = good();
    version.set('problem.yaml', Buffer.from('problem_format_version: 1999-01\n'));
    refused(version, /problem_format_version '1999-01'/);
    const multipass = good();
    multipass.set('problem.yaml', Buffer.from('problem_format_version: 2025-09\ntype: multi-pass\nlimits: {time_limit: 1}\n'));
    refused(multipass, /multi-pass problems are not supported/);
    const interactiveWithout = pkg({ 'problem.yaml': 'problem_format_version: 2025-09\ntype: interactive\nlimits: {time_limit: 1}\n', 'data/secret/1.in': '1\n' });
    refused(interactiveWithout, /^output_validator\/: an interactive problem needs its output validator/);
    refused(pkg({ 'README.md': 'hello' }), /problem\.yaml: missing, and no problem\.xml either/);
  });

  it('Polygon', () => {
    const polygon = () => readPackageDir(join(examples, 'polygon-sum'));
    const generated = polygon();
    generated.delete('tests/04');
    generated.set('problem.xml', Buffer.from(generated.get('problem.xml')!.toString().replace('<test method="manual" group="2" points="30"/>', '<test method="generated" cmd="gen 4" group="2" points="30"/>')));
    refused(generated, /^tests\/04: missing: this test is generated — this is a standard package; generate the tests first/);
    const noAnswer = polygon();
    noAnswer.delete('tests/02.a');
    refused(noAnswer, /^tests\/02\.a: missing/);
    const noChecker = polygon();
    noChecker.delete('files/check.cpp');
    refused(noChecker, /^files\/check\.cpp: missing: the checker's source/);
    const badXml = polygon();
    badXml.set('problem.xml', Buffer.from('<problem><judging>'));
    refused(badXml, /^problem\.xml: not valid XML/);
  });

  it('archives: not a zip, a zip bomb by its declared sizes', () => {
    assert.throws(() => unzipPackage(Buffer.from('not a zip at all')), /package\.zip: not a readable zip archive/);
    const big = zipSync({ 'data/secret/1.in': new Uint8Array(300 * 1024 * 1024) }, { level: 9 });
    assert.throws(() => unzipPackage(big), /package\.zip: the package is over 256 MiB/);
  });

  it('a package path that does not exist', () => {
    const dir = makeFixtureDir();
    rmSync(dir, { recursive: true });
    assert.throws(() => readPackage(dir), (e: SandboxError) => e.code === 'PATH_NOT_FOUND');
  });

  it('a copied example folder still loads (no hidden state)', () => {
    const dir = makeFixtureDir();
    try {
      cpSync(join(examples, 'kattis-guess'), dir, { recursive: true });
      assert.equal(loadProblem(readPackage(dir)).name, 'Guess the Number');
    } finally {
      removeFixtureDir(dir);
    }
  });
});
