// The browser code, bundled at build time by esbuild into dist/web/ (package.json's
// build script), read once at start and served by the server itself: the pages
// need nothing from any other host.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OpenAPIHono } from '@hono/zod-openapi';

// dist/api/web/assets.js → dist/web/
const BUNDLE_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(BUNDLE_DIR)) return assets;
  for (const name of readdirSync(BUNDLE_DIR)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(BUNDLE_DIR, name));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

// GET /assets/NAME: revalidated each time (no-cache), answered 304 while unchanged.
export function assetRoutes(app: OpenAPIHono): { missing: string[] } {
  const assets = loadAssets();
  app.get('/assets/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (!asset) return c.notFound();
    const headers = { 'content-type': asset.type, etag: asset.etag, 'cache-control': 'no-cache' };
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    return c.body(new Uint8Array(asset.body), 200, headers);
  });
  return { missing: ['playground.js', 'admin.js'].filter((name) => !assets.has(name)) };
}
