// A worker names itself to BullMQ with its host, pid and slot count: BullMQ keeps
// the name on its Redis connection (so the queue lists live workers) and on every
// job it takes (processedBy); a job held by the fast path names it too (heldBy).
// That is how the dashboard counts busy slots.
import { hostname } from 'node:os';
import { type Queue } from 'bullmq';
import { SubmissionJob } from './schema.js';

export interface WorkerInfo {
  name: string;
  host: string;
  pid: number;
  slots: number;
  busy: number;
  // seconds since its connection opened
  ageSeconds: number;
}

export const workerName = (slots: number): string => `${hostname()}:${process.pid}:${slots}`;

const NAME = /^(.+):(\d+):(\d+)$/;

// The workers connected now, with the jobs each is judging or running.
export async function listWorkers(queue: Queue): Promise<WorkerInfo[]> {
  const [clients, active, delayed] = await Promise.all([queue.getWorkers(), queue.getJobs(['active']), queue.getJobs(['delayed'])]);
  const busy = new Map<string, number>();
  const count = (worker: string | undefined) => worker && busy.set(worker, (busy.get(worker) ?? 0) + 1);
  for (const job of active) count(job.processedBy);
  for (const job of delayed) count(SubmissionJob.safeParse(job.data).data?.heldBy);
  const seen = new Map<string, WorkerInfo>();
  for (const client of clients) {
    const name = /:w:(.+)$/.exec(client.rawname ?? '')?.[1] ?? '';
    const parsed = NAME.exec(name);
    if (!parsed || seen.has(name)) continue;
    seen.set(name, {
      name,
      host: parsed[1] as string,
      pid: Number(parsed[2]),
      slots: Number(parsed[3]),
      busy: busy.get(name) ?? 0,
      ageSeconds: Number(client.age ?? 0),
    });
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}
