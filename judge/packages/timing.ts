// The time limit of a package that gives none: its accepted submissions judged
// (all tests, under the cap), the slowest test's CPU time times the multiplier,
// rounded up to the resolution. An accepted submission that fails is the
// package's fault.
import { judge, type JudgeOptions } from '../judge.js';
import { packageError } from './files.js';
import { type Problem, submissionFor } from './problem.js';

export async function timedProblem(problem: Problem, options: JudgeOptions = {}): Promise<Problem> {
  const { timing, ...rest } = problem;
  if (!timing) return problem;
  let slowestMs = 0;
  for (const accepted of timing.accepted) {
    const result = await judge(submissionFor(rest, accepted.language, accepted.source), options);
    if (result.verdict !== 'AC') throw packageError(accepted.path, `an accepted submission is ${result.verdict} (${result.error ?? result.tests.find((t) => t.verdict !== 'AC')?.message ?? ''})`);
    slowestMs = Math.max(slowestMs, result.maxCpuMs);
  }
  const timeMs = Math.max(timing.resolutionMs, Math.ceil((slowestMs * timing.multiplier) / timing.resolutionMs) * timing.resolutionMs);
  return { ...rest, limits: { ...rest.limits, timeMs } };
}
