// Prometheus metrics (prom-client), one registry per process: the API records
// requests and queue waits, the workers runs and verdicts; `serve` exposes both.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'cellblock_process_' });

export const metrics = {
  queueDepth: new Gauge({
    name: 'cellblock_queue_jobs',
    help: 'Submissions in the queue, by state',
    labelNames: ['state'],
    registers: [registry],
  }),
  submissions: new Counter({
    name: 'cellblock_submissions_total',
    help: 'Submissions judged, by language and verdict',
    labelNames: ['language', 'verdict'],
    registers: [registry],
  }),
  queueWait: new Histogram({
    name: 'cellblock_queue_wait_seconds',
    help: 'Time from acceptance to the start of judging',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers: [registry],
  }),
  judgeDuration: new Histogram({
    name: 'cellblock_judge_seconds',
    help: 'Time to judge a submission (compile and every test)',
    labelNames: ['language'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
    registers: [registry],
  }),
  internalErrors: new Counter({
    name: 'cellblock_internal_errors_total',
    help: 'Sandbox or judging failures on our side (retried, then IE)',
    registers: [registry],
  }),
  requests: new Counter({
    name: 'cellblock_http_requests_total',
    help: 'HTTP requests, by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  }),
};
