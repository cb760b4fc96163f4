// Runs (POST /v1/runs) in Redis: stored, queued, cancelled and finished exactly
// as submissions are, on the same queue.
import { type Queue } from 'bullmq';
import { type Redis } from 'ioredis';
import { type RunJob, type RunOutcome } from '../runs/schema.js';
import { type RunView, type SubmissionJob } from './schema.js';
import { type JobStore, jobStore } from './submissions.js';

export type Runs = JobStore<RunJob, RunOutcome, RunView>;

export const runs = (redis: Redis, resultTtlSeconds: number, queue: Queue<SubmissionJob>): Runs =>
  jobStore(redis, resultTtlSeconds, queue, {
    name: 'run',
    jobName: 'run',
    view: (stored) => ({ id: stored.id, status: stored.status, ...(stored.result ? { result: stored.result } : {}) }),
    done: (view) => ({ type: 'done', run: view }),
  });
