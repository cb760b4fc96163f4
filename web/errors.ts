// A sentence for every error the API can return (api/errors.ts's codes: the
// Record makes the type checker refuse a code without one), and for failures
// that never reached it. The server's own message follows it on the page.
import { type ApiFailure, type FailureCode } from './api.js';

const EXPLAINED: Record<FailureCode, string> = {
  INVALID_JSON: 'The server could not read the request as JSON.',
  INVALID_REQUEST: 'The server refused the submission as malformed.',
  BODY_TOO_LARGE: 'The submission is larger than this server accepts: shorten the source or the tests.',
  UNAUTHORIZED: 'This server needs a valid API key: enter yours under "Limits, checker and API key".',
  RATE_LIMITED: 'Too many requests this minute for your key.',
  TOO_MANY_ACTIVE: 'Your key has as many submissions queued or running as it may: wait for one to finish.',
  LIMIT_ABOVE_CEILING: 'A limit is above what this server allows your key.',
  UNKNOWN_LANGUAGE: 'This server does not know that language.',
  LANGUAGE_UNAVAILABLE: "That language's toolchain is not installed on this server.",
  TEST_SET_NOT_FOUND: 'The test set named is not stored on this server.',
  BATCH_TOO_LARGE: 'Too many submissions in one batch.',
  INVALID_PACKAGE: 'The problem package is malformed or incomplete.',
  PROBLEM_NOT_FOUND: 'The problem named is not stored on this server.',
  IMAGE_NOT_FOUND: 'The root filesystem image named is not imported on this server.',
  ROOTFS_NOT_FOUND: 'The root filesystem named is not configured on this server.',
  FILE_NOT_FOUND: 'A file named by its hash is not stored on this server: upload it first.',
  NOT_FOUND: 'The submission is gone: it expired, or it belongs to another key.',
  SERVICE_UNAVAILABLE: 'The service is unavailable for now (its Redis cannot be reached).',
  INTERNAL: 'The server failed on its side; the submission is not to blame.',
  NETWORK: 'The server could not be reached.',
  BAD_REPLY: 'The server answered with something other than the API.',
};

export function explain(failure: ApiFailure): { headline: string; detail: string } {
  const retry = failure.retryAfter ? ` Try again in ${failure.retryAfter} s.` : '';
  return { headline: `${EXPLAINED[failure.code]}${retry}`, detail: failure.message ? `${failure.code}: ${failure.message}` : failure.code };
}
