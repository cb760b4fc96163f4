// Webhook deliveries: a queue of their own, so a slow or absent receiver never
// delays judging. Each body is signed with HMAC-SHA256 (header
// X-Cellblock-Signature: sha256=<hex>), retried with backoff, then given up.
import { createHmac } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { type Connection } from '../queue/redis.js';
import { QUEUE_WEBHOOKS, type WebhookJob, WebhookJob as WebhookJobSchema } from '../queue/schema.js';

export const SIGNATURE_HEADER = 'x-cellblock-signature';
const DELIVERY_TIMEOUT_MS = 10_000;
const ATTEMPTS = 8;

export const sign = (secret: string, body: string): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export function webhookQueue(connection: Connection): Queue {
  return new Queue(QUEUE_WEBHOOKS, { connection });
}

export const enqueueDelivery = (queue: Queue, job: WebhookJob) =>
  queue.add('deliver', job, {
    attempts: ATTEMPTS,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: true,
    removeOnFail: { age: 24 * 3600 },
  });

export function startDeliveries(connection: Connection, secret: string): Worker {
  return new Worker(
    QUEUE_WEBHOOKS,
    async (job) => {
      const { id, url, body } = WebhookJobSchema.parse(job.data);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(secret, body), 'x-cellblock-submission': id },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      // anything but 2xx is retried, up to ATTEMPTS with backoff
      if (!response.ok) throw new Error(`webhook ${url}: HTTP ${response.status}`);
    },
    { connection, concurrency: 8 },
  );
}
