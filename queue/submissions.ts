// Submissions (and runs, the same way: jobStore) in Redis, shared by the API and
// the workers: accepting one (state first, then the job, so an accepted one
// always has both), reading it, cancelling it, writing its result exactly once,
// and its events on pub/sub.
import { randomBytes } from 'node:crypto';
import { type Job, Queue } from 'bullmq';
import { type Redis } from 'ioredis';
import { type Submission, type SubmissionResult } from '../judge/schema.js';
import {
  type JobEvent,
  JobEvent as JobEventSchema,
  QUEUE_SUBMISSIONS,
  RecentSubmission,
  type SubmissionJob,
  type SubmissionState,
  type SubmissionView,
} from './schema.js';

const key = {
  record: (kind: string, id: string) => `cellblock:${kind}:${id}`,
  idempotency: (tenant: string, idempotencyKey: string) => `cellblock:idempotency:${tenant}:${idempotencyKey}`,
  active: (tenant: string) => `cellblock:active:${tenant}`,
  events: (id: string) => `cellblock:events:${id}`,
  recent: 'cellblock:recent',
};
// how many finished submissions the operator's dashboard looks back over
const RECENT_MAX = 500;
export const CANCEL_CHANNEL = 'cellblock:cancel';
const EVENTS_PATTERN = 'cellblock:events:*';

export interface SubmitOptions {
  tenant: string;
  callbackUrl?: string;
  idempotencyKey?: string;
  priority?: number;
  // the fast path (queue/local.ts): the id its slot runs, and how long the job
  // is held (delayed) before any worker may take it
  held?: { id: string; delayMs: number };
}

// `submission`: what was submitted (a Submission, or a run's job)
export interface Stored<S, R> {
  id: string;
  tenant: string;
  status: SubmissionState;
  submission: S;
  callbackUrl?: string;
  result?: R;
  createdAt: number;
  finishedAt?: number;
}
export type StoredSubmission = Stored<Submission, SubmissionResult>;

// Moves a submission to a final state only once: a second worker finishing a
// stalled job, or a cancel racing the result, changes nothing. The "done" event
// is published by the same script, so it goes out exactly when the state moves,
// in one round trip.
const FINISH = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'done' or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'result', ARGV[2], 'finishedAt', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('DECR', KEYS[2])
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[5])
  redis.call('LTRIM', KEYS[3], 0, ARGV[6] - 1)
end
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 1`;

// A new record, its expiry and its tenant's active count at once (ARGV: the
// TTL, then the fields and values).
const RECORD = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return 1`;

const MARK_RUNNING = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

export const newId = (): string => randomBytes(18).toString('base64url');

export interface JobStore<S, R, V> {
  // `job`: the BullMQ job added (none for a duplicate)
  submit(submission: S, options: SubmitOptions): Promise<{ id: string; duplicate: boolean; job?: Job<SubmissionJob> }>;
  load(id: string): Promise<Stored<S, R> | undefined>;
  loadOwned(tenant: string, id: string): Promise<Stored<S, R> | undefined>;
  // who sent it and in what language (submissions), without loading it
  summary(id: string): Promise<{ tenant: string; language: string | null } | undefined>;
  view(tenant: string, id: string): Promise<V | undefined>;
  activeCount(tenant: string): Promise<number>;
  markRunning(id: string): Promise<boolean>;
  // `known`: the record as loaded (or submitted) before, saving a read of it
  finish(id: string, status: 'done' | 'cancelled', result?: R, known?: Stored<S, R>): Promise<boolean>;
  // what a record looks like over the API
  viewOf(stored: Stored<S, R>): V;
  cancel(tenant: string, id: string): Promise<'cancelled' | 'finished' | 'not_found'>;
  publish(id: string, event: JobEvent): Promise<void>;
  // the last submissions finished, newest first
  recent(): Promise<RecentSubmission[]>;
  queue: Queue<SubmissionJob>;
}
export type Submissions = JobStore<Submission, SubmissionResult, SubmissionView>;

// What differs between submissions and runs: their Redis key and BullMQ job
// names, their view, and the "done" event.
export interface JobKind<S, R, V> {
  name: 'submission' | 'run';
  jobName: 'judge' | 'run';
  view(stored: Stored<S, R>): V;
  done(view: V): JobEvent;
  // submissions: kept beside the record, and in the list of recent verdicts
  language?(submission: S): string;
  recent?(stored: Stored<S, R>, status: 'done' | 'cancelled', result: R | undefined): RecentSubmission;
}

export function toView(stored: StoredSubmission): SubmissionView {
  return { ...(stored.result ?? {}), id: stored.id, status: stored.status };
}

export function submissions(redis: Redis, resultTtlSeconds: number): Submissions {
  const queue = new Queue<SubmissionJob>(QUEUE_SUBMISSIONS, { connection: redis });
  return jobStore(redis, resultTtlSeconds, queue, {
    name: 'submission',
    jobName: 'judge',
    view: toView,
    done: (view) => ({ type: 'done', submission: view }),
    language: (submission) => submission.language,
    recent: (stored, status, result) => ({
      id: stored.id,
      tenant: stored.tenant,
      language: stored.submission.language,
      status,
      verdict: result?.verdict ?? null,
      at: Date.now(),
    }),
  });
}

// Both kinds share one queue (so one worker's slots bound all its sandboxes),
// one active count per tenant, the events channels and the cancel channel.
export function jobStore<S, R, V>(redis: Redis, resultTtlSeconds: number, queue: Queue<SubmissionJob>, kind: JobKind<S, R, V>): JobStore<S, R, V> {
  const recordKey = (id: string) => key.record(kind.name, id);

  async function load(id: string): Promise<Stored<S, R> | undefined> {
    const fields = await redis.hgetall(recordKey(id));
    if (!fields.status || !fields.submission || !fields.tenant) return undefined;
    return {
      id,
      tenant: fields.tenant,
      status: fields.status as SubmissionState,
      submission: JSON.parse(fields.submission) as S,
      ...(fields.callbackUrl ? { callbackUrl: fields.callbackUrl } : {}),
      ...(fields.result ? { result: JSON.parse(fields.result) as R } : {}),
      createdAt: Number(fields.createdAt),
      ...(fields.finishedAt ? { finishedAt: Number(fields.finishedAt) } : {}),
    };
  }

  // Another tenant's submission does not exist, as far as this one can tell.
  async function loadOwned(tenant: string, id: string): Promise<Stored<S, R> | undefined> {
    const stored = await load(id);
    return stored?.tenant === tenant ? stored : undefined;
  }

  const publish = async (id: string, event: JobEvent) => {
    await redis.publish(key.events(id), JSON.stringify(event));
  };

  async function finish(id: string, status: 'done' | 'cancelled', result?: R, known?: Stored<S, R>): Promise<boolean> {
    const stored = known ?? (await load(id));
    if (!stored) return false;
    const done: JobEvent = kind.done(kind.view({ ...stored, status, ...(result ? { result } : {}) }));
    return (
      (await redis.eval(
        FINISH,
        3,
        recordKey(id),
        key.active(stored.tenant),
        key.recent,
        status,
        result ? JSON.stringify(result) : '',
        String(Date.now()),
        String(resultTtlSeconds),
        kind.recent ? JSON.stringify(kind.recent(stored, status, result)) : '',
        String(RECENT_MAX),
        key.events(id),
        JSON.stringify(done),
      )) === 1
    );
  }

  return {
    queue,
    load,
    publish,
    finish,
    viewOf: kind.view,

    async submit(submission, options) {
      const id = options.held?.id ?? newId();
      if (options.idempotencyKey) {
        // a retried POST with the same key gets the first submission back
        const idempotencyKey = key.idempotency(options.tenant, options.idempotencyKey);
        const claimed = await redis.set(idempotencyKey, id, 'EX', resultTtlSeconds, 'NX');
        if (claimed !== 'OK') {
          const existing = await redis.get(idempotencyKey);
          if (existing) return { id: existing, duplicate: true };
        }
      }
      const fields = {
        tenant: options.tenant,
        // beside the submission, so listing it never reads the source and tests
        ...(kind.language ? { language: kind.language(submission) } : {}),
        // held: run at once by the fast path, before anyone knows its id
        status: options.held ? 'running' : 'queued',
        submission: JSON.stringify(submission),
        ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
        createdAt: String(Date.now()),
      };
      const recorded = redis.eval(RECORD, 2, recordKey(id), key.active(options.tenant), String(resultTtlSeconds), ...Object.entries(fields).flat());
      // A held job is delayed: no worker reads it before its record is there,
      // so both writes go at once; otherwise the record comes first.
      if (!options.held) await recorded;
      const [job] = await Promise.all([
        queue.add(
          kind.jobName,
          { id },
          {
            jobId: id,
            ...(options.priority !== undefined ? { priority: options.priority } : {}),
            ...(options.held ? { delay: options.held.delayMs } : {}),
            // internal failures are retried; a submission's own failure is a result
            attempts: 3,
            backoff: { type: 'exponential', delay: 1_000 },
            removeOnComplete: true,
            removeOnFail: { age: resultTtlSeconds },
          },
        ),
        recorded,
      ]);
      return { id, duplicate: false, job };
    },

    loadOwned,

    async summary(id) {
      const [tenant, language] = await redis.hmget(recordKey(id), 'tenant', 'language');
      return tenant ? { tenant, language: language ?? null } : undefined;
    },

    async recent() {
      const entries = await redis.lrange(key.recent, 0, -1);
      return entries.flatMap((entry) => {
        const parsed = RecentSubmission.safeParse(JSON.parse(entry));
        return parsed.success ? [parsed.data] : [];
      });
    },

    async view(tenant, id) {
      const stored = await loadOwned(tenant, id);
      return stored && kind.view(stored);
    },

    async activeCount(tenant) {
      return Number((await redis.get(key.active(tenant))) ?? 0);
    },

    async markRunning(id) {
      const running: JobEvent = { type: 'status', status: 'running' };
      return (await redis.eval(MARK_RUNNING, 1, recordKey(id), key.events(id), JSON.stringify(running))) === 1;
    },

    async cancel(tenant, id) {
      const stored = await loadOwned(tenant, id);
      if (!stored) return 'not_found';
      if (!(await finish(id, 'cancelled'))) return 'finished';
      // a queued job is dropped; a running one is stopped by its worker
      await queue.remove(id).catch(() => 0);
      await redis.publish(CANCEL_CHANNEL, id);
      return 'cancelled';
    },
  };
}

// One subscriber connection for all submissions' events (pattern subscription),
// fanned out to listeners by id.
export interface EventHub {
  listen(id: string, listener: (event: JobEvent) => void): () => void;
  close(): Promise<void>;
}

// Resolves once the subscription is in place: no event published after it is missed.
export async function eventHub(subscriber: Redis): Promise<EventHub> {
  const listeners = new Map<string, Set<(event: JobEvent) => void>>();
  const prefix = EVENTS_PATTERN.slice(0, -1);
  await subscriber.psubscribe(EVENTS_PATTERN);
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    const set = listeners.get(channel.slice(prefix.length));
    if (!set) return;
    const parsed = JobEventSchema.safeParse(JSON.parse(message));
    if (parsed.success) for (const listener of set) listener(parsed.data);
  });
  return {
    listen(id, listener) {
      const set = listeners.get(id) ?? new Set();
      set.add(listener);
      listeners.set(id, set);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(id);
      };
    },
    async close() {
      listeners.clear();
      await subscriber.quit().catch(() => undefined);
    },
  };
}

// Resolves with the submission once it is done or cancelled, or with its
// current state when `timeoutMs` passes first.
export async function waitForFinal<V extends { status: SubmissionState }>(
  subs: { view(tenant: string, id: string): Promise<V | undefined> },
  hub: EventHub,
  tenant: string,
  id: string,
  timeoutMs: number,
): Promise<V | undefined> {
  let stop = () => {};
  // listen before reading, so a result landing in between is not missed
  const final = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const unlisten = hub.listen(id, (event) => {
      if (event.type === 'done') resolve();
    });
    stop = () => {
      clearTimeout(timer);
      unlisten();
      resolve();
    };
  });
  const now = await subs.view(tenant, id);
  if (!now || now.status === 'done' || now.status === 'cancelled') {
    stop();
    return now;
  }
  await final;
  stop();
  return subs.view(tenant, id);
}
