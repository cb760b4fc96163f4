// Calls to the server's public API from the browser: JSON requests with the
// caller's key, errors as ApiFailure with the API's stable code, and the
// server-sent events of a submission read over fetch (EventSource cannot send
// an Authorization header).
import type { ApiErrorCode } from '../api/errors.js';

// The API's codes, and ours for what never reached it.
export type FailureCode = ApiErrorCode | 'NETWORK' | 'BAD_REPLY';

export class ApiFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly status = 0,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const authorization = (key: string): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

async function failureOf(response: Response): Promise<ApiFailure> {
  const text = await response.text().catch(() => '');
  const retryAfter = Number(response.headers.get('retry-after') ?? '') || undefined;
  try {
    const body = JSON.parse(text) as { error?: { code?: ApiErrorCode; message?: string } };
    if (body.error?.code) return new ApiFailure(body.error.code, body.error.message ?? '', response.status, retryAfter);
  } catch {
    // not the API's error shape: said below
  }
  return new ApiFailure('BAD_REPLY', `HTTP ${response.status}: ${text.slice(0, 300)}`, response.status, retryAfter);
}

async function send(path: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiFailure('NETWORK', error instanceof Error ? error.message : String(error));
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

export async function request<T>(method: string, path: string, key: string, body?: unknown): Promise<T> {
  const response = await send(path, {
    method,
    headers: { accept: 'application/json', ...authorization(key), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiFailure('BAD_REPLY', `HTTP ${response.status}: the reply is not JSON`, response.status);
  }
}

export interface ServerEvent {
  event: string;
  data: unknown;
}

// The events of a stream as they arrive, until the server ends it or `signal` aborts.
export async function* serverEvents(path: string, key: string, signal: AbortSignal): AsyncGenerator<ServerEvent> {
  const response = await send(path, { headers: { accept: 'text/event-stream', ...authorization(key) }, signal });
  if (!response.body) throw new ApiFailure('BAD_REPLY', 'the event stream has no body');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll('\r\n', '\n');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) as unknown };
    }
  }
}
