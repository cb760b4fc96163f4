// judge(submission): compile once, run every test in a fresh sandbox (several at
// a time, one slot each), check, and sum up.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { SandboxError } from '../sandbox/errors.js';
import { type ContentStore, defaultStore } from '../store/content.js';
import { compileSource, prepareProgram } from './program.js';
import { type JudgedSubmission, type ParsedSubmission, Submission, type SubmissionResult, type TestResult, type Verdict } from './schema.js';
import { type Prepared, runTest, skipped } from './test-run.js';
import { getTestSet } from './test-sets.js';

export interface JudgeOptions {
  // tests in flight at once (default: the number of CPUs)
  parallelism?: number;
  // where stored test sets and compiled programs are (default: CELLBLOCK_STORE)
  store?: ContentStore;
  // aborting it kills the running sandboxes and skips the tests not started
  signal?: AbortSignal;
  // pin the solution's runs to these CPUs (cpuset list)
  cpus?: string;
  onTest?: (result: TestResult, index: number, total: number) => void;
}

export function parseSubmission(input: Submission): ParsedSubmission {
  const parsed = Submission.safeParse(input);
  if (!parsed.success) throw new SandboxError('INVALID_SPEC', z.prettifyError(parsed.error));
  return parsed.data;
}

const passed = (verdict: Verdict): boolean => verdict === 'AC';

function summarize(submission: JudgedSubmission, tests: TestResult[], compile: SubmissionResult['compile']): SubmissionResult {
  const failing = tests.find((test) => test.verdict !== 'AC' && test.verdict !== 'SK');
  const byName = new Map(tests.map((test) => [test.name, test]));
  const groups = submission.groups?.map((group) => {
    // a group scores its points scaled by its weakest test
    const fractions = group.tests.map((name) => byName.get(name)?.points ?? 0);
    return { name: group.name, points: group.points * Math.min(...fractions), maxPoints: group.points };
  });
  const maxScore = groups ? groups.reduce((sum, g) => sum + g.maxPoints, 0) : 100;
  const score = groups
    ? groups.reduce((sum, g) => sum + g.points, 0)
    : (100 * tests.reduce((sum, test) => sum + test.points, 0)) / tests.length;
  return {
    verdict: failing?.verdict ?? 'AC',
    score: Math.round(score * 1000) / 1000,
    maxScore,
    compile,
    tests,
    ...(groups ? { groups } : {}),
    totalCpuMs: tests.reduce((sum, test) => sum + test.cpuMs, 0),
    maxCpuMs: Math.max(0, ...tests.map((test) => test.cpuMs)),
    maxMemoryKb: Math.max(0, ...tests.map((test) => test.memoryKb)),
  };
}

function failedBeforeTests(
  submission: JudgedSubmission,
  verdict: Verdict,
  compile: SubmissionResult['compile'],
  error?: string,
): SubmissionResult {
  return {
    ...summarize(submission, submission.tests.map((test) => skipped(test.name)), compile),
    verdict,
    score: 0,
    ...(error ? { error } : {}),
  };
}

// Checker and interactor are compiled beside the submission; their failures are ours.
async function prepareHelpers(
  submission: JudgedSubmission,
  store: ContentStore,
  signal: AbortSignal | undefined,
): Promise<Omit<Prepared, 'solution' | 'signal'> | string> {
  const helpers: Omit<Prepared, 'solution' | 'signal'> = {};
  const wanted = [
    ['checker', submission.checker.kind === 'program' ? submission.checker.program : undefined],
    ['interactor', submission.interactor],
  ] as const;
  for (const [role, program] of wanted) {
    if (!program) continue;
    const compiled = await prepareProgram(program, store, signal);
    if (!compiled.executable) return `${role} did not compile: ${compiled.internalError ?? compiled.compile.output}`;
    helpers[role] = compiled.executable;
  }
  return helpers;
}

async function runAll(submission: JudgedSubmission, prepared: Prepared, options: JudgeOptions): Promise<TestResult[]> {
  const tests = submission.tests;
  const results: (TestResult | undefined)[] = new Array(tests.length);
  let next = 0;
  let firstFailure = Infinity;
  const worker = async () => {
    while (next < tests.length && !options.signal?.aborted) {
      const index = next++;
      if (index > firstFailure) break;
      const result = await runTest(submission, prepared, tests[index]!);
      results[index] = result;
      if (submission.stopOnFirstFailure && !passed(result.verdict)) firstFailure = Math.min(firstFailure, index);
      options.onTest?.(result, index, tests.length);
    }
  };
  const parallelism = Math.max(1, Math.min(options.parallelism ?? availableParallelism(), tests.length));
  await Promise.all(Array.from({ length: parallelism }, worker));
  // after the first failure, later tests are skipped even if they ran, so the
  // result does not depend on timing
  return tests.map((test, index) => (index > firstFailure ? skipped(test.name) : (results[index] ?? skipped(test.name))));
}

async function withTests(parsed: ParsedSubmission, store: () => ContentStore): Promise<JudgedSubmission> {
  const { tests, testSet, ...rest } = parsed;
  const judged = { ...rest, tests: tests ?? (await getTestSet(store(), testSet!)) };
  // a group naming a test there is not would score nothing, silently
  const names = new Set(judged.tests.map((test) => test.name));
  for (const group of judged.groups ?? []) {
    const unknown = group.tests.find((name) => !names.has(name));
    if (unknown) throw new SandboxError('INVALID_SPEC', `group '${group.name}' names test '${unknown}', which the submission does not have`);
  }
  return judged;
}

export async function judge(input: Submission, options: JudgeOptions = {}): Promise<SubmissionResult> {
  const store = () => (options.store ??= defaultStore());
  const submission = await withTests(parseSubmission(input), store);
  const compiled = await compileSource(submission.language, submission.source, submission.files, store(), options.signal);
  if (compiled.internalError) return failedBeforeTests(submission, 'IE', compiled.compile, compiled.internalError);
  if (!compiled.executable) return failedBeforeTests(submission, 'CE', compiled.compile);
  const helpers = await prepareHelpers(submission, store(), options.signal);
  if (typeof helpers === 'string') return failedBeforeTests(submission, 'IE', compiled.compile, helpers);
  const context = { ...(options.signal ? { signal: options.signal } : {}), ...(options.cpus ? { cpus: options.cpus } : {}) };
  const tests = await runAll(submission, { solution: compiled.executable, ...helpers, ...context }, options);
  return summarize(submission, tests, compiled.compile);
}
