// The worker: takes submissions (and runs) from the queue, judges (or runs) each
// in one of its slots, stores the result once, and hands webhooks to their own queue. A worker killed
// mid-job leaves a stalled job (its lock expires) that another worker finishes.
// Sharing a process with the API, it also takes sync requests straight into an
// idle slot (the fast path, queue/local.ts), their jobs held in the queue.
import { DelayedError, type Job, Worker } from 'bullmq';
import { type Redis } from 'ioredis';
import { type Connection } from '../queue/redis.js';
import { type Logger } from 'pino';
import { judge } from '../judge/judge.js';
import { type Submission, type SubmissionResult } from '../judge/schema.js';
import { metrics } from '../queue/metrics.js';
import { type Images } from '../images/images.js';
import { type FastKinds, type Handed, isSmall, type LocalSlots, unwatched } from '../queue/local.js';
import { type Runs } from '../queue/runs.js';
import { SubmissionJob } from '../queue/schema.js';
import { type Admitted, CANCEL_CHANNEL, type JobStore, newId, type Stored, type SubmitOptions, type Submissions } from '../queue/submissions.js';
import { executeRun } from '../runs/runs.js';
import { type RunJob, type RunOutcome } from '../runs/schema.js';
import { QUEUE_SUBMISSIONS } from '../queue/schema.js';
import { workerName } from '../queue/workers.js';
import { SandboxError } from '../sandbox/errors.js';
import { probe } from '../sandbox/host.js';
import { type ContentStore } from '../store/content.js';
import { type DeliveryPolicy, enqueueDelivery, startDeliveries, webhookQueue } from './webhooks.js';

export interface WorkerSettings {
  slots: number;
  pinCpus: boolean;
  webhookSecret: string;
  webhookPolicy: DeliveryPolicy;
  store: ContentStore;
  runs: Runs;
  images: Images;
  // the sweep's grace (queue/submissions.ts, SWEEP); it runs every half of it
  orphanGraceMs: number;
}

// What a kind of job does in a slot: its work (its events published unless no
// one can be listening: queue/local.ts), its answer to a failure of ours, the
// body its webhook carries, and its metrics.
interface Handler<S, R> {
  execute(stored: Stored<S, R>, signal: AbortSignal, cpu: string | undefined, watched: boolean): Promise<R>;
  internalError(message: string): R;
  webhookBody(id: string, result: R): unknown;
  observe(stored: Stored<S, R>, result: R, seconds: number): void;
}

export interface RunningWorker {
  // the fast path's hand-off, for an API in this process
  local: LocalSlots;
  close(graceMs: number): Promise<void>;
}

// Lock settings: a dead worker's job is taken over within ~15 s; a live one
// renews its lock while it judges (the event loop stays free).
const LOCK_MS = 10_000;
const STALLED_CHECK_MS = 5_000;
// A fast-path job is held (delayed) this long, pushed back while its local run
// lives, like a lock: should this process die, it is due within HOLD_MS.
const HOLD_MS = LOCK_MS;

// `cpu`: the one CPU the slot's runs are pinned to, when pinning, so concurrent
// runs never share a core.
interface Slot {
  cpu: string | undefined;
}

// The worker's slots. A queued job waits for one (BullMQ hands out at most as
// many jobs as there are slots, so it waits only behind fast-path runs); the
// fast path takes one only when it is idle.
function slotPool(count: number, pin: boolean) {
  const free: Slot[] = Array.from({ length: count }, (_, i) => ({ cpu: pin ? String(i) : undefined }));
  const waiting: ((slot: Slot) => void)[] = [];
  return {
    idle: (): Slot | undefined => free.shift(),
    take: (): Promise<Slot> => {
      const slot = free.shift();
      return slot ? Promise.resolve(slot) : new Promise((resolve) => waiting.push(resolve));
    },
    give: (slot: Slot) => {
      const next = waiting.shift();
      if (next) next(slot);
      else free.push(slot);
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// A failure on our side the submission cannot be blamed for, after retries.
const internalError = (message: string): SubmissionResult => ({
  verdict: 'IE',
  score: 0,
  maxScore: 100,
  compile: { status: 'skipped', output: '' },
  tests: [],
  totalCpuMs: 0,
  maxCpuMs: 0,
  maxMemoryKb: 0,
  error: message,
});

// A run that could not be run, after retries: the error says what failed on our side.
const runInternalError = (message: string): RunOutcome => ({
  status: 'internal_error',
  exitCode: null,
  signal: null,
  signalName: null,
  cpuMs: 0,
  wallMs: 0,
  memoryKb: 0,
  stdout: '',
  stderr: '',
  error: { code: 'SANDBOX_SETUP', message },
});

export function startWorker(
  connection: Connection,
  subscriber: Redis,
  subs: Submissions,
  settings: WorkerSettings,
  log: Logger,
): RunningWorker {
  // The start-up sweep, before any job is taken: detecting the cgroup hierarchy
  // removes the run cgroups of processes that died mid-run (a SIGKILLed or
  // crashed worker) and only theirs. Their sandboxes died with them (init's
  // parent-death signal), their work dirs with their mount namespaces, and their
  // slot numbers with their flocks.
  probe();
  const name = workerName(settings.slots);
  const running = new Map<string, AbortController>();
  const slots = slotPool(settings.slots, settings.pinCpus);
  // fast-path jobs in hand, by id: settled once their result is stored and
  // their held job removed, or handed to the queue
  const fastRuns = new Map<string, Promise<unknown>>();
  const webhooks = webhookQueue(connection);
  const deliveries = startDeliveries(connection, settings.webhookSecret, settings.webhookPolicy);

  void subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (channel: string, id: string) => {
    if (channel === CANCEL_CHANNEL) running.get(id)?.abort();
  });

  const judging: Handler<Submission, SubmissionResult> = {
    execute: (stored, signal, cpu, watched) =>
      judge(stored.submission, {
        signal,
        store: settings.store,
        parallelism: 1,
        ...(cpu !== undefined ? { cpus: cpu } : {}),
        ...(watched ? { onTest: (test, index, total) => void subs.publish(stored.id, { type: 'test', index, total, test }) } : {}),
      }),
    internalError,
    webhookBody: (id, result) => ({ ...result, id, status: 'done' }),
    observe: (stored, result, seconds) => {
      metrics.judgeDuration.observe({ language: stored.submission.language }, seconds);
      metrics.submissions.inc({ language: stored.submission.language, verdict: result.verdict });
    },
  };
  const runHandler: Handler<RunJob, RunOutcome> = {
    execute: (stored, signal, cpu, watched) =>
      executeRun(stored.submission, {
        store: settings.store,
        images: settings.images,
        signal,
        ...(cpu !== undefined ? { cpus: cpu } : {}),
        ...(watched
          ? {
              onOutput: (stream, data) => {
                if (data) void settings.runs.publish(stored.id, { type: 'output', stream, data });
              },
            }
          : {}),
      }),
    internalError: (message) => runInternalError(message),
    webhookBody: (id, result) => ({ id, status: 'done', result }),
    observe: () => undefined,
  };

  let shuttingDown = false;

  // Stores the result once; whoever stores it also queues the webhook.
  async function finishAndNotify<S, R, V>(store: JobStore<S, R, V>, handler: Handler<S, R>, stored: Stored<S, R>, result: R): Promise<boolean> {
    if (!(await store.finish(stored.id, 'done', result, stored))) return false;
    if (stored.callbackUrl) {
      const body = JSON.stringify(handler.webhookBody(stored.id, result));
      await enqueueDelivery(webhooks, { id: stored.id, url: stored.callbackUrl, body }, settings.webhookPolicy);
    }
    return true;
  }

  // The job's work in `slot`, cancellable by its id: undefined when stopped
  // (cancelled, shutting down, or `abort` called by the caller).
  async function execute<S, R>(handler: Handler<S, R>, stored: Stored<S, R>, slot: Slot, watched = true, abort = new AbortController()): Promise<R | undefined> {
    metrics.queueWait.observe((Date.now() - stored.createdAt) / 1000);
    running.set(stored.id, abort);
    const started = Date.now();
    try {
      const result = await handler.execute(stored, abort.signal, slot.cpu, watched);
      if (abort.signal.aborted) return undefined;
      handler.observe(stored, result, (Date.now() - started) / 1000);
      return result;
    } finally {
      running.delete(stored.id);
    }
  }

  const failed = (error: unknown, id: string) => {
    metrics.internalErrors.inc();
    log.error({ err: error, id }, 'job failed');
  };

  // One job from the queue in one slot.
  async function handle<S, R, V>(job: Job, token: string | undefined, store: JobStore<S, R, V>, handler: Handler<S, R>) {
    const { id } = SubmissionJob.parse(job.data);
    // a held job come due while its fast-path run still goes on here: that run
    // ends first, then the job's state says whether anything is left to do
    await fastRuns.get(id);
    const stored = await store.load(id);
    // cancelled while queued, or already done by a worker that then stalled
    if (!stored || !(await store.markRunning(id))) return;
    const slot = await slots.take();
    try {
      const result = await execute(handler, stored, slot);
      if (result === undefined) {
        if (!shuttingDown) return; // cancelled by its submitter: the API wrote the state
        // handed back, without spending an attempt: another worker starts it again
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      await finishAndNotify(store, handler, stored, result);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // a job the engine refuses (e.g. a language gone from this host) is
      // retried elsewhere, then answered with an internal error
      failed(error, id);
      const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) {
        const message = error instanceof SandboxError ? `${error.code}: ${error.message}` : String(error);
        await finishAndNotify(store, handler, stored, handler.internalError(message));
        return;
      }
      throw error;
    } finally {
      slots.give(slot);
    }
  }

  // The fast path: the job admitted, then run in this slot while it is queued,
  // held, beside the run. Its result is stored only once the job is queued, the
  // way a queued job's is; `answer` gets the final view as soon as it is
  // stored. The held job goes after that, off the request's path. A run stopped
  // or failed here leaves its job to the queue, due at once.
  async function runHeld<S, R, V>(
    store: JobStore<S, R, V>,
    handler: Handler<S, R>,
    stored: Stored<S, R>,
    slot: Slot,
    watched: boolean,
    recorded: { admitted: Promise<Admitted>; queued: Promise<Job | undefined> },
    answer: (view: V) => void,
  ): Promise<void> {
    // nothing runs for a duplicate (its idempotency key seen before) or a job
    // not admitted
    if (!(await recorded.admitted.then((admitted) => !admitted.duplicate, () => false))) {
      slots.give(slot);
      return;
    }
    const abort = new AbortController();
    let held: Job | undefined;
    void recorded.queued.then((job) => {
      held = job;
      if (!job) abort.abort();
    });
    const renew = setInterval(() => void held?.changeDelay(HOLD_MS).catch(() => undefined), HOLD_MS / 2);
    let result: R | undefined;
    try {
      result = await execute(handler, stored, slot, watched, abort);
    } catch (error) {
      failed(error, stored.id);
    } finally {
      clearInterval(renew);
      slots.give(slot);
    }
    held = await recorded.queued;
    if (!held) return;
    if (result !== undefined) {
      const stood = await finishAndNotify(store, handler, stored, result).catch((error: unknown) => failed(error, stored.id));
      if (stood !== undefined) {
        if (stood) answer(store.viewOf({ ...stored, status: 'done', result }));
        // final now, whoever's result stood: the held job has nothing left to
        // do. Removed once the answer is on its way, not before it.
        await nextTurn();
        await held.remove().catch(() => undefined);
        return;
      }
    }
    // stopped, failed, or its result not stored: the queue's turn, at once
    await held.promote().catch(() => undefined);
  }

  // Admits the job through `recording` (the API's store), holds it in the queue
  // and runs it in `slot`.
  function handOff<S, R, V>(
    store: JobStore<S, R, V>,
    handler: Handler<S, R>,
    job: S,
    options: SubmitOptions,
    recording: Pick<JobStore<S, R, V>, 'admit' | 'enqueue'>,
    slot: Slot,
    watched: boolean,
  ): Handed<V> {
    const id = newId();
    const how = { ...options, held: { id, delayMs: HOLD_MS, by: name } };
    const admitted = recording.admit(job, how);
    // queued on the loop's next turn: the run, started once admitted, goes first
    const queued = admitted.then((first) => (first.duplicate ? undefined : nextTurn().then(() => recording.enqueue(id, how))));
    const stored: Stored<S, R> = {
      id,
      tenant: options.tenant,
      status: 'running',
      submission: job,
      ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
      createdAt: Date.now(),
    };
    let answer: (view: V | undefined) => void = () => undefined;
    const final = new Promise<V | undefined>((resolve) => (answer = resolve));
    const done = runHeld(store, handler, stored, slot, watched, { admitted, queued: queued.catch(() => undefined) }, answer)
      .catch((error: unknown) => failed(error, id))
      .finally(() => {
        answer(undefined);
        fastRuns.delete(id);
      });
    fastRuns.set(id, done);
    return { recorded: queued.then(() => admitted), final };
  }

  const local: LocalSlots = {
    submitAndRun(kind, job, options, recording, waitMs) {
      if (shuttingDown || !isSmall(kind, job)) return undefined;
      const slot = slots.idle();
      if (!slot) return undefined;
      const watched = !unwatched(kind, job, waitMs);
      const handed =
        kind === 'run'
          ? handOff(settings.runs, runHandler, job as RunJob, options, recording as Runs, slot, watched)
          : handOff(subs, judging, job as Submission, options, recording as Submissions, slot, watched);
      // (the kind picks the store, and so the view: TypeScript cannot follow the generic)
      return handed as Handed<FastKinds[typeof kind]['view']>;
    },
  };

  // Jobs admitted by an API that died before queueing them are queued here,
  // by whichever worker sweeps first; places under the caps held by records
  // gone are freed; jobs whose BullMQ job failed for good without ending them
  // (stalled too often, or their internal error not stored) end with one.
  async function sweepKind<S, R, V>(store: JobStore<S, R, V>, handler: Handler<S, R>): Promise<void> {
    const { queued, lost } = await store.sweep(settings.orphanGraceMs);
    if (queued.length > 0) log.warn({ ids: queued }, 'queued jobs admitted but never queued');
    for (const id of lost) {
      const stored = await store.load(id);
      failed(new Error('its queue job failed for good without a result'), id);
      if (stored) await finishAndNotify(store, handler, stored, handler.internalError('the job failed on our side (its worker stopped too often)'));
    }
  }
  const sweep = async () => {
    await sweepKind(subs, judging);
    await sweepKind(settings.runs, runHandler);
  };
  const sweeper = setInterval(() => void sweep().catch((error: unknown) => log.warn({ err: error }, 'sweep')), settings.orphanGraceMs / 2);
  sweeper.unref();

  const worker = new Worker(
    QUEUE_SUBMISSIONS,
    (job, token) => (job.name === 'run' ? handle(job, token, settings.runs, runHandler) : handle(job, token, subs, judging)),
    { connection, name, concurrency: settings.slots, lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS, maxStalledCount: 3 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'worker error'));

  return {
    local,
    // Stop taking jobs; let running ones finish within the grace, then cancel
    // them: their jobs go back to the queue (stalled, or held ones made due) for
    // another worker.
    async close(graceMs) {
      shuttingDown = true;
      clearInterval(sweeper);
      const closing = Promise.all([worker.close(), ...fastRuns.values()]);
      const timer = setTimeout(() => {
        for (const abort of running.values()) abort.abort();
      }, graceMs);
      await closing;
      clearTimeout(timer);
      await Promise.all([deliveries.close(), webhooks.close()]);
    },
  };
}
