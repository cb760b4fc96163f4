// What the operator's dashboard shows, as one JSON object: the queues' counts,
// the workers with their slots, the jobs waiting or running, recent verdicts by
// language, and the health of Redis and of the sandbox (cellblock doctor's report).
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Queue } from 'bullmq';
import { type Redis } from 'ioredis';
import { type RecentSubmission, SubmissionJob } from '../../queue/schema.js';
import { type Submissions } from '../../queue/submissions.js';
import { listWorkers, type WorkerInfo } from '../../queue/workers.js';
import { type DoctorReport, doctorReport, healthy } from '../../sandbox/doctor.js';

const JOB_STATES = ['active', 'prioritized', 'waiting', 'delayed', 'failed'] as const;
const JOBS_PER_STATE = 20;
const RECENT_SHOWN = 20;
// the doctor launches a sandbox: at most once per this long, however often the page refreshes
const DOCTOR_EVERY_MS = 30_000;

export interface QueueCounts {
  name: string;
  counts: Record<string, number>;
}

export interface JobRow {
  id: string;
  state: (typeof JOB_STATES)[number];
  language: string | null;
  tenant: string | null;
  processedBy: string | null;
  attemptsMade: number;
  ageSeconds: number;
}

export interface RedisHealth {
  ok: boolean;
  pingMs?: number;
  version?: string;
  uptimeSeconds?: number;
  usedMemory?: string;
  clients?: number;
  appendOnly?: boolean;
  error?: string;
}

export interface SandboxHealth {
  host: string;
  healthy: boolean;
  checkedAt: number;
  report?: DoctorReport;
  error?: string;
}

export interface Overview {
  at: number;
  redis: RedisHealth;
  sandbox: SandboxHealth;
  queues: QueueCounts[];
  workers: WorkerInfo[];
  jobs: JobRow[];
  // language → verdict (or "cancelled") → count, over the last finished submissions
  verdicts: Record<string, Record<string, number>>;
  recentCount: number;
  recent: RecentSubmission[];
  // parts that could not be read (Redis down): their names and why
  problems: string[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function redisHealth(redis: Redis): Promise<RedisHealth> {
  try {
    const started = performance.now();
    await redis.ping();
    const pingMs = performance.now() - started;
    const info = new Map(
      (await redis.info())
        .split(/\r?\n/)
        .filter((line) => line.includes(':'))
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)] as const),
    );
    return {
      ok: true,
      pingMs: Number(pingMs.toFixed(2)),
      version: info.get('redis_version') ?? '?',
      uptimeSeconds: Number(info.get('uptime_in_seconds') ?? 0),
      usedMemory: info.get('used_memory_human') ?? '?',
      clients: Number(info.get('connected_clients') ?? 0),
      appendOnly: info.get('aof_enabled') === '1',
    };
  } catch (error) {
    return { ok: false, error: message(error) };
  }
}

let doctor: { at: number; report: Promise<SandboxHealth> } | undefined;

function sandboxHealth(): Promise<SandboxHealth> {
  if (!doctor || Date.now() - doctor.at > DOCTOR_EVERY_MS) {
    const at = Date.now();
    const report = doctorReport().then(
      (report): SandboxHealth => ({ host: hostname(), healthy: healthy(report), checkedAt: at, report }),
      (error: unknown): SandboxHealth => ({ host: hostname(), healthy: false, checkedAt: at, error: message(error) }),
    );
    doctor = { at, report };
  }
  return doctor.report;
}

async function jobRows(subs: Submissions): Promise<JobRow[]> {
  const rows: JobRow[] = [];
  for (const state of JOB_STATES) {
    for (const job of await subs.queue.getJobs([state], 0, JOBS_PER_STATE - 1)) {
      if (!job?.id) continue;
      const summary = await subs.summary(job.id);
      // a job held by the fast path is running, on the worker that holds it
      const heldBy = state === 'delayed' ? SubmissionJob.safeParse(job.data).data?.heldBy : undefined;
      rows.push({
        id: job.id,
        state: heldBy ? 'active' : state,
        language: summary?.language ?? null,
        tenant: summary?.tenant ?? null,
        processedBy: job.processedBy ?? heldBy ?? null,
        attemptsMade: job.attemptsMade,
        ageSeconds: Math.round((Date.now() - job.timestamp) / 1000),
      });
    }
  }
  return rows;
}

function verdictsByLanguage(recent: RecentSubmission[]): Overview['verdicts'] {
  const table: Overview['verdicts'] = {};
  for (const entry of recent) {
    const row = (table[entry.language] ??= {});
    const column = entry.verdict ?? entry.status;
    row[column] = (row[column] ?? 0) + 1;
  }
  return table;
}

export async function overview(redis: Redis, subs: Submissions, queues: Queue[]): Promise<Overview> {
  const problems: string[] = [];
  // each part on its own: Redis down leaves the sandbox's health readable
  const part = <T>(name: string, work: Promise<T>, fallback: T): Promise<T> =>
    work.catch((error: unknown) => {
      problems.push(`${name}: ${message(error)}`);
      return fallback;
    });
  const [redisState, sandbox, counts, workers, jobs, recent] = await Promise.all([
    redisHealth(redis),
    sandboxHealth(),
    part('queues', Promise.all(queues.map(async (queue) => ({ name: queue.name, counts: await queue.getJobCounts() }))), []),
    part('workers', listWorkers(subs.queue), []),
    part('jobs', jobRows(subs), []),
    part('recent verdicts', subs.recent(), []),
  ]);
  return {
    at: Date.now(),
    redis: redisState,
    sandbox,
    queues: counts,
    workers,
    jobs,
    verdicts: verdictsByLanguage(recent),
    recentCount: recent.length,
    recent: recent.slice(0, RECENT_SHOWN),
    problems,
  };
}
