// The body limit, and a request body read once, from Node's own stream. Hono
// reads a body through a web Request that @hono/node-server builds for it on
// first use: on a small POST that costs more than all the rest of its handling
// (measured: ~0.1 ms of a sync run's ~0.4 ms in the API). Here the bytes are
// read from the IncomingMessage, up to the limit, and put in Hono's body cache,
// where c.req.json(), text(), arrayBuffer() and the validators find them.
// Without Node's request (app.request() in tests), Hono's bodyLimit does it.
import { type IncomingMessage } from 'node:http';
import { type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.js';

type TooLarge = (c: Context) => Response;

const WITHOUT_BODY = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

// The whole body, or undefined once it passes `maxBytes` (the rest unread). A
// client gone mid-body is its own mistake: 400, not an error of ours.
async function readCapped(incoming: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of incoming) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) return undefined;
      chunks.push(chunk as Buffer);
    }
  } catch {
    throw new ApiError('INVALID_REQUEST', 'the request body was cut short');
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}

export function requestBody(maxBytes: number, tooLarge: TooLarge): MiddlewareHandler {
  const webLimit = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (!incoming) return webLimit(c, next);
    // once a request: Hono's router runs the middleware twice for a path that is
    // itself a pattern ("/*"), and the stream is read by then
    if (WITHOUT_BODY.has(c.req.method) || c.req.bodyCache.arrayBuffer) return next();
    if (Number(c.req.header('content-length') ?? 0) > maxBytes) return tooLarge(c);
    const bytes = await readCapped(incoming, maxBytes);
    if (!bytes) return tooLarge(c);
    // arrayBuffer first: what Hono converts from for a kind not cached (formData)
    // (Hono keeps promises there, though its type names the values)
    const arrayBuffer = Promise.resolve(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    let text: Promise<string> | undefined;
    Object.defineProperties(c.req.bodyCache, {
      arrayBuffer: { enumerable: true, value: arrayBuffer },
      text: { enumerable: true, get: () => (text ??= Promise.resolve(bytes.toString('utf8'))) },
    });
    return next();
  };
}
