// Checkers (built-in and testlib programs), interactors, groups, stop-at-first-
// failure and security violations, judged for real.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge } from '../../judge/judge.js';
import { type Checker, type Submission } from '../../judge/schema.js';
import { SandboxError } from '../../sandbox/errors.js';

const echo = (text: string): Pick<Submission, 'language' | 'source'> => ({
  language: 'python3',
  source: `import sys\nsys.stdout.write(${JSON.stringify(text)})\n`,
});

async function verdictOf(output: string, expected: string, checker: Checker) {
  const result = await judge({ ...echo(output), tests: [{ name: 't', stdin: '', expected }], checker });
  return result.tests[0]!;
}

describe('built-in checkers', () => {
  it('tokens ignores whitespace, not content', async () => {
    assert.equal((await verdictOf('1  2\n\n3', '1 2 3\n', { kind: 'tokens' })).verdict, 'AC');
    const wrong = await verdictOf('1 2 4', '1 2 3', { kind: 'tokens' });
    assert.equal(wrong.verdict, 'WA');
    assert.match(wrong.message, /token 3: expected '3', got '4'/);
  });

  it('exact tells a layout difference (PE) from a wrong answer', async () => {
    assert.equal((await verdictOf('1 2\n', '1 2\n', { kind: 'exact' })).verdict, 'AC');
    assert.equal((await verdictOf('1  2\n', '1 2\n', { kind: 'exact' })).verdict, 'PE');
    assert.equal((await verdictOf('1 3\n', '1 2\n', { kind: 'exact' })).verdict, 'WA');
  });

  it('lines ignores trailing spaces and blank lines, not line breaks', async () => {
    assert.equal((await verdictOf('a b  \nc\n\n\n', 'a b\nc\n', { kind: 'lines' })).verdict, 'AC');
    const wrong = await verdictOf('a\nb c\n', 'a b\nc\n', { kind: 'lines' });
    assert.equal(wrong.verdict, 'WA');
    assert.match(wrong.message, /line 1/);
  });

  it('float accepts within the error and refuses beyond it', async () => {
    const checker: Checker = { kind: 'float', absolute: 1e-6, relative: 1e-6 };
    assert.equal((await verdictOf('3.1415930', '3.1415926', checker)).verdict, 'AC');
    assert.equal((await verdictOf('3.1416', '3.1415926', checker)).verdict, 'WA');
    assert.equal((await verdictOf('1000000.5', '1000000', checker)).verdict, 'AC', 'relative error');
    assert.equal((await verdictOf('nan', '1', checker)).verdict, 'WA');
  });
});

const testlibChecker = (body: string): Checker => ({
  kind: 'program',
  program: {
    language: 'python3',
    source: `import sys\ninp, out, ans = (open(p).read() for p in sys.argv[1:4])\n${body}\n`,
  },
});

describe('testlib checker programs', () => {
  const checker = testlibChecker(
    [
      'got, want = int(out.split()[0]), int(ans.split()[0])',
      'if got == want: sys.exit(0)',
      'if abs(got - want) == 1:',
      '    print("points 0.5", file=sys.stderr); sys.exit(7)',
      'print(f"expected {want}, got {got}", file=sys.stderr); sys.exit(1)',
    ].join('\n'),
  );

  it('reads input, output and answer files and maps exit codes', async () => {
    assert.equal((await verdictOf('5', '5', checker)).verdict, 'AC');
    const wrong = await verdictOf('9', '5', checker);
    assert.equal(wrong.verdict, 'WA');
    assert.equal(wrong.message, 'expected 5, got 9');
    const partial = await verdictOf('6', '5', checker);
    assert.equal(partial.verdict, 'PA');
    assert.equal(partial.points, 0.5);
  });

  it('a checker that crashes is an internal error, never a wrong answer', async () => {
    const crashing = testlibChecker('import os\nos.abort()');
    const result = await judge({ ...echo('5'), tests: [{ name: 't', stdin: '', expected: '5' }], checker: crashing });
    assert.equal(result.verdict, 'IE');
    assert.match(result.tests[0]!.message, /checker failed/);
  });

  it('a checker saying FAIL (3) is an internal error', async () => {
    assert.equal((await verdictOf('5', '5', testlibChecker('sys.exit(3)'))).verdict, 'IE');
  });

  it('a checker that does not compile makes the whole submission IE', async () => {
    const result = await judge({
      ...echo('5'),
      tests: [{ name: 't', stdin: '', expected: '5' }],
      checker: { kind: 'program', program: { language: 'cpp', source: 'int main( {' } },
    });
    assert.equal(result.verdict, 'IE');
    assert.match(result.error ?? '', /checker did not compile/);
  });
});

// Guess the number: the interactor holds a secret, the solution binary-searches.
// A solution that quits early closes its end: the interactor's next write fails.
const INTERACTOR = [
  'import os, sys',
  'def say(text):',
  '    try:',
  '        print(text, flush=True)',
  '    except BrokenPipeError:',
  '        print("no answer: the solution stopped reading", file=sys.stderr); os._exit(1)',
  'secret = int(open(sys.argv[1]).read())',
  'for turn in range(20):',
  '    line = sys.stdin.readline()',
  '    if not line:',
  '        print("no answer", file=sys.stderr); os._exit(1)',
  '    guess = int(line)',
  '    if guess == secret:',
  '        say("="); os._exit(0)',
  '    say("<" if secret < guess else ">")',
  'print("too many guesses", file=sys.stderr); os._exit(1)',
].join('\n');

const GUESSER = [
  'import sys',
  'lo, hi = 1, 1000',
  'while True:',
  '    mid = (lo + hi) // 2',
  '    print(mid, flush=True)',
  '    r = sys.stdin.readline().strip()',
  '    if r == "=": break',
  '    if r == "<": hi = mid - 1',
  '    else: lo = mid + 1',
].join('\n');

describe('interactors', () => {
  const interactive = (source: string, interactor = INTERACTOR, timeMs = 2000) =>
    judge({
      language: 'python3',
      source,
      tests: [
        { name: 'a', stdin: '1', expected: '' },
        { name: 'b', stdin: '777', expected: '' },
      ],
      interactor: { language: 'python3', source: interactor },
      limits: { timeMs, wallMs: 4000 },
    });

  it('a correct solution talking over pipes is AC', async () => {
    const result = await interactive(GUESSER);
    assert.deepEqual(result.tests.map((t) => t.verdict), ['AC', 'AC']);
  });

  it('a wrong protocol is WA from the interactor', async () => {
    const result = await interactive('print(5, flush=True)\nprint(5, flush=True)\n' + 'import time\n');
    assert.equal(result.tests[0]!.verdict, 'WA');
    assert.match(result.tests[0]!.message, /no answer/);
  });

  it('an idle solution is stopped by the wall limit', async () => {
    const result = await interactive('import time\ntime.sleep(60)\n');
    assert.equal(result.tests[0]!.verdict, 'TLE');
  });

  it('an interactor over its own limits is an internal error', async () => {
    const result = await interactive(GUESSER, 'while True: pass\n', 300);
    assert.equal(result.tests[0]!.verdict, 'IE');
    assert.match(result.tests[0]!.message, /interactor failed/);
  });
});

describe('submissions', () => {
  const sum = { language: 'python3', source: 'a, b = map(int, input().split())\nprint(a + b if a < 100 else 0)\n' };
  const tests = [
    { name: '1', stdin: '1 2', expected: '3' },
    { name: '2', stdin: '200 1', expected: '201' },
    { name: '3', stdin: '5 5', expected: '10' },
  ];

  it('overall verdict is the first failing test; score counts passing tests', async () => {
    const result = await judge({ ...sum, tests });
    assert.deepEqual(result.tests.map((t) => t.verdict), ['AC', 'WA', 'AC']);
    assert.equal(result.verdict, 'WA');
    assert.equal(result.score, 66.667);
  });

  it('stop at first failure skips the rest', async () => {
    const result = await judge({ ...sum, tests, stopOnFirstFailure: true, limits: { timeMs: 1000 } });
    assert.deepEqual(result.tests.map((t) => t.verdict), ['AC', 'WA', 'SK']);
  });

  it('groups score their points only when every test passes', async () => {
    const result = await judge({
      ...sum,
      tests,
      groups: [
        { name: 'small', tests: ['1', '3'], points: 40 },
        { name: 'large', tests: ['2'], points: 60 },
      ],
    });
    assert.deepEqual(result.groups, [
      { name: 'small', points: 40, maxPoints: 40 },
      { name: 'large', points: 0, maxPoints: 60 },
    ]);
    assert.equal(result.score, 40);
  });

  it('a forbidden syscall is SV and names it', async () => {
    const result = await judge({
      language: 'python3',
      source: 'import ctypes\nctypes.CDLL(None).syscall(165, 0, 0, 0, 0, 0)\n',
      tests: [{ name: 't', stdin: '', expected: '' }],
    });
    assert.equal(result.verdict, 'SV');
    assert.match(result.tests[0]!.message, /mount/);
  });

  it('an unknown language is refused with a stable code', async () => {
    await assert.rejects(
      judge({ language: 'cobol-85', source: '', tests }),
      (error: unknown) => error instanceof SandboxError && error.code === 'UNKNOWN_LANGUAGE',
    );
  });

  it('a malformed submission is refused with INVALID_SPEC', async () => {
    await assert.rejects(
      judge({ ...sum, tests: [] }),
      (error: unknown) => error instanceof SandboxError && error.code === 'INVALID_SPEC',
    );
  });
});
