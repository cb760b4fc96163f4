// What the execution APIs (Piston, Jobe) share: one run of a program on a stdin,
// no answer to compare, output kept, through the same queue, workers and
// judge as every submission; then the one test's result.
import { type Submission } from '../../judge/schema.js';
import { type SubmissionView } from '../../queue/schema.js';
import { admission, type Tenant } from '../auth.js';
import { type ApiContext } from '../context.js';
import { submitAndWait } from '../jobs.js';

// Both add the newline a stdin lacks, as Piston and Jobe do.
export const withFinalNewline = (stdin: string): string => (stdin === '' || stdin.endsWith('\n') ? stdin : `${stdin}\n`);

export function executionSubmission(run: Omit<Submission, 'tests' | 'checker' | 'keepOutput'> & { stdin: string }): Submission {
  const { stdin, ...rest } = run;
  return { ...rest, tests: [{ name: 'run', stdin: withFinalNewline(stdin), expected: '' }], checker: { kind: 'none' }, keepOutput: true };
}

// Submits and waits for the result (undefined when it did not finish in time);
// NotAdmitted past the tenant's cap on active jobs.
export async function execute(ctx: ApiContext, who: Tenant, submission: Submission): Promise<SubmissionView | undefined> {
  const { view } = await submitAndWait(ctx, { kind: 'submission', store: ctx.subs, job: submission, options: { tenant: who.name, ...admission(who, true) } }, Math.max(ctx.config.waitMs, 60_000));
  return view?.status === 'done' ? view : undefined;
}
