// Webhook deliveries: a queue of their own, so a slow or absent receiver never
// delays judging. Each body is signed with HMAC-SHA256 (header
// X-Cellblock-Signature: sha256=<hex>), retried with backoff, then given up.
import { createHmac } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { type Connection } from '../queue/redis.js';
import { QUEUE_WEBHOOKS, type WebhookJob, WebhookJob as WebhookJobSchema } from '../queue/schema.js';

export const SIGNATURE_HEADER = 'x-cellblock-signature';
// Deliveries in flight per worker process: each is one request that mostly
// waits, so receivers that time out hold few of them.
export const DELIVERY_CONCURRENCY = 32;

// How hard to try: attempts before giving up, the first retry's delay (doubled
// each time), and how long a receiver may take to answer.
export interface DeliveryPolicy {
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
}

export const sign = (secret: string, body: string): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export function webhookQueue(connection: Connection): Queue {
  return new Queue(QUEUE_WEBHOOKS, { connection });
}

export const enqueueDelivery = (queue: Queue, job: WebhookJob, policy: DeliveryPolicy) =>
  queue.add('deliver', job, {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: 24 * 3600 },
  });

export function startDeliveries(connection: Connection, secret: string, policy: DeliveryPolicy): Worker {
  return new Worker(
    QUEUE_WEBHOOKS,
    async (job) => {
      const { id, url, body } = WebhookJobSchema.parse(job.data);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(secret, body), 'x-cellblock-submission': id },
        body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      // anything but 2xx is retried, up to the policy's attempts with backoff
      if (!response.ok) throw new Error(`webhook ${url}: HTTP ${response.status}`);
    },
    { connection, concurrency: DELIVERY_CONCURRENCY },
  );
}
