// The operator's dashboard at /admin, behind the admin key (config
// adminKeySha256: its SHA-256, never the key). A browser signs in with a form
// that sets an HttpOnly, SameSite=Strict cookie scoped to /admin; scripts send
// the key as "Authorization: Bearer <key>". Without a configured key every
// request is refused.
import { type OpenAPIHono } from '@hono/zod-openapi';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { type Context } from 'hono';
import { Queue } from 'bullmq';
import { QUEUE_WEBHOOKS } from '../../queue/schema.js';
import { keyFrom, keyMatches } from '../auth.js';
import { type ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { mountBoard } from './board.js';
import { overview } from './overview.js';
import { dashboardPage, loginPage } from './pages.js';

const COOKIE = 'cellblock_admin';
const SESSION_SECONDS = 12 * 3600;

export function adminRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const expected = ctx.config.adminKeySha256;
  const admitted = (presented: string | undefined) => expected !== undefined && !!presented && keyMatches(expected, presented);
  const signedIn = (c: Context) => admitted(keyFrom((name) => c.req.header(name)) ?? getCookie(c, COOKIE));
  const closed = expected === undefined ? 'The dashboard is closed: no admin key is configured (adminKeySha256).' : '';

  app.post('/admin/login', async (c) => {
    const form = await c.req.parseBody();
    const key = typeof form.key === 'string' ? form.key : '';
    if (!admitted(key)) return c.html(loginPage(closed || 'That is not the admin key.'), 401);
    setCookie(c, COOKIE, key, {
      path: '/admin',
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      maxAge: SESSION_SECONDS,
    });
    return c.redirect('/admin', 303);
  });
  app.post('/admin/logout', (c) => {
    deleteCookie(c, COOKIE, { path: '/admin' });
    return c.redirect('/admin', 303);
  });

  // everything else under /admin: pages answer with the sign-in form, the rest with the API's error
  const guard = async (c: Context, next: () => Promise<void>) => {
    if (signedIn(c)) return next();
    if (c.req.method === 'GET' && !c.req.path.startsWith('/admin/api/') && (c.req.header('accept') ?? '').includes('text/html')) {
      return c.html(loginPage(closed), 401);
    }
    throw new ApiError('UNAUTHORIZED', closed || 'the admin key is required (sign in at /admin, or Authorization: Bearer <admin key>)');
  };
  app.use('/admin/*', guard); // /admin too

  const webhooks = new Queue(QUEUE_WEBHOOKS, { connection: ctx.redis });
  app.get('/admin', (c) => c.html(dashboardPage()));
  app.get('/admin/api/overview', async (c) => c.json(await overview(ctx.redis, ctx.subs, [ctx.subs.queue, webhooks])));
  // webhook deliveries may be retried or removed from the board; submissions only looked at
  mountBoard(app, '/admin/queues', [
    { queue: ctx.subs.queue, readOnly: true },
    { queue: webhooks, readOnly: false },
  ]);
}
