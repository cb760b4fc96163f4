// What the API and the workers exchange through Redis: job data, the stored
// state of a submission, and the events a submission emits. One schema each,
// validated on both sides.
import { z } from 'zod';
import { SubmissionResult, TestResult, Verdict } from '../judge/schema.js';
import { RunOutcome } from '../runs/schema.js';

export const QUEUE_SUBMISSIONS = 'cellblock-submissions';
export const QUEUE_WEBHOOKS = 'cellblock-webhooks';

export const SubmissionState = z.enum(['queued', 'running', 'done', 'cancelled']);
export type SubmissionState = z.infer<typeof SubmissionState>;

// The result object of `cellblock judge --json`, with id and status added: while
// queued or running only those two (and tests judged so far) are present.
export const SubmissionView = SubmissionResult.partial().extend({
  id: z.string(),
  status: SubmissionState,
});
export type SubmissionView = z.infer<typeof SubmissionView>;

// A finished submission as the operator's dashboard lists it (no source, no result).
export const RecentSubmission = z.object({
  id: z.string(),
  tenant: z.string(),
  language: z.string(),
  status: SubmissionState.extract(['done', 'cancelled']),
  verdict: Verdict.nullable(),
  at: z.number(),
});
export type RecentSubmission = z.infer<typeof RecentSubmission>;

export const SubmissionJob = z.object({
  id: z.string().min(16).max(64),
  // held by the fast path (queue/local.ts): the worker running it meanwhile
  heldBy: z.string().optional(),
});
export type SubmissionJob = z.infer<typeof SubmissionJob>;

export const WebhookJob = z.object({ id: z.string(), url: z.string().url(), body: z.string() });
export type WebhookJob = z.infer<typeof WebhookJob>;

export const SubmissionEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('status'), status: SubmissionState }),
  z.object({ type: z.literal('test'), index: z.number().int(), total: z.number().int(), test: TestResult }),
  z.object({ type: z.literal('done'), submission: SubmissionView }),
]);
export type SubmissionEvent = z.infer<typeof SubmissionEvent>;

// A run (POST /v1/runs): its state, and the outcome once done.
export const RunView = z.object({ id: z.string(), status: SubmissionState, result: RunOutcome.optional() });
export type RunView = z.infer<typeof RunView>;

export const RunEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('status'), status: SubmissionState }),
  // stdout and stderr as the program writes them
  z.object({ type: z.literal('output'), stream: z.enum(['stdout', 'stderr']), data: z.string() }),
  z.object({ type: z.literal('done'), run: RunView }),
]);
export type RunEvent = z.infer<typeof RunEvent>;

// What one events channel carries: a submission's events or a run's.
export const JobEvent = z.union([SubmissionEvent, RunEvent]);
export type JobEvent = z.infer<typeof JobEvent>;
