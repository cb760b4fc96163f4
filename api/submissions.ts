// /v1 routes: submissions (one, a batch, wait, events, cancel), languages and
// test sets. Bodies are validated with the engine's own schemas.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { getTestSet, putTestSet } from '../judge/test-sets.js';
import { defaultWallMs } from '../judge/test-run.js';
import { Submission, TestCase } from '../judge/schema.js';
import { loadLanguages } from '../profiles/languages.js';
import { SubmissionView } from '../queue/schema.js';
import { NotAdmitted } from '../queue/submissions.js';
import { admission, type Tenant, tenantFor, tenantOf } from './auth.js';
import { type ApiContext } from './context.js';
import { ApiError, ApiErrorBody, notAdmitted } from './errors.js';
import { errors, jobRoutes, submitAndAnswer } from './jobs.js';

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

// A request checked: the submission to judge and how to submit it (`counted`:
// whether the request was counted in its rate already).
async function checked(ctx: ApiContext, tenant: Tenant, given: SubmissionRequest, counted: boolean, idempotencyKey?: string) {
  await checkReferences(ctx, given);
  const request = await withinCeilings(ctx, given, tenant);
  const { callbackUrl, priority, ...submission } = request;
  const options = {
    tenant: tenant.name,
    ...admission(tenant, counted),
    ...(callbackUrl ? { callbackUrl } : {}),
    ...(priority ? { priority } : {}),
    ...(idempotencyKey ? { idempotencyKey } : {}),
  };
  return { submission, options };
}

// A submission from a request counted in its rate already.
export async function accept(ctx: ApiContext, tenant: Tenant, given: SubmissionRequest) {
  const { submission, options } = await checked(ctx, tenant, given, true);
  return ctx.subs.submit(submission, options);
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
      // counted in its rate when admitted, in the same round trip; one naming a
      // stored test set before it is read
      const given = c.req.valid('json');
      const counted = given.testSet !== undefined;
      const header = (name: string) => c.req.header(name);
      const tenant = counted ? await tenantFor(ctx, header) : tenantOf(ctx.config, header);
      const idempotencyKey = c.req.valid('header')['idempotency-key'];
      const { submission, options } = await checked(ctx, tenant, given, counted, idempotencyKey);
      return submitAndAnswer(c, ctx, { kind: 'submission', store: ctx.subs, job: submission, options }, c.req.valid('query').wait === 'true');
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
        } catch (caught) {
          // refused past the cap too: the ones admitted before it keep their ids
          const error = caught instanceof NotAdmitted ? notAdmitted(caught) : caught;
          if (!(error instanceof ApiError)) throw error;
          results.push({ error: { code: error.code, message: error.message } });
        }
      }
      return c.json({ submissions: results }, 202);
    },
  );

  // events: "state" first, then "status", "test" (one per test as it is judged) and "done"
  jobRoutes(app, ctx, { path: '/v1/submissions', what: 'submission', store: ctx.subs, view: SubmissionView, doneWord: 'judged' });

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
