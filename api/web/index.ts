// The web layer: the playground at / (config `playground`), the operator's
// dashboard at /admin (config `adminKeySha256`), and the browser code they load,
// served from dist/web/ by us. Both pages use no other host: a CSP says so.
import { type OpenAPIHono } from '@hono/zod-openapi';
import { secureHeaders } from 'hono/secure-headers';
import { type ApiContext } from '../context.js';
import { adminRoutes } from './admin.js';
import { assetRoutes } from './assets.js';
import { playgroundPage } from './pages.js';

const headers = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    // CodeMirror and bull-board set styles from script
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'self'"],
    objectSrc: ["'none'"],
  },
  referrerPolicy: 'no-referrer',
  // TLS is the deployment's (a proxy in front): not ours to pin
  strictTransportSecurity: false,
});

export function webRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  for (const path of ['/', '/assets/*', '/admin/*']) app.use(path, headers); // /admin/* covers /admin
  const { missing } = assetRoutes(app);
  if (missing.length > 0) ctx.log.warn({ missing }, 'web assets not built (npm run build): the pages will not work');
  if (ctx.config.playground) app.get('/', (c) => c.html(playgroundPage()));
  adminRoutes(app, ctx);
}
