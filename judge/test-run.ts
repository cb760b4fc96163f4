// One test: the solution in a fresh sandbox (or beside an interactor, connected
// by pipes), then the checker; the outcome as a TestResult.
import { closeSync } from 'node:fs';
import { openPipe, run } from '../sandbox/run.js';
import { type LimitOverrides, type RunResult, type RunSpec } from '../sandbox/schema.js';
import { capMessage, check, type CheckOutcome, programVerdict, protocolCall } from './checkers.js';
import { type Executable, runSpecFor } from './program.js';
import { type JudgedSubmission, type TestCase, type TestResult, type Verdict } from './schema.js';

export interface Prepared {
  solution: Executable;
  checker?: Executable;
  interactor?: Executable;
  // aborting it cancels every run of the submission
  signal?: AbortSignal;
  // the CPUs the solution is pinned to (a worker slot's)
  cpus?: string;
}

// What a run's status means for a solution, when it did not simply finish.
const STOPPED: Partial<Record<RunResult['status'], Verdict>> = {
  time_limit: 'TLE',
  wall_time_limit: 'TLE',
  memory_limit: 'MLE',
  output_limit: 'OLE',
  security_violation: 'SV',
  internal_error: 'IE',
  cancelled: 'SK',
};

export function stopReason(result: RunResult): string {
  switch (result.status) {
    case 'security_violation':
      return `forbidden system call: ${result.syscall ?? 'unknown'}`;
    case 'runtime_error':
      return result.signalName ? `killed by ${result.signalName}` : `exit code ${result.exitCode}`;
    case 'internal_error':
      return result.error ? `${result.error.code}: ${result.error.message}` : 'internal error';
    case 'wall_time_limit':
      return 'wall-clock limit';
    default:
      return result.status.replace(/_/g, ' ');
  }
}

// The wall limit when a submission gives none: room for a program that waits on
// I/O, never less than two seconds above its CPU time.
export const defaultWallMs = (timeMs: number): number => Math.max(timeMs * 3, timeMs + 2_000);

export function solutionLimits(submission: JudgedSubmission): LimitOverrides {
  const { timeMs, wallMs, memoryKb, outputKb, stackKb, pids } = submission.limits;
  return {
    cpuMs: timeMs,
    wallMs: wallMs ?? defaultWallMs(timeMs),
    memoryKb,
    outputKb,
    ...(stackKb ? { stackKb } : {}),
    ...(pids ? { pids } : {}),
  };
}

function testResult(name: string, run: RunResult, outcome: CheckOutcome, keepOutput = false): TestResult {
  return {
    ...(keepOutput ? { stdout: run.stdout, stderr: run.stderr } : {}),
    name,
    verdict: outcome.verdict,
    cpuMs: run.cpuMs,
    wallMs: run.wallMs,
    memoryKb: run.memoryKb,
    exitCode: run.exitCode,
    signal: run.signalName,
    message: outcome.message,
    points: outcome.points,
  };
}

// How the solution's run ended, when it did not finish normally.
function stoppedVerdict(solution: Executable, result: RunResult): Verdict | undefined {
  if (result.status === 'ok') return undefined;
  if (result.status === 'runtime_error' && solution.outOfMemory?.test(result.stderr)) return 'MLE';
  return STOPPED[result.status] ?? 'RE';
}

const runOptions = (prepared: Prepared) => (prepared.signal ? { signal: prepared.signal } : {});

// The solution's run: the submission's limits, arguments and files (a compiled
// program's work dir holds them too), the slot's CPUs.
function solutionSpec(submission: JudgedSubmission, prepared: Prepared, io: Partial<RunSpec>): RunSpec {
  const pinned = prepared.cpus ? { cpus: prepared.cpus } : {};
  const present = new Set(prepared.solution.files.map((file) => file.path));
  const files = submission.files.filter((file) => !present.has(file.path));
  return runSpecFor(prepared.solution, solutionLimits(submission), { ...io, ...pinned, outputText: submission.outputText }, { args: submission.args, files });
}

async function runPlain(submission: JudgedSubmission, prepared: Prepared, test: TestCase): Promise<TestResult> {
  const result = await run(solutionSpec(submission, prepared, { stdin: { text: test.stdin } }), runOptions(prepared));
  const keep = submission.keepOutput;
  const stopped = stoppedVerdict(prepared.solution, result);
  if (stopped) return testResult(test.name, result, { verdict: stopped, message: capMessage(stopReason(result)), points: 0 }, keep);
  const outcome = await check(submission.checker, prepared.checker, {
    input: test.stdin,
    output: result.stdout,
    expected: test.expected,
  }, prepared.signal);
  return testResult(test.name, result, outcome, keep);
}

// testlib interactor exit codes
const INTERACTOR: Record<number, Verdict> = { 0: 'AC', 1: 'WA', 2: 'PE' };

// The solution's limits and end come first (TLE, MLE… whatever the interactor
// said), then the interactor's wrong answer (a solution cut off by it often dies
// of SIGPIPE), then the solution's crash.
function interactiveVerdict(submission: JudgedSubmission, executable: Executable, solution: RunResult, interactor: RunResult): CheckOutcome {
  const { verdict: said, message } = programVerdict(submission.interactorProtocol, interactor, INTERACTOR);
  if (!said) {
    // the interactor overran its limits, crashed, or said FAIL: ours to fix
    return { verdict: 'IE', message: capMessage(`interactor failed (${stopReason(interactor)}): ${message}`), points: 0 };
  }
  const stopped = stoppedVerdict(executable, solution);
  if (stopped && stopped !== 'RE') return { verdict: stopped, message: capMessage(stopReason(solution)), points: 0 };
  if (said !== 'AC') return { verdict: said, message, points: 0 };
  if (solution.status !== 'ok') return { verdict: 'RE', message: capMessage(stopReason(solution)), points: 0 };
  return { verdict: 'AC', message, points: 1 };
}

async function runInteractive(submission: JudgedSubmission, prepared: Prepared, test: TestCase): Promise<TestResult> {
  const interactor = prepared.interactor!;
  const toSolution = openPipe();
  const toInteractor = openPipe();
  const limits = solutionLimits(submission);
  const solutionRun = run(
    solutionSpec(submission, prepared, { stdin: { fd: toSolution.read }, stdoutFd: toInteractor.write }),
    runOptions(prepared),
  );
  const call = protocolCall(submission.interactorProtocol, 'interactor', { input: test.stdin, expected: test.expected });
  const interactorRun = run(
    runSpecFor(
      interactor,
      { cpuMs: limits.cpuMs! * 2 + 1_000, wallMs: limits.wallMs! + 1_000, memoryKb: 524_288, outputKb: 64 },
      { stdin: { fd: toInteractor.read }, stdoutFd: toSolution.write, truncateOutput: true, collect: call.collect },
      { args: call.args, files: call.files },
    ),
    runOptions(prepared),
  );
  // The addon duplicated the ends it needs when run() was called: close ours, so
  // each side sees end-of-file when the other exits.
  for (const fd of [toSolution.read, toSolution.write, toInteractor.read, toInteractor.write]) closeSync(fd);
  const [solution, interactorResult] = await Promise.all([solutionRun, interactorRun]);
  return testResult(test.name, solution, interactiveVerdict(submission, prepared.solution, solution, interactorResult));
}

export function runTest(submission: JudgedSubmission, prepared: Prepared, test: TestCase): Promise<TestResult> {
  return prepared.interactor ? runInteractive(submission, prepared, test) : runPlain(submission, prepared, test);
}

export const skipped = (name: string): TestResult => ({
  name,
  verdict: 'SK',
  cpuMs: 0,
  wallMs: 0,
  memoryKb: 0,
  exitCode: null,
  signal: null,
  message: '',
  points: 0,
});
