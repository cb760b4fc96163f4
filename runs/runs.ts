// A run request becomes a queued job (prepareRun: every input put in the content
// store once, an archive unpacked into files, references checked) and a job
// becomes an outcome (executeRun: inputs read back, the run, collected files
// stored by hash).
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as tar from 'tar';
import { type Images } from '../images/images.js';
import { SandboxError } from '../sandbox/errors.js';
import { type OutputStream, run } from '../sandbox/run.js';
import { workPath } from '../sandbox/schema.js';
import { type ContentStore } from '../store/content.js';
import { type Bytes, type ParsedRunRequest, type RunJob, type RunOutcome, type StoredFile } from './schema.js';

// Collected files up to this size come back inline too.
export const INLINE_BYTES = 64 * 1024;

export class RunInputError extends Error {
  override name = 'RunInputError';
  readonly code: 'INVALID_REQUEST' | 'FILE_NOT_FOUND' | 'ROOTFS_NOT_FOUND';
  constructor(code: RunInputError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

async function bytesOf(store: ContentStore, bytes: Bytes, what: string): Promise<Buffer> {
  if ('text' in bytes) return Buffer.from(bytes.text, 'utf8');
  if ('base64' in bytes) return Buffer.from(bytes.base64, 'base64');
  const stored = await store.get(bytes.sha256);
  if (!stored) throw new RunInputError('FILE_NOT_FOUND', `${what}: no file ${bytes.sha256}: PUT /v1/files/${bytes.sha256} first`);
  return stored;
}

// An archive's regular files and directories (their modes); anything else — a
// link, a device, a path leaving the work dir — refuses the request.
async function unpackArchive(archive: Buffer): Promise<{ path: string; mode: number; data: Buffer }[]> {
  const files: { path: string; mode: number; data: Buffer }[] = [];
  const problems: string[] = [];
  const parser = new tar.Parser({
    onReadEntry: (entry) => {
      const path = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
      if (entry.type === 'Directory' || path === '' || path === '.') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile') problems.push(`${entry.path}: a ${entry.type}, only files and directories are taken`);
      else if (!workPath.safeParse(path).success) problems.push(`${entry.path}: not a path inside the work dir`);
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => files.push({ path, mode: (entry.mode ?? 0o644) & 0o777, data: Buffer.concat(chunks) }));
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      parser.on('error', reject);
      parser.on('end', resolve);
      Readable.from([archive]).pipe(parser);
    });
  } catch (error) {
    throw new RunInputError('INVALID_REQUEST', `archive: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (problems.length > 0) throw new RunInputError('INVALID_REQUEST', `archive: ${problems.slice(0, 5).join('; ')}`);
  return files.filter((file) => workPath.safeParse(file.path).success);
}

// The request's inputs into the store; `limits` already held under the ceilings;
// `rootfs`: the operator's prepared roots by name.
export async function prepareRun(store: ContentStore, images: Images, request: ParsedRunRequest, rootfs: Record<string, string>): Promise<RunJob> {
  if (request.image && request.rootfs) throw new RunInputError('INVALID_REQUEST', 'image and rootfs: one root at a time');
  if (request.image) await images.layers(request.image);
  const rootDir = request.rootfs === undefined ? undefined : rootfs[request.rootfs];
  if (request.rootfs !== undefined && rootDir === undefined) {
    throw new RunInputError('ROOTFS_NOT_FOUND', `no root filesystem '${request.rootfs}'; the operator names them in the config (rootfs)`);
  }
  const files: StoredFile[] = [];
  if (request.archive) {
    for (const file of await unpackArchive(await bytesOf(store, request.archive, 'archive'))) {
      files.push({ path: file.path, mode: file.mode, sha256: await store.put(file.data) });
    }
  }
  for (const file of request.files) {
    files.push({ path: file.path, mode: file.mode, sha256: 'sha256' in file && (await store.has(file.sha256)) ? file.sha256 : await store.put(await bytesOf(store, file, file.path)) });
  }
  const paths = new Set<string>();
  for (const file of files) {
    if (paths.has(file.path)) throw new RunInputError('INVALID_REQUEST', `${file.path}: given twice`);
    paths.add(file.path);
  }
  return {
    argv: request.argv,
    env: request.env,
    ...(request.stdin ? { stdin: await store.put(await bytesOf(store, request.stdin, 'stdin')) } : {}),
    limits: request.limits,
    files,
    collect: request.collect,
    ...(request.image ? { image: request.image } : {}),
    ...(rootDir ? { rootDir } : {}),
  };
}

export interface ExecuteOptions {
  store: ContentStore;
  images: Images;
  signal?: AbortSignal;
  cpus?: string;
  // stdout and stderr as written, decoded as UTF-8 (a character split between
  // writes comes whole)
  onOutput?: (stream: OutputStream, text: string) => void;
}

export async function executeRun(job: RunJob, options: ExecuteOptions): Promise<RunOutcome> {
  const { store } = options;
  const need = async (hash: string) => {
    const bytes = await store.get(hash);
    if (!bytes) throw new SandboxError('PATH_NOT_FOUND', `input ${hash} is missing from the store`);
    return bytes;
  };
  const files = await Promise.all(job.files.map(async (file) => ({ path: file.path, mode: file.mode, content: await need(file.sha256) })));
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const onOutput = options.onOutput;
  const result = await run(
    {
      argv: job.argv,
      env: job.env,
      limits: job.limits,
      files,
      ...(job.stdin ? { stdin: { bytes: await need(job.stdin) } } : {}),
      collect: job.collect,
      ...(job.image ? { rootLayers: await options.images.layers(job.image) } : {}),
      ...(job.rootDir ? { rootLayers: [job.rootDir] } : {}),
      ...(options.cpus ? { cpus: options.cpus } : {}),
    },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(onOutput ? { onOutput: (stream: OutputStream, chunk: Buffer) => onOutput(stream, decoders[stream].write(chunk)) } : {}),
    },
  );
  // a character cut short at the very end comes as the replacement character
  for (const stream of ['stdout', 'stderr'] as const) {
    const rest = decoders[stream].end();
    if (rest && onOutput) onOutput(stream, rest);
  }
  const { files: collected, ...rest } = result;
  return {
    ...rest,
    ...(collected
      ? {
          files: await Promise.all(
            collected.map(async (file) => {
              const data = Buffer.from(file.data);
              return {
                path: file.path,
                mode: file.mode,
                size: data.length,
                sha256: await store.put(data),
                ...(data.length <= INLINE_BYTES ? { base64: data.toString('base64') } : {}),
              };
            }),
          ),
        }
      : {}),
  };
}
