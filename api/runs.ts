// /v1/runs and /v1/files: commands with files in and out (CI plug-ins), through
// the same queue and workers as submissions; files by SHA-256 in the one store.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { type RunCeilings } from '../config/schema.js';
import { RunView } from '../queue/schema.js';
import { prepareRun, RunInputError } from '../runs/runs.js';
import { type ParsedRunRequest, RunRequest } from '../runs/schema.js';
import { DEFAULT_LIMITS } from '../sandbox/schema.js';
import { sha256, Sha256 } from '../store/content.js';
import { type ApiContext } from './context.js';
import { admission, tenantFor, tenantOf } from './auth.js';
import { ApiError } from './errors.js';
import { errors, jobRoutes, submitAndAnswer } from './jobs.js';

const RunPost = z.intersection(
  RunRequest,
  z.object({
    callbackUrl: z.string().url().refine((url) => /^https?:/.test(url), 'http or https').optional(),
    priority: z.number().int().min(1).max(1_000).optional(),
  }),
);
const HashParam = z.object({ sha256: Sha256 });

// Each limit the ceilings cover: above it refused, absent the default held under it.
function limitsWithin(limits: ParsedRunRequest['limits'], ceilings: RunCeilings): ParsedRunRequest['limits'] {
  const held = { ...limits };
  for (const [name, ceiling] of Object.entries(ceilings) as [keyof RunCeilings, number][]) {
    const given = limits[name];
    if (given !== undefined && given > ceiling) throw new ApiError('LIMIT_ABOVE_CEILING', `limits.${name} ${given} is above the ceiling ${ceiling}`);
    held[name] = given ?? Math.min(DEFAULT_LIMITS[name], ceiling);
  }
  return held;
}

export function runRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/runs',
      summary: 'Run a command with files in and files to collect',
      request: {
        query: z.object({ wait: z.enum(['true', 'false']).optional() }),
        headers: z.object({ 'idempotency-key': z.string().max(128).optional() }),
        body: { content: { 'application/json': { schema: RunPost } }, required: true },
      },
      responses: {
        200: { description: 'Run (wait=true)', content: { 'application/json': { schema: RunView } } },
        202: { description: 'Accepted, not run yet', content: { 'application/json': { schema: RunView } } },
        ...errors,
      },
    }),
    async (c) => {
      const { callbackUrl, priority, ...request } = c.req.valid('json');
      // A run that brings content has it stored (an archive unpacked) before it
      // is admitted: such a request is counted in its rate first, so a tenant
      // over its rate stores nothing. Others are counted when admitted, in the
      // same round trip.
      const counted = request.files.length > 0 || request.archive !== undefined || request.stdin !== undefined;
      const header = (name: string) => c.req.header(name);
      const tenant = counted ? await tenantFor(ctx, header) : tenantOf(ctx.config, header);
      const limits = limitsWithin(request.limits, tenant.runCeilings);
      const job = await prepareRun(ctx.store, ctx.images, { ...request, limits }, ctx.config.rootfs).catch((error: unknown) => {
        throw error instanceof RunInputError ? new ApiError(error.code, error.message) : error;
      });
      const idempotencyKey = c.req.valid('header')['idempotency-key'];
      const options = {
        tenant: tenant.name,
        ...admission(tenant, counted),
        ...(callbackUrl ? { callbackUrl } : {}),
        ...(priority ? { priority } : {}),
        ...(idempotencyKey ? { idempotencyKey } : {}),
      };
      return submitAndAnswer(c, ctx, { kind: 'run', store: ctx.runs, job, options }, c.req.valid('query').wait === 'true');
    },
  );

  // events: "state", then "status", "output" ({stream, data}: stdout and stderr
  // as the program writes them) and "done"
  jobRoutes(app, ctx, { path: '/v1/runs', what: 'run', store: ctx.runs, view: RunView, doneWord: 'done' });

  // Files by content: uploaded once, named by hash in runs; collected files too.
  app.put('/v1/files/:sha256', async (c) => {
    await tenantFor(ctx, (name) => c.req.header(name));
    const { sha256: hash } = HashParam.parse({ sha256: c.req.param('sha256') });
    const bytes = Buffer.from(await c.req.arrayBuffer());
    if (sha256(bytes) !== hash) throw new ApiError('INVALID_REQUEST', `the body hashes to ${sha256(bytes)}, not ${hash}`);
    await ctx.store.put(bytes);
    return c.json({ sha256: hash, size: bytes.length }, 201);
  });

  app.get('/v1/files/:sha256', async (c) => {
    await tenantFor(ctx, (name) => c.req.header(name));
    const parsed = HashParam.safeParse({ sha256: c.req.param('sha256') });
    const bytes = parsed.success ? await ctx.store.get(parsed.data.sha256) : undefined;
    if (!bytes) throw new ApiError('NOT_FOUND', 'no such file');
    return c.body(new Uint8Array(bytes), 200, { 'content-type': 'application/octet-stream' });
  });
}
