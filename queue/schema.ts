// What the API and the workers exchange through Redis: job data, the stored
// state of a submission, and the events a submission emits. One schema each,
// validated on both sides.
import { z } from 'zod';
import { SubmissionResult, TestResult, Verdict } from '../judge/schema.js';

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

export const SubmissionJob = z.object({ id: z.string().min(16).max(64) });
export type SubmissionJob = z.infer<typeof SubmissionJob>;

export const WebhookJob = z.object({ id: z.string(), url: z.string().url(), body: z.string() });
export type WebhookJob = z.infer<typeof WebhookJob>;

export const SubmissionEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('status'), status: SubmissionState }),
  z.object({ type: z.literal('test'), index: z.number().int(), total: z.number().int(), test: TestResult }),
  z.object({ type: z.literal('done'), submission: SubmissionView }),
]);
export type SubmissionEvent = z.infer<typeof SubmissionEvent>;
