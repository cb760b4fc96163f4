// One schema per concept: what a run is (RunSpec) and what happened (RunResult).
// Types, the CLI's --json output and later the API all derive from these.
import { isAbsolute, normalize } from 'node:path';
import { z } from 'zod';
import { ErrorInfo } from './errors.js';

const absolutePath = z
  .string()
  .refine((p) => isAbsolute(p) && normalize(p) === p && !p.includes('\0'), 'must be an absolute, normalized path');

// A path inside the work dir: relative, no "..", no empty segments.
export const workPath = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (p) => !isAbsolute(p) && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..') && !p.includes('\0'),
    'must be a relative path inside the work dir, without ".."',
  );

// Bytes in memory (a Buffer is one).
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected bytes');

const LimitFields = z.object({
  cpuMs: z.number().int().min(1).max(600_000),
  wallMs: z.number().int().min(1).max(3_600_000),
  memoryKb: z.number().int().min(4_096).max(64 * 1024 * 1024),
  pids: z.number().int().min(1).max(4_096),
  outputKb: z.number().int().min(1).max(1024 * 1024),
  fileSizeKb: z.number().int().min(1).max(16 * 1024 * 1024),
  openFiles: z.number().int().min(8).max(20_000),
  stackKb: z.number().int().min(64).max(16 * 1024 * 1024),
  diskKb: z.number().int().min(64).max(16 * 1024 * 1024),
  inodes: z.number().int().min(16).max(1_000_000),
  // files brought back after the run: bytes in all, and how many
  collectKb: z.number().int().min(1).max(16 * 1024 * 1024),
  collectFiles: z.number().int().min(1).max(100_000),
});

export const DEFAULT_LIMITS: z.infer<typeof LimitFields> = {
  cpuMs: 2_000,
  wallMs: 5_000,
  memoryKb: 262_144,
  pids: 64,
  outputKb: 65_536,
  fileSizeKb: 65_536,
  openFiles: 64,
  stackKb: 65_536,
  diskKb: 65_536,
  inodes: 4_096,
  collectKb: 65_536,
  collectFiles: 1_000,
};

// Some limits, no defaults: what a profile step overrides.
export const LimitOverrides = LimitFields.partial();
export type LimitOverrides = z.infer<typeof LimitOverrides>;

// Every limit, the defaults filling what is not given.
export const Limits = LimitOverrides.transform((given) => ({ ...DEFAULT_LIMITS, ...given }));
export type Limits = z.output<typeof Limits>;

export const FileIn = z.union([
  z.object({ path: workPath, source: absolutePath, mode: z.number().int().min(0).max(0o777).optional() }),
  z.object({
    path: workPath,
    content: z.union([z.string(), bytes]),
    mode: z.number().int().min(0).max(0o777).default(0o644),
  }),
]);
export type FileIn = z.infer<typeof FileIn>;

const fd = z.number().int().min(0).max(1 << 20);

export const Stdin = z.union([
  z.object({ file: absolutePath }),
  z.object({ text: z.string() }),
  z.object({ bytes }),
  // a pipe end from openPipe(), for interactors; the caller closes it after run() starts
  z.object({ fd }),
]);

export const RunSpec = z.object({
  argv: z.array(z.string().min(1).refine((a) => !a.includes('\0'), 'no NUL bytes')).min(1).max(4_096),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not a variable name'), z.string().refine((v) => !v.includes('\0'), 'no NUL bytes'))
    .default({}),
  limits: Limits.prefault({}),
  readOnly: z.array(absolutePath).max(256).default([]),
  files: z.array(FileIn).max(10_000).default([]),
  stdin: Stdin.optional(),
  // stdout to a pipe end from openPipe() instead of being captured
  stdoutFd: fd.optional(),
  // past outputKb keep the prefix and go on, instead of stopping with output_limit
  truncateOutput: z.boolean().default(false),
  // captured output that is not valid UTF-8: see text.ts
  outputText: z.enum(['utf8', 'escaped']).default('utf8'),
  // work dir files to bring back after the run (no link is followed): paths, or
  // globs where * ? [...] match within a name and ** any number of directories
  collect: z.array(workPath).max(1_000).default([]),
  // the root: host dirs stacked read-only (overlayfs), top first — an imported
  // image's layers or a directory the operator prepared; absent: the host's
  // /usr and friends bound read-only
  rootLayers: z
    .array(absolutePath.refine((p) => !/[:,\\]/.test(p), 'no ":", "," or "\\" in a root layer path'))
    .min(1)
    .max(128)
    .optional(),
  cpus: z.string().regex(/^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/, 'a cpuset list such as 0-1,3').optional(),
  seccomp: z
    .object({
      policy: z.string().regex(/^[a-z0-9-]+$/).default('default'),
      allow: z.array(z.string().regex(/^[a-z0-9_]+$/)).default([]),
    })
    .prefault({}),
});
export type RunSpec = z.input<typeof RunSpec>;
export type ParsedRunSpec = z.output<typeof RunSpec>;

export const RunStatus = z.enum([
  'ok',
  'runtime_error',
  'time_limit',
  'wall_time_limit',
  'memory_limit',
  'output_limit',
  'security_violation',
  'internal_error',
  'cancelled', // stopped by the caller (run's options.signal)
]);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunResult = z.object({
  status: RunStatus,
  exitCode: z.number().int().nullable(),
  signal: z.number().int().nullable(),
  signalName: z.string().nullable(),
  cpuMs: z.number(),
  wallMs: z.number(),
  memoryKb: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  syscall: z.string().optional(),
  error: ErrorInfo.optional(),
  weakened: z.array(z.string()).optional(),
  files: z.array(z.object({ path: z.string(), mode: z.number().int(), data: bytes })).optional(),
  refused: z.array(z.object({ path: z.string(), reason: z.string() })).optional(),
});
export type RunResult = z.infer<typeof RunResult>;
