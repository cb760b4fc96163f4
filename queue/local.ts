// The fast path (issue 7): where the API and a worker share a process
// (`cellblock serve`), a sync request is handed straight to an idle slot of that
// worker instead of travelling through the queue to it. It is still recorded
// first-class: the record as every job has, and its BullMQ job added *held*
// (delayed) while the local slot runs it, so the job becomes due, and any worker
// runs it, should this process die. The API sees only this interface; the
// worker implements it (worker/worker.ts).
import { type Submission } from '../judge/schema.js';
import { type RunJob } from '../runs/schema.js';
import { type RunView, type SubmissionView } from './schema.js';
import { type Admitted, type JobStore, type SubmitOptions } from './submissions.js';

// Where the job is admitted and queued: the API's store, whose connection fails
// fast when Redis is away.
type Recording<S> = Pick<JobStore<S, unknown, unknown>, 'admit' | 'enqueue'>;

export interface FastKinds {
  submission: { job: Submission; view: SubmissionView };
  run: { job: RunJob; view: RunView };
}

export interface Handed<V> {
  // resolves once the record and the held job are in Redis: only then may the
  // request be answered (a duplicate: the id of the first, and nothing ran);
  // rejects when the job is not admitted (NotAdmitted) or Redis is away
  recorded: Promise<Admitted>;
  // the final view as this slot stored it; undefined when the slot stored
  // nothing (cancelled, failed and handed to the queue's retries, a duplicate,
  // or another worker's result stood). Never rejects.
  final: Promise<V | undefined>;
}

export interface LocalSlots {
  // Takes an idle slot of this process's worker for the job, has `recording`
  // admit it, starts it there once admitted, and queues it, held, meanwhile;
  // at once undefined, with nothing submitted, when no slot is idle or the job
  // is not small. `waitMs`: how long the request waits for the final view
  // before it answers with the id.
  submitAndRun<K extends keyof FastKinds>(
    kind: K,
    job: FastKinds[K]['job'],
    options: SubmitOptions,
    recording: Recording<FastKinds[K]['job']>,
    waitMs: number,
  ): Handed<FastKinds[K]['view']> | undefined;
}

// The most tests a submission may have to take the fast path.
export const FAST_MAX_TESTS = 10;
// The longest wall limit a run (or a submission's test) may have to take it.
export const FAST_MAX_WALL_MS = 10_000;

// Small jobs only: the fast path saves a few milliseconds, which is most of a
// trivial run's time and nothing to a long judging; a long job is better left to
// the queue, which keeps its priority order and spreads jobs over every worker's
// host instead of the host of the API that took them. A test set stays on the
// queue too (usually large; its size is unknown without reading it).
export function isSmall<K extends keyof FastKinds>(kind: K, job: FastKinds[K]['job']): boolean {
  // (the API holds every run's limits under the ceilings and derives a
  // submission's wall limit: one absent here is not known to be small)
  const wallMs = kind === 'run' ? (job as RunJob).limits.wallMs : (job as Submission).limits?.wallMs;
  const tests = kind === 'run' ? 1 : ((job as Submission).tests?.length ?? Infinity);
  return wallMs !== undefined && wallMs <= FAST_MAX_WALL_MS && tests <= FAST_MAX_TESTS;
}

// Time a run may take beyond its wall limit: the sandbox's set-up, collecting files.
const RUN_OVERHEAD_MS = 2_000;

// Whether no one can be listening to the job's events while it runs: its id is
// known only to the request, answered once the job ends or the wait does, and
// a run ends within its wall limit (and set-up). Such a run's output is not
// streamed (its stdout and stderr come whole in the answer): no Redis command
// per chunk for no listener. A submission's end has no such bound (its compile
// step): its events always go out.
export function unwatched<K extends keyof FastKinds>(kind: K, job: FastKinds[K]['job'], waitMs: number): boolean {
  if (kind !== 'run') return false;
  const wallMs = (job as RunJob).limits.wallMs;
  return wallMs !== undefined && wallMs + RUN_OVERHEAD_MS < waitMs;
}
