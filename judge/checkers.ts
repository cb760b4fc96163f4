// Output checkers: built-in comparators, and checker programs speaking the
// testlib protocol, themselves run in a sandbox.
import { run } from '../sandbox/run.js';
import { type Executable, runSpecFor } from './program.js';
import { type RunResult } from '../sandbox/schema.js';
import { type Checker, type Protocol, type Verdict } from './schema.js';

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
// tokens with the whitespace between them: odd indices are whitespace runs
const tokensAndSpaceOf = (text: string): string[] => text.split(/(\s+)/);

function compareTokens(output: string, expected: string, same: (got: string, want: string) => boolean, spaceSensitive = false): CheckOutcome {
  const got = spaceSensitive ? tokensAndSpaceOf(output) : tokensOf(output);
  const want = spaceSensitive ? tokensAndSpaceOf(expected) : tokensOf(expected);
  const tokenNumber = (i: number) => (spaceSensitive ? Math.floor(i / 2) + 1 : i + 1);
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (spaceSensitive && i % 2 === 1) {
      if (got[i] !== want[i]) return wrong(`whitespace after token ${tokenNumber(i)}: expected ${JSON.stringify(want[i] ?? '')}, got ${JSON.stringify(got[i] ?? '')}`);
      continue;
    }
    if (got[i] === undefined || want[i] === undefined || !same(got[i]!, want[i]!)) {
      return wrong(`token ${tokenNumber(i)}: expected ${show(want[i])}, got ${show(got[i])}`);
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

const sameText = (got: string, want: string): boolean => got === want;
const sameTextIgnoringCase = (got: string, want: string): boolean => got.toLowerCase() === want.toLowerCase();

// Numbers within either error; a token that is not a number in the answer is
// compared as text.
const closeEnough = (absolute: number, relative: number, text = sameText) => (got: string, want: string) => {
  const a = Number(got);
  const b = Number(want);
  if (Number.isNaN(b) || want.trim() === '') return text(got, want);
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

type KattisChecker = Extract<Checker, { kind: 'kattis' }>;

// The ICPC default output validator: a tolerance given makes every number of
// the answer a float to compare within it (a missing one of the two is 0).
function compareKattis(output: string, expected: string, flags: KattisChecker): CheckOutcome {
  const text = flags.caseSensitive ? sameText : sameTextIgnoringCase;
  const numeric = flags.absolute !== undefined || flags.relative !== undefined;
  const same = numeric ? closeEnough(flags.absolute ?? 0, flags.relative ?? 0, text) : text;
  return compareTokens(output, expected, same, flags.spaceChangeSensitive);
}

export interface CheckInput {
  input: string;
  output: string;
  expected: string;
}

// Where a Kattis validator writes its feedback (judgemessage.txt, teammessage.txt, score.txt).
export const FEEDBACK_DIR = 'feedback';
const FEEDBACK_FILES = ['judgemessage.txt', 'teammessage.txt', 'score.txt'];
// a file in it makes the sandbox create the directory
const feedbackDirFile = { path: `${FEEDBACK_DIR}/.cellblock`, content: '' };

// How a checker or interactor is called on a test: its arguments, files, and
// the feedback files to read back.
export function protocolCall(protocol: Protocol | undefined, role: 'checker' | 'interactor', io: { input: string; expected: string }) {
  const input = { path: 'input.txt', content: io.input };
  const answer = { path: 'answer.txt', content: io.expected };
  if (protocol?.name === 'kattis') {
    return {
      args: ['input.txt', 'answer.txt', `${FEEDBACK_DIR}/`, ...(protocol.args ?? [])],
      files: [input, answer, feedbackDirFile],
      collect: FEEDBACK_FILES.map((file) => `${FEEDBACK_DIR}/${file}`),
    };
  }
  if (role === 'interactor') return { args: ['input.txt', 'output.txt', ...(protocol?.args ?? [])], files: [input], collect: [] };
  return {
    args: ['input.txt', 'output.txt', 'answer.txt', ...(protocol?.args ?? [])],
    files: [input, { path: 'output.txt', content: '' }, answer],
    collect: [],
  };
}

// Kattis exit codes
const KATTIS: Record<number, Verdict> = { 42: 'AC', 43: 'WA' };

// What a checker or interactor program said: its verdict by its protocol's exit
// codes and its message (Kattis feedback files, else its stderr or stdout).
// Undefined when it failed: that is ours, never the submission's.
export function programVerdict(protocol: Protocol | undefined, result: RunResult, codes: Record<number, Verdict>): { verdict?: Verdict; message: string } {
  const exited = result.status === 'ok' || result.status === 'runtime_error';
  const table = protocol?.name === 'kattis' ? KATTIS : codes;
  const verdict = exited ? table[result.exitCode ?? -1] : undefined;
  const feedback = new Map((result.files ?? []).map((file) => [file.path.slice(FEEDBACK_DIR.length + 1), Buffer.from(file.data).toString('utf8').trim()]));
  const parts = [feedback.get('judgemessage.txt'), feedback.get('teammessage.txt'), feedback.get('score.txt') ? `score ${feedback.get('score.txt')}` : undefined];
  const said = parts.filter(Boolean).join('\n') || (result.stderr || result.stdout).trim();
  return { ...(verdict ? { verdict } : {}), message: capMessage(said) };
}

async function runCheckerProgram(checker: Executable, protocol: Protocol | undefined, { input, output, expected }: CheckInput, signal?: AbortSignal): Promise<CheckOutcome> {
  const call = protocolCall(protocol, 'checker', { input, expected });
  const kattis = protocol?.name === 'kattis';
  // testlib reads the output from a file; a Kattis validator from its stdin
  const files = call.files.map((file) => (file.path === 'output.txt' ? { ...file, content: output } : file));
  const spec = runSpecFor(
    checker,
    { cpuMs: 10_000, wallMs: 20_000, memoryKb: 524_288, outputKb: 64 },
    { truncateOutput: true, collect: call.collect, ...(kattis ? { stdin: { text: output } } : {}) },
    { args: call.args, files },
  );
  const result = await run(spec, signal ? { signal } : {});
  const { verdict, message } = programVerdict(protocol, result, TESTLIB);
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
      return runCheckerProgram(program, checker.protocol, io, signal);
    case 'kattis':
      return compareKattis(io.output, io.expected, checker);
    case 'none':
      return accepted;
  }
}
