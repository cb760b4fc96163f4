// /v1 routes: submissions (one, a batch, wait, events, cancel), languages and
// test sets. Bodies are validated with the engine's own schemas.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { type ServerResponse } from 'node:http';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { getTestSet, putTestSet } from '../judge/test-sets.js';
import { defaultWallMs } from '../judge/test-run.js';
import { Submission, TestCase } from '../judge/schema.js';
import { loadLanguages } from '../profiles/languages.js';
import { type SubmissionEvent, SubmissionView } from '../queue/schema.js';
import { waitForFinal } from '../queue/submissions.js';
import { checkRate, type Tenant, tenantOf } from './auth.js';
import { type ApiContext } from './context.js';
import { ApiError, ApiErrorBody } from './errors.js';

export const SubmissionRequest = z.intersection(
  Submission,
  z.object({
    // the result is POSTed here, signed (see docs), when judging ends
    callbackUrl: z.string().url().refine((url) => /^https?:/.test(url), 'http or https').optional(),
    // lower runs first (BullMQ priority)
    priority: z.number().int().min(1).max(1_000).optional(),
  }),
);
export type SubmissionRequest = z.infer<typeof SubmissionRequest>;

const Accepted = z.object({ id: z.string(), status: z.literal('queued') });
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ApiErrorBody } } });
const errors = {
  400: errorResponse('Malformed request'),
  401: errorResponse('Missing or unknown API key'),
  413: errorResponse('Body or batch too large'),
  422: errorResponse('Unknown language, test set, or a limit above the ceiling'),
  429: errorResponse('Rate limit or active submissions cap'),
  503: errorResponse('Redis unavailable: retry later'),
};
const IdParam = z.object({ id: z.string().min(16).max(64) });

// Limits above the tenant's ceilings are refused; a wall limit left out is the
// judge's default, held under the ceiling. Returns the request as judged.
async function withinCeilings(ctx: ApiContext, request: SubmissionRequest, tenant: Tenant): Promise<SubmissionRequest> {
  const { timeMs, wallMs, memoryKb } = request.limits ?? {};
  const testCount = request.testSet ? (await getTestSet(ctx.store, request.testSet)).length : request.tests?.length;
  const over = [
    ['limits.timeMs', timeMs, tenant.ceilings.timeMs],
    ['limits.wallMs', wallMs, tenant.ceilings.wallMs],
    ['limits.memoryKb', memoryKb, tenant.ceilings.memoryKb],
    ['tests', testCount, tenant.ceilings.tests],
  ] as const;
  for (const [name, value, ceiling] of over) {
    if (value !== undefined && value > ceiling) throw new ApiError('LIMIT_ABOVE_CEILING', `${name} ${value} is above the ceiling ${ceiling}`);
  }
  if (wallMs !== undefined) return request;
  const derived = Math.min(defaultWallMs(timeMs ?? 1_000), tenant.ceilings.wallMs);
  return { ...request, limits: { ...request.limits, wallMs: derived } };
}

async function checkReferences(ctx: ApiContext, request: SubmissionRequest): Promise<void> {
  // Availability is the workers' to judge (their hosts may differ from ours);
  // an id no profile has is refused here.
  const languages = loadLanguages();
  const named = [request.language, request.interactor, request.checker?.kind === 'program' ? request.checker.program : undefined];
  for (const item of named) {
    if (item === undefined) continue;
    if (typeof item === 'object' && 'executable' in item) throw new ApiError('INVALID_REQUEST', 'host executables are not accepted over the API');
    const id = typeof item === 'string' ? item : item.language;
    if (!languages.has(id)) throw new ApiError('UNKNOWN_LANGUAGE', `unknown language '${id}'`);
  }
  if (request.testSet && !(await ctx.store.has(request.testSet))) {
    throw new ApiError('TEST_SET_NOT_FOUND', `no test set ${request.testSet}: POST /v1/testsets first`);
  }
}

async function accept(ctx: ApiContext, tenant: Tenant, given: SubmissionRequest, idempotencyKey?: string) {
  await checkReferences(ctx, given);
  const request = await withinCeilings(ctx, given, tenant);
  if ((await ctx.subs.activeCount(tenant.name)) >= tenant.maxActive) {
    throw new ApiError('TOO_MANY_ACTIVE', `${tenant.maxActive} submissions queued or running already`, 1);
  }
  const { callbackUrl, priority, ...submission } = request;
  return ctx.subs.submit(submission, {
    tenant: tenant.name,
    ...(callbackUrl ? { callbackUrl } : {}),
    ...(priority ? { priority } : {}),
    ...(idempotencyKey ? { idempotencyKey } : {}),
  });
}

async function tenantFor(ctx: ApiContext, header: (name: string) => string | undefined): Promise<Tenant> {
  const tenant = tenantOf(ctx.config, header);
  await checkRate(ctx.redis, tenant);
  return tenant;
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

export function submissionRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/submissions',
      summary: 'Submit a program to judge',
      request: {
        query: z.object({ wait: z.enum(['true', 'false']).optional() }),
        headers: z.object({ 'idempotency-key': z.string().max(128).optional() }),
        body: { content: { 'application/json': { schema: SubmissionRequest } }, required: true },
      },
      responses: {
        200: { description: 'Judged (wait=true)', content: { 'application/json': { schema: SubmissionView } } },
        202: { description: 'Accepted, not judged yet', content: { 'application/json': { schema: SubmissionView } } },
        ...errors,
      },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const idempotencyKey = c.req.valid('header')['idempotency-key'];
      const { id } = await accept(ctx, tenant, c.req.valid('json'), idempotencyKey);
      if (c.req.valid('query').wait === 'true') {
        const view = await waitForFinal(ctx.subs, ctx.hub, tenant.name, id, ctx.config.waitMs);
        if (view && (view.status === 'done' || view.status === 'cancelled')) return c.json(view, 200);
        return c.json(view ?? { id, status: 'queued' as const }, 202);
      }
      return c.json({ id, status: 'queued' as const }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/submissions/batch',
      summary: 'Submit several programs at once',
      request: { body: { content: { 'application/json': { schema: z.object({ submissions: z.array(z.unknown()).min(1) }) } }, required: true } },
      responses: {
        202: {
          description: 'One entry per submission, in order: an id, or why it was refused',
          content: { 'application/json': { schema: z.object({ submissions: z.array(z.union([Accepted, ApiErrorBody])) }) } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const items = c.req.valid('json').submissions;
      if (items.length > ctx.config.batchMax) throw new ApiError('BATCH_TOO_LARGE', `at most ${ctx.config.batchMax} submissions a batch`);
      const results = [];
      for (const item of items) {
        const parsed = SubmissionRequest.safeParse(item);
        try {
          if (!parsed.success) throw new ApiError('INVALID_REQUEST', z.prettifyError(parsed.error));
          const { id } = await accept(ctx, tenant, parsed.data);
          results.push({ id, status: 'queued' as const });
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          results.push({ error: { code: error.code, message: error.message } });
        }
      }
      return c.json({ submissions: results }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/submissions/{id}',
      summary: 'A submission: its status, and its result once judged',
      request: { params: IdParam },
      responses: { 200: { description: 'The submission', content: { 'application/json': { schema: SubmissionView } } }, ...errors, 404: errorResponse('No such submission') },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const view = await ctx.subs.view(tenant.name, c.req.valid('param').id);
      if (!view) throw new ApiError('NOT_FOUND', 'no such submission');
      return c.json(view, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/submissions/{id}',
      summary: 'Cancel a queued or running submission (its sandbox is killed)',
      request: { params: IdParam },
      responses: { 200: { description: 'The submission after the request', content: { 'application/json': { schema: SubmissionView } } }, ...errors, 404: errorResponse('No such submission') },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const { id } = c.req.valid('param');
      if ((await ctx.subs.cancel(tenant.name, id)) === 'not_found') throw new ApiError('NOT_FOUND', 'no such submission');
      return c.json((await ctx.subs.view(tenant.name, id))!, 200);
    },
  );

  // Server-sent events: "state" first, then "status", "test" (one per test as it
  // is judged) and "done"; the stream ends after "done", when the client goes,
  // or at shutdown.
  app.get('/v1/submissions/:id/events', async (c) => {
    const tenant = await tenantFor(ctx, (name) => c.req.header(name));
    const id = c.req.param('id');
    // listen before reading the state, so no event lands in between unseen
    const queued: SubmissionEvent[] = [];
    let wake = () => {};
    const unlisten = ctx.hub.listen(id, (event) => {
      queued.push(event);
      wake();
    });
    const first = await ctx.subs.view(tenant.name, id).catch((error: unknown) => {
      unlisten();
      throw error;
    });
    if (!first) {
      unlisten();
      throw new ApiError('NOT_FOUND', 'no such submission');
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
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/languages',
      summary: 'Languages, their availability on this host and versions',
      responses: {
        200: {
          description: 'Languages',
          content: { 'application/json': { schema: z.array(z.object({ id: z.string(), name: z.string(), available: z.boolean(), version: z.string().nullable() })) } },
        },
      },
    }),
    (c) =>
      c.json(
        [...loadLanguages().values()].map(({ profile, available, version }) => ({ id: profile.id, name: profile.name, available, version: version ?? null })),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/testsets',
      summary: 'Store a test set once; submissions then name it by its hash',
      request: { body: { content: { 'application/json': { schema: z.object({ tests: z.array(TestCase).min(1).max(1_000) }) } }, required: true } },
      responses: { 201: { description: 'Stored', content: { 'application/json': { schema: z.object({ testSet: z.string() }) } } }, ...errors },
    }),
    async (c) => {
      await tenantFor(ctx, (name) => c.req.header(name));
      return c.json({ testSet: await putTestSet(ctx.store, c.req.valid('json').tests) }, 201);
    },
  );
}
