// Problem packages over the API: POST /v1/problems stores an ICPC/Kattis or
// Polygon package (a .zip) once in the content store and answers its id; a
// submission then names it (POST /v1/problems/{id}/submissions) and is judged
// with its tests, groups, limits, validator or checker and interactor.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { packageError, unzipPackage } from '../judge/packages/files.js';
import { loadProblem } from '../judge/packages/index.js';
import { type Problem, submissionFor } from '../judge/packages/problem.js';
import { JudgeLimits } from '../judge/schema.js';
import { putTestSet } from '../judge/test-sets.js';
import { waitForFinal } from '../queue/submissions.js';
import { SubmissionView } from '../queue/schema.js';
import { SandboxError } from '../sandbox/errors.js';
import { type ContentStore, Sha256 } from '../store/content.js';
import { type ApiContext } from './context.js';
import { ApiError } from './errors.js';
import { tenantFor } from './auth.js';
import { errors, errorResponse } from './jobs.js';
import { accept, SubmissionRequest } from './submissions.js';

const Summary = z.object({
  problem: Sha256,
  format: z.enum(['kattis', 'polygon']),
  name: z.string(),
  tests: z.number().int(),
  groups: z.number().int(),
  limits: z.object({ timeMs: z.number(), memoryKb: z.number() }),
  interactive: z.boolean(),
});

const summary = (hash: string, problem: Problem): z.infer<typeof Summary> => ({
  problem: hash,
  format: problem.format,
  name: problem.name,
  tests: problem.tests.length,
  groups: problem.groups?.length ?? 0,
  limits: { timeMs: problem.limits.timeMs ?? 0, memoryKb: problem.limits.memoryKb ?? 0 },
  interactive: problem.interactor !== undefined,
});

// The API does not judge while it answers: a package must give its time limit.
function checkedProblem(bytes: Uint8Array, where: string): Problem {
  try {
    const problem = loadProblem(unzipPackage(bytes, where));
    if (problem.timing) throw packageError('problem.yaml', 'no time limit: give limits.time_limit (seconds) or a .timelimit file (only the CLI times accepted submissions)');
    return problem;
  } catch (error) {
    if (error instanceof SandboxError && error.code === 'INVALID_PACKAGE') throw new ApiError('INVALID_PACKAGE', error.message);
    throw error;
  }
}

async function storedProblem(store: ContentStore, hash: string): Promise<Problem> {
  const bytes = Sha256.safeParse(hash).success ? await store.get(hash) : undefined;
  if (!bytes) throw new ApiError('PROBLEM_NOT_FOUND', `no problem ${hash}: POST /v1/problems first`);
  return checkedProblem(bytes, hash);
}

const ProblemSubmission = z.object({
  language: z.string().min(1),
  source: z.string().max(1024 * 1024),
  limits: JudgeLimits.partial().optional(),
  stopOnFirstFailure: z.boolean().default(false),
  callbackUrl: z.string().url().refine((url) => /^https?:/.test(url), 'http or https').optional(),
  priority: z.number().int().min(1).max(1_000).optional(),
});

export function problemRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  // the body is the package itself (a .zip or .kpp), not JSON
  app.post('/v1/problems', async (c) => {
    await tenantFor(ctx, (name) => c.req.header(name));
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) throw new ApiError('INVALID_REQUEST', 'send the package as the body (Content-Type: application/zip)');
    const problem = checkedProblem(bytes, 'package.zip');
    const hash = await ctx.store.put(bytes);
    return c.json(summary(hash, problem), 201);
  });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/problems/{problem}/submissions',
      summary: 'Submit a program against a stored problem package',
      request: {
        params: z.object({ problem: z.string() }),
        query: z.object({ wait: z.enum(['true', 'false']).optional() }),
        body: { content: { 'application/json': { schema: ProblemSubmission } }, required: true },
      },
      responses: {
        200: { description: 'Judged (wait=true)', content: { 'application/json': { schema: SubmissionView } } },
        202: { description: 'Accepted, not judged yet', content: { 'application/json': { schema: SubmissionView } } },
        ...errors,
        404: errorResponse('No such problem'),
      },
    }),
    async (c) => {
      const tenant = await tenantFor(ctx, (name) => c.req.header(name));
      const { language, source, limits, stopOnFirstFailure, callbackUrl, priority } = c.req.valid('json');
      const problem = await storedProblem(ctx.store, c.req.valid('param').problem);
      const { tests, ...pieces } = submissionFor(problem, language, source, limits);
      // the tests go into the store once; the submission names them
      const testSet = await putTestSet(ctx.store, tests!);
      const request = SubmissionRequest.safeParse({
        ...pieces,
        testSet,
        stopOnFirstFailure,
        ...(callbackUrl ? { callbackUrl } : {}),
        ...(priority ? { priority } : {}),
      });
      if (!request.success) throw new ApiError('INVALID_REQUEST', z.prettifyError(request.error));
      const { id } = await accept(ctx, tenant, request.data);
      if (c.req.valid('query').wait === 'true') {
        const view = await waitForFinal(ctx.subs, ctx.hub, tenant.name, id, ctx.config.waitMs);
        if (view && (view.status === 'done' || view.status === 'cancelled')) return c.json(view, 200);
        return c.json(view ?? { id, status: 'queued' as const }, 202);
      }
      return c.json({ id, status: 'queued' as const }, 202);
    },
  );
}
