// The Hono app: /v1 routes, ops routes (health, readiness, metrics, OpenAPI and
// its docs page), a body limit, and one error shape for everything.
import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { metrics, registry } from '../queue/metrics.js';
import { NotAdmitted } from '../queue/submissions.js';
import { SandboxError } from '../sandbox/errors.js';
import { requestBody } from './body.js';
import { type ApiContext } from './context.js';
import { ApiError, fromEngine, notAdmitted } from './errors.js';
import { jobeRoutes } from './compat/jobe.js';
import { judge0Routes } from './compat/judge0.js';
import { pistonRoutes } from './compat/piston.js';
import { problemRoutes } from './problems.js';
import { runRoutes } from './runs.js';
import { submissionRoutes } from './submissions.js';
import { webRoutes } from './web/index.js';

// ioredis errors meaning Redis is out of reach: answer 503, not 500.
const redisDown = (error: unknown): boolean =>
  error instanceof Error &&
  /Connection is closed|Stream isn't writeable|ECONNREFUSED|ENOENT|max retries|enableOfflineQueue|Reached the max retries/i.test(error.message);

function errorResponse(error: unknown): { status: number; body: { error: { code: string; message: string } }; retryAfter?: number } {
  if (error instanceof ApiError) {
    return { status: error.status, body: { error: { code: error.code, message: error.message } }, ...(error.retryAfter ? { retryAfter: error.retryAfter } : {}) };
  }
  if (error instanceof SandboxError) return errorResponse(fromEngine(error.code, error.message));
  if (error instanceof NotAdmitted) return errorResponse(notAdmitted(error));
  if (error instanceof HTTPException && error.status === 400) {
    return errorResponse(new ApiError('INVALID_JSON', 'the body is not valid JSON'));
  }
  if (error instanceof HTTPException && error.status < 500) {
    return errorResponse(new ApiError('INVALID_REQUEST', 'send a JSON body (Content-Type: application/json)'));
  }
  if (redisDown(error)) return errorResponse(new ApiError('SERVICE_UNAVAILABLE', 'Redis is unavailable', 5));
  return errorResponse(new ApiError('INTERNAL', 'internal error'));
}

export function createApp(ctx: ApiContext): OpenAPIHono {
  const app = new OpenAPIHono({
    // zod's message, one code
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json({ error: { code: 'INVALID_REQUEST', message: z.prettifyError(result.error) } }, 400);
      }
      return undefined;
    },
  });

  app.use('*', async (c, next) => {
    await next();
    metrics.requests.inc({ route: c.req.routePath, status: String(c.res.status) });
  });
  app.use(
    '*',
    requestBody(ctx.config.bodyMaxBytes, (c) =>
      c.json({ error: { code: 'BODY_TOO_LARGE', message: `bodies are at most ${ctx.config.bodyMaxBytes} bytes` } }, 413),
    ),
  );

  app.onError((error, c) => {
    const { status, body, retryAfter } = errorResponse(error);
    if (status >= 500 && status !== 503) ctx.log.error({ err: error, path: c.req.path }, 'request failed');
    if (retryAfter) c.header('Retry-After', String(retryAfter));
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  submissionRoutes(app, ctx);
  runRoutes(app, ctx);
  judge0Routes(app, ctx);
  pistonRoutes(app, ctx);
  jobeRoutes(app, ctx);
  problemRoutes(app, ctx);
  webRoutes(app, ctx);

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const redis = await ctx.redis.ping().then(() => true, () => false);
    const workers = redis ? await ctx.subs.queue.getWorkersCount().catch(() => 0) : 0;
    const ready = redis && workers > 0;
    if (!ready) c.header('Retry-After', '5');
    return c.json({ ready, redis, workers }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const counts = await ctx.subs.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed').catch(() => undefined);
    for (const [state, count] of Object.entries(counts ?? {})) metrics.queueDepth.set({ state }, count);
    return c.text(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'Cellblock', version: '0.1.0', description: 'Runs untrusted code in hardened sandboxes and judges it.' } });
  app.get('/docs', (c) => c.html(DOCS_PAGE));
  return app;
}

// A page that lists the API from /openapi.json: no assets from elsewhere.
const DOCS_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Cellblock API</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .3em}h2{margin-top:2rem}pre{background:#f6f6f6;padding:1rem;overflow:auto}</style></head>
<body><h1>Cellblock API</h1><p>The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p><div id="routes"></div>
<script>fetch('/openapi.json').then(r=>r.json()).then(doc=>{const out=document.getElementById('routes');
for(const [path,ops] of Object.entries(doc.paths)){for(const [method,op] of Object.entries(ops)){const h=document.createElement('h2');
h.textContent=method.toUpperCase()+' '+path;const p=document.createElement('p');p.textContent=op.summary||'';
const pre=document.createElement('pre');pre.textContent=JSON.stringify(op.responses,null,1).slice(0,2000);out.append(h,p,pre);}}});</script>
</body></html>`;
