// Output checkers: built-in comparators, and checker programs speaking the
// testlib protocol, themselves run in a sandbox.
import { run } from '../sandbox/run.js';
import { type Executable, runSpecFor } from './program.js';
import { type Checker, type Verdict } from './schema.js';

export interface CheckOutcome {
  verdict: Verdict;
  message: string;
  points: number;
}

const MESSAGE_LIMIT = 1024;
export const capMessage = (text: string): string =>
  text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT)}…` : text;

const accepted: CheckOutcome = { verdict: 'AC', message: '', points: 1 };
const wrong = (message: string): CheckOutcome => ({ verdict: 'WA', message: capMessage(message), points: 0 });
const show = (token: string | undefined): string => (token === undefined ? 'end of output' : `'${capMessage(token)}'`);

const tokensOf = (text: string): string[] => text.split(/\s+/).filter(Boolean);

function compareTokens(output: string, expected: string, same: (got: string, want: string) => boolean): CheckOutcome {
  const got = tokensOf(output);
  const want = tokensOf(expected);
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] === undefined || want[i] === undefined || !same(got[i]!, want[i]!)) {
      return wrong(`token ${i + 1}: expected ${show(want[i])}, got ${show(got[i])}`);
    }
  }
  return accepted;
}

const linesOf = (text: string): string[] => {
  const lines = text.split('\n').map((line) => line.replace(/[ \t\r]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
};

function compareLines(output: string, expected: string): CheckOutcome {
  const got = linesOf(output);
  const want = linesOf(expected);
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) return wrong(`line ${i + 1}: expected ${show(want[i])}, got ${show(got[i])}`);
  }
  return accepted;
}

function compareExact(output: string, expected: string): CheckOutcome {
  if (output === expected) return accepted;
  // right answer, wrong layout
  if (compareTokens(output, expected, (a, b) => a === b).verdict === 'AC') {
    return { verdict: 'PE', message: 'output differs only in whitespace', points: 0 };
  }
  return compareLines(output, expected);
}

const closeEnough = (absolute: number, relative: number) => (got: string, want: string) => {
  const a = Number(got);
  const b = Number(want);
  if (Number.isNaN(b) || want.trim() === '') return got === want;
  if (Number.isNaN(a) || got.trim() === '') return false;
  const diff = Math.abs(a - b);
  return diff <= absolute || diff <= relative * Math.abs(b);
};

// testlib exit codes
const TESTLIB: Record<number, Verdict> = { 0: 'AC', 1: 'WA', 2: 'PE', 7: 'PA' };

// "points 0.5" (or a bare number) in the checker's message, as a fraction.
function partialPoints(message: string): number {
  const match = /(?:points\s+)?([0-9]+(?:\.[0-9]+)?)/.exec(message);
  const value = match ? Number(match[1]) : 0;
  return Math.min(1, value > 1 ? value / 100 : value);
}

export interface CheckInput {
  input: string;
  output: string;
  expected: string;
}

async function runCheckerProgram(checker: Executable, { input, output, expected }: CheckInput, signal?: AbortSignal): Promise<CheckOutcome> {
  const spec = runSpecFor(
    checker,
    { cpuMs: 10_000, wallMs: 20_000, memoryKb: 524_288, outputKb: 64 },
    { truncateOutput: true },
    {
      args: ['input.txt', 'output.txt', 'answer.txt'],
      files: [
        { path: 'input.txt', content: input },
        { path: 'output.txt', content: output },
        { path: 'answer.txt', content: expected },
      ],
    },
  );
  const result = await run(spec, signal ? { signal } : {});
  const message = capMessage((result.stderr || result.stdout).trim());
  const verdict = result.status === 'ok' || result.status === 'runtime_error' ? TESTLIB[result.exitCode ?? -1] : undefined;
  if (!verdict) {
    // a checker that crashes, fails (3) or overruns is our problem, never a WA
    const why = result.status === 'runtime_error' || result.status === 'ok' ? `exit code ${result.exitCode}` : result.status;
    return { verdict: 'IE', message: capMessage(`checker failed (${why}): ${message}`), points: 0 };
  }
  const points = verdict === 'AC' ? 1 : verdict === 'PA' ? partialPoints(message) : 0;
  return { verdict, message, points };
}

export async function check(
  checker: Checker,
  program: Executable | undefined,
  io: CheckInput,
  signal?: AbortSignal,
): Promise<CheckOutcome> {
  switch (checker.kind) {
    case 'exact':
      return compareExact(io.output, io.expected);
    case 'tokens':
      return compareTokens(io.output, io.expected, (a, b) => a === b);
    case 'lines':
      return compareLines(io.output, io.expected);
    case 'float':
      return compareTokens(io.output, io.expected, closeEnough(checker.absolute, checker.relative));
    case 'program':
      if (!program) return { verdict: 'IE', message: 'checker program not prepared', points: 0 };
      return runCheckerProgram(program, io, signal);
    case 'none':
      return accepted;
  }
}
