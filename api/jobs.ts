// What submissions and runs share over HTTP: the answer to a POST (with
// ?wait=true, the final view when it comes in time), GET and DELETE of one, and
// its server-sent events.
import { type ServerResponse } from 'node:http';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { type JobEvent, type SubmissionState } from '../queue/schema.js';
import { type FastKinds } from '../queue/local.js';
import { type JobStore, type SubmitOptions, waitForFinal } from '../queue/submissions.js';
import { tenantFor } from './auth.js';
import { type ApiContext } from './context.js';
import { ApiError, ApiErrorBody } from './errors.js';

type View = { id: string; status: SubmissionState };

export const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ApiErrorBody } } });
export const errors = {
  400: errorResponse('Malformed request'),
  401: errorResponse('Missing or unknown API key'),
  413: errorResponse('Body or batch too large'),
  422: errorResponse('Unknown language, test set, image, root or file, or a limit above the ceiling'),
  429: errorResponse('Rate limit or active submissions cap'),
  503: errorResponse('Redis unavailable: retry later'),
};
const IdParam = z.object({ id: z.string().min(16).max(64) });

// A job to submit: its kind and store, the job, and how.
export interface Submitting<K extends keyof FastKinds> {
  kind: K;
  store: JobStore<FastKinds[K]['job'], unknown, FastKinds[K]['view']>;
  job: FastKinds[K]['job'];
  options: SubmitOptions;
}

// Submits a job and waits up to `waitMs` for its final view: through an idle
// slot of this process's worker when there is one (the fast path,
// queue/local.ts), else through the queue. Resolves only once the job is
// recorded; `view` is its state when the wait ended (undefined: not found).
// Should Redis go away while the fast path runs the job, the slot cannot store
// its result until Redis is back: the request is answered at once with the id
// of the job, which is recorded and will end, instead of after the whole wait.
export async function submitAndWait<K extends keyof FastKinds>(
  ctx: ApiContext,
  { kind, store, job, options }: Submitting<K>,
  waitMs: number,
): Promise<{ id: string; view: FastKinds[K]['view'] | undefined }> {
  const started = Date.now();
  const handed = ctx.local?.submitAndRun(kind, job, options, store, waitMs);
  const { id, duplicate } = await (handed?.recorded ?? store.submit(job, options));
  if (handed && !duplicate) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onClose = () => {};
    const waited = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
    const redisLost = new Promise<'lost'>((resolve) => ctx.redis.once('close', (onClose = () => resolve('lost'))));
    const final = await Promise.race([handed.final, waited, redisLost]);
    clearTimeout(timer);
    ctx.redis.off('close', onClose);
    if (final === 'lost') return { id, view: { id, status: 'running' } };
    if (final) return { id, view: final };
  }
  // through the queue, or not stored by the slot (or not in time): as the queue has it
  return { id, view: await waitForFinal(store, ctx.hub, options.tenant, id, Math.max(0, waitMs - (Date.now() - started))) };
}

// Submits a job and answers 202 {id, status: queued}; with wait, 200 and the
// final view if it comes within waitMs (see submitAndWait), else 202 and its state.
export async function submitAndAnswer<K extends keyof FastKinds>(c: Context, ctx: ApiContext, submitting: Submitting<K>, wait: boolean) {
  if (!wait) return c.json({ id: (await submitting.store.submit(submitting.job, submitting.options)).id, status: 'queued' as const }, 202);
  const { id, view } = await submitAndWait(ctx, submitting, ctx.config.waitMs);
  if (view && (view.status === 'done' || view.status === 'cancelled')) return c.json(view, 200);
  return c.json(view ?? { id, status: 'queued' as const }, 202);
}

export interface JobRoutes<V extends View> {
  path: '/v1/submissions' | '/v1/runs';
  what: 'submission' | 'run';
  store: JobStore<unknown, unknown, V>;
  view: z.ZodType<V>;
  // what "done" means for this kind, for the summaries
  doneWord: string;
}

// GET /…/{id}, DELETE /…/{id} and GET /…/{id}/events.
export function jobRoutes<V extends View>(app: OpenAPIHono, ctx: ApiContext, kind: JobRoutes<V>): void {
  const json = { 'application/json': { schema: kind.view } };
  app.openapi(
    createRoute({
      method: 'get',
      path: `${kind.path}/{id}`,
      summary: `A ${kind.what}: its status, and its result once ${kind.doneWord}`,
      request: { params: IdParam },
      responses: { 200: { description: `The ${kind.what}`, content: json }, ...errors, 404: errorResponse(`No such ${kind.what}`) },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const view = await kind.store.view(tenant.name, c.req.valid('param').id);
      if (!view) throw new ApiError('NOT_FOUND', `no such ${kind.what}`);
      // (hono cannot relate a generic V to the route's schema: the cast says it is one)
      return c.json(view as never, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: `${kind.path}/{id}`,
      summary: `Cancel a queued or running ${kind.what} (its sandbox is killed)`,
      request: { params: IdParam },
      responses: { 200: { description: `The ${kind.what} after the request`, content: json }, ...errors, 404: errorResponse(`No such ${kind.what}`) },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const { id } = c.req.valid('param');
      if ((await kind.store.cancel(tenant.name, id)) === 'not_found') throw new ApiError('NOT_FOUND', `no such ${kind.what}`);
      return c.json((await kind.store.view(tenant.name, id)) as never, 200);
    },
  );
  app.get(`${kind.path}/:id/events`, async (c) => {
    const tenant = await tenantFor(ctx, (name) => c.req.header(name));
    const id = c.req.param('id');
    return streamEvents(c, ctx, id, () => kind.store.view(tenant.name, id), kind.what);
  });
}

// A client that stops reading: when bytes wait to be sent and none has moved
// for `timeoutMs`, the connection is cut, so its socket and buffered events go.
// A slow reader that keeps reading is left alone.
function cutWhenStalled(response: ServerResponse, timeoutMs: number): void {
  let pending = 0;
  let stalledSince = Date.now();
  const timer = setInterval(() => {
    const now = response.writableLength; // bytes buffered, the socket's included
    if (now === 0 || now < pending) stalledSince = Date.now();
    else if (Date.now() - stalledSince >= timeoutMs) response.destroy();
    pending = now;
  }, Math.max(50, Math.min(1_000, timeoutMs / 4)));
  timer.unref();
  response.once('close', () => clearInterval(timer));
}

// Server-sent events of one submission or run: "state" first, then each event
// as it is published ("status", "test" or "output", "done"); the stream ends
// after "done", when the client goes, or at shutdown.

export async function streamEvents(
  c: Context,
  ctx: ApiContext,
  id: string,
  view: () => Promise<{ status: SubmissionState } | undefined>,
  what: string,
): Promise<Response> {
  // listen before reading the state, so no event lands in between unseen
  const queued: JobEvent[] = [];
  let wake = () => {};
  const unlisten = ctx.hub.listen(id, (event) => {
    queued.push(event);
    wake();
  });
  const first = await view().catch((error: unknown) => {
    unlisten();
    throw error;
  });
  if (!first) {
    unlisten();
    throw new ApiError('NOT_FOUND', `no such ${what}`);
  }
  const response = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (response) cutWhenStalled(response, ctx.config.requestTimeoutMs);
  return streamSSE(c, async (stream) => {
    let finished = first.status === 'done' || first.status === 'cancelled';
    const end = () => {
      finished = true;
      wake();
    };
    ctx.streams.add(end);
    stream.onAbort(end);
    try {
      await stream.writeSSE({ event: 'state', data: JSON.stringify(first) });
      while (!finished || queued.length > 0) {
        const event = queued.shift();
        if (event) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
          if (event.type === 'done') finished = true;
          continue;
        }
        // wait for an event, the end, or 15 s (then a ping keeps proxies open)
        const pinged = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), 15_000);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        if (pinged && !finished) await stream.writeSSE({ event: 'ping', data: '{}' });
      }
    } finally {
      unlisten();
      ctx.streams.delete(end);
    }
  });
}
