// Runs over the API (CI plug-ins and the like): a command with a tree of files
// in, files brought back, logs as written, in a root of the user's choosing.
// The request as sent (RunRequest), the job as queued (RunJob: every input
// already in the content store, named by hash) and the outcome (RunOutcome: the
// fields of `cellblock run --json`, collected files by hash, small ones inline).
import { z } from 'zod';
import { ImageDigest } from '../images/images.js';
import { LimitOverrides, RunResult, RunSpec, workPath } from '../sandbox/schema.js';
import { Sha256 } from '../store/content.js';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const mode = z.number().int().min(0).max(0o777);

// Bytes: inline text, base64, or a blob uploaded before (PUT /v1/files/:sha256).
export const Bytes = z.union([z.object({ text: z.string() }), z.object({ base64 }), z.object({ sha256: Sha256 })]);
export type Bytes = z.infer<typeof Bytes>;

export const InputFile = z.intersection(z.object({ path: workPath, mode: mode.default(0o644) }), Bytes);

export const RunRequest = z.object({
  argv: RunSpec.shape.argv,
  env: RunSpec.shape.env,
  stdin: Bytes.optional(),
  limits: LimitOverrides.default({}),
  files: z.array(InputFile).max(10_000).default([]),
  // a tar archive unpacked into the work dir: regular files and directories only
  archive: Bytes.optional(),
  collect: RunSpec.shape.collect,
  // an image imported on the workers' hosts (cellblock image import), or a root
  // the operator prepared and named in the config; absent: the host's binds
  image: ImageDigest.optional(),
  rootfs: z.string().max(64).optional(),
});
export type RunRequest = z.input<typeof RunRequest>;
export type ParsedRunRequest = z.output<typeof RunRequest>;

export const StoredFile = z.object({ path: workPath, mode, sha256: Sha256 });
export type StoredFile = z.infer<typeof StoredFile>;

export const RunJob = z.object({
  argv: RunSpec.shape.argv,
  env: z.record(z.string(), z.string()),
  stdin: Sha256.optional(),
  limits: LimitOverrides,
  files: z.array(StoredFile),
  collect: z.array(z.string()),
  image: z.string().optional(),
  // the operator's prepared root, resolved from its name by the API
  rootDir: z.string().optional(),
});
export type RunJob = z.infer<typeof RunJob>;

export const CollectedFile = z.object({
  path: z.string(),
  mode: z.number().int(),
  size: z.number().int(),
  // fetch with GET /v1/files/:sha256
  sha256: Sha256,
  // the bytes, when small
  base64: z.string().optional(),
});

export const RunOutcome = RunResult.omit({ files: true }).extend({ files: z.array(CollectedFile).optional() });
export type RunOutcome = z.infer<typeof RunOutcome>;
