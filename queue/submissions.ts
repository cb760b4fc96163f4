// Submissions (and runs, the same way: jobStore) in Redis, shared by the API and
// the workers: accepting one (state first, then the job, so an accepted one
// always has both, or is found by the sweep and queued), reading it, cancelling
// it, writing its result exactly once, and its events on pub/sub.
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
  // the tenant's jobs queued or running (a set, not a counter: each member can be
  // checked against its record, so a place is never lost for good)
  active: (tenant: string) => `cellblock:active:${tenant}`,
  // every kind's jobs queued or running, member "id:tenant", scored by when
  // they were admitted or last seen queued (the sweep's index)
  unfinished: (kind: string) => `cellblock:unfinished:${kind}`,
  events: (id: string) => `cellblock:events:${id}`,
  recent: 'cellblock:recent',
};
// how many finished submissions the operator's dashboard looks back over
const RECENT_MAX = 500;
// how many unfinished jobs one sweep looks at (the oldest first)
const SWEEP_BATCH = 500;
export const CANCEL_CHANNEL = 'cellblock:cancel';
const EVENTS_PATTERN = 'cellblock:events:*';

// A fixed window of requests counted in Redis (api/auth.ts names it): the
// count's key, how long the key lives, and the most the window allows.
export interface RateWindow {
  key: string;
  expireSeconds: number;
  limit: number;
  // for the refusal: "requests a minute", and the seconds until the window ends
  what: string;
  retryAfter: number;
}

export interface SubmitOptions {
  tenant: string;
  callbackUrl?: string;
  idempotencyKey?: string;
  priority?: number;
  // Admission, checked where the record is written, in the same round trip and
  // atomically: the tenant's cap on its queued and running jobs, and a request
  // window to count this one in.
  maxActive?: number;
  rate?: RateWindow;
  // the fast path (queue/local.ts): the id its slot runs, how long the job is
  // held (delayed) before any worker may take it, and the worker running it
  held?: { id: string; delayMs: number; by: string };
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
redis.call('ZREM', KEYS[2], ARGV[9])
redis.call('ZREM', KEYS[4], ARGV[10])
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[5])
  redis.call('LTRIM', KEYS[3], 0, ARGV[6] - 1)
end
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 1`;

// Admits a job and writes its record, or refuses it, in one round trip and
// atomically (two requests cannot both take the cap's last place): the request
// is counted in its rate window; a retried one (its idempotency key seen) gets
// the first one's id; the tenant's active count is held under its cap; only
// then the record, its expiry, the idempotency key and its places in the
// tenant's active set and the sweep's index.
// KEYS: record, active set, idempotency key, rate window ('' for none), index.
// ARGV: TTL, cap ('' for none), rate limit, rate window's expiry, id, now (ms),
// member in the active set, member in the index, then the record's fields and
// values.
const ADMIT = `
if KEYS[4] ~= '' then
  local count = redis.call('INCR', KEYS[4])
  if count == 1 then redis.call('EXPIRE', KEYS[4], ARGV[4]) end
  if count > tonumber(ARGV[3]) then return {'rate'} end
end
if KEYS[3] ~= '' then
  local first = redis.call('GET', KEYS[3])
  if first then return {'duplicate', first} end
end
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'active'} end
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[8])
return {'admitted'}`;

// A job admitted but not queued (BullMQ's add failed) is withdrawn, so that
// nothing is left to wait for a worker that will never come: its record, its
// place under the cap, and its idempotency key (a retry must not be answered
// with it). KEYS: record, active set, idempotency key ('' for none), index.
// ARGV: id, member in the active set, member in the index. When Redis cannot be
// reached for it, the sweep queues the job later instead (SWEEP).
const WITHDRAW = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[3])
if KEYS[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1`;

// What a process that died between admitting a job and queueing it (or a
// withdrawal Redis was away for) leaves behind is found here: of the jobs
// admitted before the cutoff and not finished, one whose record is gone (it
// expired) or final gives up its places; one still queued or running is
// looked at again later, and returned when BullMQ has no job for it, to be
// queued (a worker finding its record final skips it), or when its job failed
// for good without ending it (stalled more often than BullMQ allows, or its
// internal error not stored), to be ended by a worker. Returned ones are
// claimed: a second sweep does not return them again before the cutoff passes
// them once more.
// KEYS: index. ARGV: cutoff (ms), now (ms), the record key's prefix, the
// active set's prefix, the kind (members of active sets are "kind:id"), the
// BullMQ job key's prefix, the most entries to look at, BullMQ's set of failed
// jobs.
const SWEEP = `
local orphans, lost = {}, {}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[7]))) do
  local colon = string.find(entry, ':', 1, true)
  local id, tenant = string.sub(entry, 1, colon - 1), string.sub(entry, colon + 1)
  local status = redis.call('HGET', ARGV[3] .. id, 'status')
  if status ~= 'queued' and status ~= 'running' then
    redis.call('ZREM', KEYS[1], entry)
    redis.call('ZREM', ARGV[4] .. tenant, ARGV[5] .. ':' .. id)
  else
    redis.call('ZADD', KEYS[1], ARGV[2], entry)
    if redis.call('EXISTS', ARGV[6] .. id) == 0 then table.insert(orphans, id)
    elseif redis.call('ZSCORE', ARGV[8], id) then table.insert(lost, id) end
  end
end
return {orphans, lost}`;

// Why a job was not admitted: its tenant's rate window is full, or its cap on
// active jobs is reached. The API answers 429.
export class NotAdmitted extends Error {
  override name = 'NotAdmitted';
  readonly reason: 'rate' | 'active';
  readonly retryAfter: number;
  constructor(reason: NotAdmitted['reason'], message: string, retryAfter: number) {
    super(message);
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}

// A request past its rate window (counted here, or by the API: api/auth.ts).
export const overRate = (rate: RateWindow): NotAdmitted => new NotAdmitted('rate', `over ${rate.limit} ${rate.what}`, rate.retryAfter);

const MARK_RUNNING = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

// Ids are 18 random bytes, taken from a pool refilled 256 ids at a time: a
// randomBytes() call per id cost ~20 µs of a sync run's path. Each byte is
// used once.
const ID_BYTES = 18;
let idPool = Buffer.alloc(0);
let idPoolUsed = 0;
export function newId(): string {
  if (idPoolUsed + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * 256);
    idPoolUsed = 0;
  }
  idPoolUsed += ID_BYTES;
  return idPool.toString('base64url', idPoolUsed - ID_BYTES, idPoolUsed);
}

export interface Admitted {
  id: string;
  // an idempotency key seen before: the first job's id, and nothing written
  duplicate: boolean;
}

export interface JobStore<S, R, V> {
  // Admits the job and writes its record (NotAdmitted when refused), then
  // queues it; `job`: the BullMQ job added (none for a duplicate).
  submit(submission: S, options: SubmitOptions): Promise<Admitted & { job?: Job<SubmissionJob> }>;
  // submit's two steps, for the fast path (queue/local.ts), which starts the
  // run between them
  admit(submission: S, options: SubmitOptions): Promise<Admitted>;
  enqueue(id: string, options: SubmitOptions): Promise<Job<SubmissionJob>>;
  load(id: string): Promise<Stored<S, R> | undefined>;
  loadOwned(tenant: string, id: string): Promise<Stored<S, R> | undefined>;
  // who sent it and in what language (submissions), without loading it
  summary(id: string): Promise<{ tenant: string; language: string | null } | undefined>;
  view(tenant: string, id: string): Promise<V | undefined>;
  markRunning(id: string): Promise<boolean>;
  // `known`: the record as loaded (or submitted) before, saving a read of it
  finish(id: string, status: 'done' | 'cancelled', result?: R, known?: Stored<S, R>): Promise<boolean>;
  // what a record looks like over the API
  viewOf(stored: Stored<S, R>): V;
  cancel(tenant: string, id: string): Promise<'cancelled' | 'finished' | 'not_found'>;
  // Queues the jobs admitted over `graceMs` ago that have a record and no
  // BullMQ job, and frees the places of those whose record is gone (SWEEP);
  // returns the ids queued, and those whose BullMQ job failed for good
  // leaving them unfinished (`lost`: for the worker to end).
  sweep(graceMs: number): Promise<{ queued: string[]; lost: string[] }>;
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
  const unfinished = key.unfinished(kind.name);
  // a job's members in its tenant's active set and in the sweep's index
  const activeMember = (id: string) => `${kind.name}:${id}`;
  const indexMember = (id: string, tenant: string) => `${id}:${tenant}`;

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
        4,
        recordKey(id),
        key.active(stored.tenant),
        key.recent,
        unfinished,
        status,
        result ? JSON.stringify(result) : '',
        String(Date.now()),
        String(resultTtlSeconds),
        kind.recent ? JSON.stringify(kind.recent(stored, status, result)) : '',
        String(RECENT_MAX),
        key.events(id),
        JSON.stringify(done),
        activeMember(id),
        indexMember(id, stored.tenant),
      )) === 1
    );
  }

  async function admit(submission: S, options: SubmitOptions): Promise<Admitted> {
    const id = options.held?.id ?? newId();
    const now = String(Date.now());
    const fields = {
      tenant: options.tenant,
      // beside the submission, so listing it never reads the source and tests
      ...(kind.language ? { language: kind.language(submission) } : {}),
      // held: run at once by the fast path, before anyone knows its id
      status: options.held ? 'running' : 'queued',
      submission: JSON.stringify(submission),
      ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
      createdAt: now,
    };
    const { rate } = options;
    const [outcome, first] = (await redis.eval(
      ADMIT,
      5,
      recordKey(id),
      key.active(options.tenant),
      options.idempotencyKey ? key.idempotency(options.tenant, options.idempotencyKey) : '',
      rate?.key ?? '',
      unfinished,
      String(resultTtlSeconds),
      options.maxActive === undefined ? '' : String(options.maxActive),
      String(rate?.limit ?? 0),
      String(rate?.expireSeconds ?? 0),
      id,
      now,
      activeMember(id),
      indexMember(id, options.tenant),
      ...Object.entries(fields).flat(),
    )) as [string, string?];
    if (outcome === 'duplicate' && first) return { id: first, duplicate: true };
    if (outcome === 'rate' && rate) throw overRate(rate);
    if (outcome === 'active') throw new NotAdmitted('active', `${options.maxActive} submissions and runs queued or running already`, 1);
    return { id, duplicate: false };
  }

  // The job on the queue, once its record is there: a worker that takes it
  // finds the record. A held one is delayed: no worker takes it while the
  // fast path runs it. Not queued, it is withdrawn (WITHDRAW) as far as Redis
  // can be reached, and the caller answers with the error: nothing was accepted.
  const enqueue = (id: string, options: SubmitOptions): Promise<Job<SubmissionJob>> =>
    add(id, options).catch(async (error: unknown) => {
      const idempotencyKey = options.idempotencyKey ? key.idempotency(options.tenant, options.idempotencyKey) : '';
      await redis
        .eval(WITHDRAW, 4, recordKey(id), key.active(options.tenant), idempotencyKey, unfinished, id, activeMember(id), indexMember(id, options.tenant))
        .catch(() => undefined);
      throw error;
    });

  const add = (id: string, options: Pick<SubmitOptions, 'priority' | 'held'>): Promise<Job<SubmissionJob>> =>
    queue.add(
      kind.jobName,
      { id, ...(options.held ? { heldBy: options.held.by } : {}) },
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
    );

  return {
    queue,
    load,
    publish,
    finish,
    viewOf: kind.view,

    admit,
    enqueue,

    async submit(submission, options) {
      const admitted = await admit(submission, options);
      return admitted.duplicate ? admitted : { ...admitted, job: await enqueue(admitted.id, options) };
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

    async sweep(graceMs) {
      const now = Date.now();
      const [orphans, lost] = (await redis.eval(
        SWEEP,
        1,
        unfinished,
        String(now - graceMs),
        String(now),
        recordKey(''),
        key.active(''),
        kind.name,
        queue.toKey(''),
        String(SWEEP_BATCH),
        queue.toKey('failed'),
      )) as [string[], string[]];
      // (its priority was the request's, and is not kept: it joins the queue's end)
      for (const id of orphans) await add(id, {});
      return { queued: orphans, lost };
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
