// Every error the API returns: a stable code, an HTTP status and a message, as
// {"error": {"code", "message"}}. Client mistakes are 4xx, never 5xx.
import { z } from 'zod';
import { type NotAdmitted } from '../queue/submissions.js';
import { type ErrorCode } from '../sandbox/errors.js';

export const ApiErrorCode = z.enum([
  'INVALID_JSON',
  'INVALID_REQUEST',
  'BODY_TOO_LARGE',
  'UNAUTHORIZED',
  'RATE_LIMITED',
  'TOO_MANY_ACTIVE',
  'LIMIT_ABOVE_CEILING',
  'UNKNOWN_LANGUAGE',
  'LANGUAGE_UNAVAILABLE',
  'TEST_SET_NOT_FOUND',
  'INVALID_PACKAGE',
  'PROBLEM_NOT_FOUND',
  'IMAGE_NOT_FOUND',
  'FILE_NOT_FOUND',
  'ROOTFS_NOT_FOUND',
  'BATCH_TOO_LARGE',
  'NOT_FOUND',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

export const ApiErrorBody = z.object({ error: z.object({ code: ApiErrorCode, message: z.string() }) });

const STATUS: Record<ApiErrorCode, 400 | 401 | 404 | 413 | 422 | 429 | 500 | 503> = {
  INVALID_JSON: 400,
  INVALID_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  RATE_LIMITED: 429,
  TOO_MANY_ACTIVE: 429,
  LIMIT_ABOVE_CEILING: 422,
  UNKNOWN_LANGUAGE: 422,
  LANGUAGE_UNAVAILABLE: 422,
  TEST_SET_NOT_FOUND: 422,
  INVALID_PACKAGE: 422,
  PROBLEM_NOT_FOUND: 404,
  IMAGE_NOT_FOUND: 422,
  FILE_NOT_FOUND: 422,
  ROOTFS_NOT_FOUND: 422,
  BATCH_TOO_LARGE: 413,
  NOT_FOUND: 404,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: (typeof STATUS)[ApiErrorCode];
  readonly retryAfter?: number;
  constructor(code: ApiErrorCode, message: string, retryAfter?: number) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

// The engine's codes a request can cause.
export function fromEngine(code: ErrorCode, message: string): ApiError {
  if (
    code === 'UNKNOWN_LANGUAGE' ||
    code === 'LANGUAGE_UNAVAILABLE' ||
    code === 'TEST_SET_NOT_FOUND' ||
    code === 'INVALID_PACKAGE' ||
    code === 'PROBLEM_NOT_FOUND' ||
    code === 'IMAGE_NOT_FOUND'
  ) {
    return new ApiError(code, message);
  }
  if (code === 'INVALID_SPEC') return new ApiError('INVALID_REQUEST', message);
  return new ApiError('INTERNAL', message);
}

// A job not admitted (queue/submissions.ts): 429, the code naming why.
export const notAdmitted = (error: NotAdmitted): ApiError =>
  new ApiError(error.reason === 'rate' ? 'RATE_LIMITED' : 'TOO_MANY_ACTIVE', error.message, error.retryAfter);
