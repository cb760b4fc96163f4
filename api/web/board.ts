// bull-board (its Hono adapter) for the BullMQ queues, its UI's files served from
// the @bull-board/ui package by us. Its page asks Google for fonts: that link is
// taken out, so nothing is fetched from another host (the fonts fall back).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { type Queue } from 'bullmq';
import { type OpenAPIHono } from '@hono/zod-openapi';

const FOREIGN_FONTS = /<link[^>]*fonts\.googleapis\.com[^>]*>/g;

// `readOnly` queues can be looked into but not changed: removing or promoting a
// submission's job behind the queue's back would leave its state (in Redis
// beside the job) waiting for a result that never comes.
export function mountBoard(app: OpenAPIHono, path: string, queues: { queue: Queue; readOnly: boolean }[]): void {
  const adapter = new HonoAdapter(serveStatic).setBasePath(path);
  createBullBoard({
    queues: queues.map(({ queue, readOnly }) => new BullMQAdapter(queue, { readOnlyMode: readOnly })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Cellblock queues' } },
  });
  const strip = async (c: { res: Response }, next: () => Promise<void>) => {
    await next();
    if (!c.res.headers.get('content-type')?.startsWith('text/html')) return;
    const page = (await c.res.text()).replace(FOREIGN_FONTS, '');
    c.res = new Response(page, { status: c.res.status, headers: c.res.headers });
  };
  app.use(`${path}/*`, strip); // the board's page too
  app.route(path, adapter.registerPlugin());
}
