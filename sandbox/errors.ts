// Errors a caller can act on, each with a stable code (users script against them).
import { z } from 'zod';

export const ErrorCode = z.enum([
  'INVALID_SPEC', // the spec failed validation
  'PATH_NOT_FOUND', // a read-only path, file to copy in or stdin file does not exist
  'EXEC_NOT_FOUND', // the program is not in the sandbox's root
  'EXEC_FAILED', // execve failed for another reason (permission, format)
  'WORKDIR_FULL', // the files to copy in do not fit the work dir
  'SECCOMP_POLICY', // the seccomp policy is invalid
  'CGROUP', // the run's cgroup could not be made
  'UNSUPPORTED', // the host lacks something a sandbox needs
  'SANDBOX_SETUP', // any other failure while building the sandbox
  'UNKNOWN_LANGUAGE', // no profile has this id
  'LANGUAGE_UNAVAILABLE', // the profile exists, its toolchain is not on this host
  'TEST_SET_NOT_FOUND', // no stored test set has this hash
  'INVALID_PACKAGE', // a problem package is malformed or partial (the file is named)
  'PROBLEM_NOT_FOUND', // no stored problem package has this id
  'IMAGE_NOT_FOUND', // no imported image has this digest
  'IMAGE_INVALID', // an image tarball cannot be imported (format, digests, layers)
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorInfo = z.object({ code: ErrorCode, message: z.string() });
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export class SandboxError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
  }
}
