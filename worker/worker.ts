// The worker: takes submissions from the queue, judges each in one of its slots,
// stores the result once, and hands webhooks to their own queue. A worker killed
// mid-job leaves a stalled job (its lock expires) that another worker finishes.
import { DelayedError, Worker } from 'bullmq';
import { type Redis } from 'ioredis';
import { type Connection } from '../queue/redis.js';
import { type Logger } from 'pino';
import { judge } from '../judge/judge.js';
import { type SubmissionResult } from '../judge/schema.js';
import { metrics } from '../queue/metrics.js';
import { SubmissionJob } from '../queue/schema.js';
import { CANCEL_CHANNEL, type Submissions } from '../queue/submissions.js';
import { QUEUE_SUBMISSIONS } from '../queue/schema.js';
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

  // The result is written once; whoever writes it also queues the webhook.
  async function finishAndNotify(id: string, result: SubmissionResult, callbackUrl: string | undefined) {
    if (!(await subs.finish(id, 'done', result)) || !callbackUrl) return;
    await enqueueDelivery(webhooks, { id, url: callbackUrl, body: JSON.stringify({ ...result, id, status: 'done' }) }, settings.webhookPolicy);
  }

  let shuttingDown = false;
  const worker = new Worker(
    QUEUE_SUBMISSIONS,
    async (job, token) => {
      const { id } = SubmissionJob.parse(job.data);
      const stored = await subs.load(id);
      // cancelled while queued, or already judged by a worker that then stalled
      if (!stored || !(await subs.markRunning(id))) return;
      metrics.queueWait.observe((Date.now() - stored.createdAt) / 1000);
      const abort = new AbortController();
      running.set(id, abort);
      const cpu = cpus.take();
      const started = Date.now();
      try {
        const result = await judge(stored.submission, {
          signal: abort.signal,
          store: settings.store,
          parallelism: 1,
          ...(cpu !== undefined ? { cpus: cpu } : {}),
          onTest: (test, index, total) => void subs.publish(id, { type: 'test', index, total, test }),
        });
        if (abort.signal.aborted) {
          if (!shuttingDown) return; // cancelled by its submitter: the API wrote the state
          // handed back, without spending an attempt: another worker starts it again
          await job.moveToDelayed(Date.now(), token);
          throw new DelayedError();
        }
        metrics.judgeDuration.observe({ language: stored.submission.language }, (Date.now() - started) / 1000);
        metrics.submissions.inc({ language: stored.submission.language, verdict: result.verdict });
        await finishAndNotify(id, result, stored.callbackUrl);
      } catch (error) {
        if (error instanceof DelayedError) throw error;
        // a submission the engine refuses (e.g. a language gone from this host)
        // is retried elsewhere, then answered with IE
        metrics.internalErrors.inc();
        log.error({ err: error, id }, 'judging failed');
        const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (final) {
          const message = error instanceof SandboxError ? `${error.code}: ${error.message}` : String(error);
          await finishAndNotify(id, internalError(message), stored.callbackUrl);
          return;
        }
        throw error;
      } finally {
        running.delete(id);
        cpus.give(cpu);
      }
    },
    { connection, concurrency: settings.slots, lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS, maxStalledCount: 3 },
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
