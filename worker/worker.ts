// The worker: takes submissions (and runs) from the queue, judges (or runs) each
// in one of its slots, stores the result once, and hands webhooks to their own queue. A worker killed
// mid-job leaves a stalled job (its lock expires) that another worker finishes.
import { DelayedError, type Job, Worker } from 'bullmq';
import { type Redis } from 'ioredis';
import { type Connection } from '../queue/redis.js';
import { type Logger } from 'pino';
import { judge } from '../judge/judge.js';
import { type Submission, type SubmissionResult } from '../judge/schema.js';
import { metrics } from '../queue/metrics.js';
import { type Images } from '../images/images.js';
import { type Runs } from '../queue/runs.js';
import { SubmissionJob } from '../queue/schema.js';
import { CANCEL_CHANNEL, type JobStore, type Stored, type Submissions } from '../queue/submissions.js';
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
}

// What a kind of job does in a slot: its work, its answer to a failure of ours,
// the body its webhook carries, and its metrics.
interface Handler<S, R> {
  execute(stored: Stored<S, R>, signal: AbortSignal, cpu: string | undefined): Promise<R>;
  internalError(message: string): R;
  webhookBody(id: string, result: R): unknown;
  observe(stored: Stored<S, R>, result: R, seconds: number): void;
}

export interface RunningWorker {
  close(graceMs: number): Promise<void>;
}

// Lock settings: a dead worker's job is taken over within ~15 s; a live one
// renews its lock while it judges (the event loop stays free).
const LOCK_MS = 10_000;
const STALLED_CHECK_MS = 5_000;

// Each slot takes one CPU when pinning, so concurrent runs never share a core.
function cpuPool(slots: number, pin: boolean) {
  const free = Array.from({ length: slots }, (_, i) => String(i));
  return {
    take: () => (pin ? free.shift() : undefined),
    give: (cpu: string | undefined) => {
      if (cpu !== undefined) free.push(cpu);
    },
  };
}

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
  const running = new Map<string, AbortController>();
  const cpus = cpuPool(settings.slots, settings.pinCpus);
  const webhooks = webhookQueue(connection);
  const deliveries = startDeliveries(connection, settings.webhookSecret, settings.webhookPolicy);

  void subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (channel: string, id: string) => {
    if (channel === CANCEL_CHANNEL) running.get(id)?.abort();
  });

  const judging: Handler<Submission, SubmissionResult> = {
    execute: (stored, signal, cpu) =>
      judge(stored.submission, {
        signal,
        store: settings.store,
        parallelism: 1,
        ...(cpu !== undefined ? { cpus: cpu } : {}),
        onTest: (test, index, total) => void subs.publish(stored.id, { type: 'test', index, total, test }),
      }),
    internalError,
    webhookBody: (id, result) => ({ ...result, id, status: 'done' }),
    observe: (stored, result, seconds) => {
      metrics.judgeDuration.observe({ language: stored.submission.language }, seconds);
      metrics.submissions.inc({ language: stored.submission.language, verdict: result.verdict });
    },
  };
  const runHandler: Handler<RunJob, RunOutcome> = {
    execute: (stored, signal, cpu) =>
      executeRun(stored.submission, {
        store: settings.store,
        images: settings.images,
        signal,
        ...(cpu !== undefined ? { cpus: cpu } : {}),
        onOutput: (stream, data) => {
          if (data) void settings.runs.publish(stored.id, { type: 'output', stream, data });
        },
      }),
    internalError: (message) => runInternalError(message),
    webhookBody: (id, result) => ({ id, status: 'done', result }),
    observe: () => undefined,
  };

  let shuttingDown = false;

  // One job in one slot; its result is written once, and whoever writes it also
  // queues the webhook.
  async function handle<S, R, V>(job: Job, token: string | undefined, store: JobStore<S, R, V>, handler: Handler<S, R>) {
    const { id } = SubmissionJob.parse(job.data);
    const stored = await store.load(id);
    // cancelled while queued, or already done by a worker that then stalled
    if (!stored || !(await store.markRunning(id))) return;
    const finishAndNotify = async (result: R) => {
      if (!(await store.finish(id, 'done', result)) || !stored.callbackUrl) return;
      await enqueueDelivery(webhooks, { id, url: stored.callbackUrl, body: JSON.stringify(handler.webhookBody(id, result)) }, settings.webhookPolicy);
    };
    metrics.queueWait.observe((Date.now() - stored.createdAt) / 1000);
    const abort = new AbortController();
    running.set(id, abort);
    const cpu = cpus.take();
    const started = Date.now();
    try {
      const result = await handler.execute(stored, abort.signal, cpu);
      if (abort.signal.aborted) {
        if (!shuttingDown) return; // cancelled by its submitter: the API wrote the state
        // handed back, without spending an attempt: another worker starts it again
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      handler.observe(stored, result, (Date.now() - started) / 1000);
      await finishAndNotify(result);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // a job the engine refuses (e.g. a language gone from this host) is
      // retried elsewhere, then answered with an internal error
      metrics.internalErrors.inc();
      log.error({ err: error, id }, 'job failed');
      const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) {
        const message = error instanceof SandboxError ? `${error.code}: ${error.message}` : String(error);
        await finishAndNotify(handler.internalError(message));
        return;
      }
      throw error;
    } finally {
      running.delete(id);
      cpus.give(cpu);
    }
  }

  const worker = new Worker(
    QUEUE_SUBMISSIONS,
    (job, token) => (job.name === 'run' ? handle(job, token, settings.runs, runHandler) : handle(job, token, subs, judging)),
    { connection, name: workerName(settings.slots), concurrency: settings.slots, lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS, maxStalledCount: 3 },
  );
  worker.on('error', (error) => log.error({ err: error }, 'worker error'));

  return {
    // Stop taking jobs; let running ones finish within the grace, then cancel
    // them: their jobs go back to the queue (stalled) for another worker.
    async close(graceMs) {
      shuttingDown = true;
      const closing = worker.close();
      const timer = setTimeout(() => {
        for (const abort of running.values()) abort.abort();
      }, graceMs);
      await closing;
      clearTimeout(timer);
      await Promise.all([deliveries.close(), webhooks.close()]);
    },
  };
}
