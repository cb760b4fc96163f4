// Server-sent events of one submission or run: "state" first, then each event
// as it is published ("status", "test" or "output", "done"); the stream ends
// after "done", when the client goes, or at shutdown.
import { type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { type JobEvent, type SubmissionState } from '../queue/schema.js';
import { type ApiContext } from './context.js';
import { ApiError } from './errors.js';

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
