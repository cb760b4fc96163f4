// cellblock run: one command in a fresh sandbox.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { imageStore } from '../images/images.js';
import { type FileIn, type RunResult, type RunSpec } from '../sandbox/schema.js';
import { run } from '../sandbox/run.js';
import { defaultStoreRoot } from '../store/content.js';
import { parseKb, parseMs } from './units.js';

export const RUN_USAGE = `usage: cellblock run [options] -- CMD [ARGS...]
  --time T        CPU time of the whole tree (default 2s)
  --wall T        wall-clock time (default 5s)
  --memory SIZE   memory of the whole tree (default 256M)
  --pids N        processes and threads (default 64)
  --output SIZE   stdout and stderr, each (default 64M)
  --disk SIZE     work dir and /tmp together (default 64M)
  --ro PATH       bind PATH read-only at the same path (repeatable)
  --copy-in SRC[:DEST]  copy a file, or a directory's files, into the work dir, keeping modes (repeatable)
  --collect GLOB  bring back work dir files after the run: a path, or a glob (* ? [..] within a
                  name, ** across directories), e.g. 'out/**' (repeatable); links never followed
  --out DIR       write the collected files under DIR (default: the current directory)
  --image DIGEST  run in an image imported with cellblock image import (its root, read-only)
  --rootfs DIR    run in a root filesystem prepared in DIR (read-only)
  --stdin FILE    stdin from FILE (default: empty)
  --env K=V       add to the environment (PATH, HOME, LANG) (repeatable)
  --cpus LIST     pin to these CPUs (cpuset list)
  --allow-weaker  run without Landlock where the kernel lacks it (reported)
  --json          print one JSON object instead of the program's output`;

const OPTIONS = {
  time: { type: 'string' },
  wall: { type: 'string' },
  memory: { type: 'string' },
  pids: { type: 'string' },
  output: { type: 'string' },
  disk: { type: 'string' },
  ro: { type: 'string', multiple: true },
  'copy-in': { type: 'string', multiple: true },
  collect: { type: 'string', multiple: true },
  out: { type: 'string' },
  image: { type: 'string' },
  rootfs: { type: 'string' },
  stdin: { type: 'string' },
  env: { type: 'string', multiple: true },
  cpus: { type: 'string' },
  'allow-weaker': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

// A file, or every regular file below a directory (links are skipped: the
// caller's tree is copied, not what it points to).
function copiesOf(source: string, dest: string): FileIn[] {
  if (!statSync(source).isDirectory()) return [{ source, path: dest }];
  const files: FileIn[] = [];
  for (const entry of readdirSync(source, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.push({ source: full, path: join(dest, relative(source, full)).split(sep).join('/') });
  }
  return files;
}

export interface RunArgs {
  spec: RunSpec;
  json: boolean;
  allowWeaker: boolean;
  out: string;
  image?: string;
}

export function specFromArgs(args: string[]): RunArgs {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new Error('no command given');
  if (values.image && values.rootfs) throw new Error('--image and --rootfs: one root at a time');
  const limits: Record<string, number> = {};
  if (values.time) limits.cpuMs = parseMs(values.time, '--time');
  if (values.wall) limits.wallMs = parseMs(values.wall, '--wall');
  if (values.memory) limits.memoryKb = parseKb(values.memory, '--memory');
  if (values.output) limits.outputKb = parseKb(values.output, '--output');
  if (values.disk) limits.diskKb = parseKb(values.disk, '--disk');
  if (values.pids) limits.pids = Number(values.pids);
  const env = Object.fromEntries(
    (values.env ?? []).map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`--env: expected K=V, got '${pair}'`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
  const files = (values['copy-in'] ?? []).flatMap((item) => {
    const colon = item.indexOf(':');
    const source = resolve(colon < 0 ? item : item.slice(0, colon));
    return copiesOf(source, colon < 0 ? basename(source) : item.slice(colon + 1));
  });
  const spec: RunSpec = {
    argv: positionals,
    env,
    limits,
    readOnly: (values.ro ?? []).map((path) => resolve(path)),
    files,
    ...(values.stdin ? { stdin: { file: resolve(values.stdin) } } : {}),
    ...(values.cpus ? { cpus: values.cpus } : {}),
    ...(values.collect ? { collect: values.collect } : {}),
    ...(values.rootfs ? { rootLayers: [resolve(values.rootfs)] } : {}),
  };
  return {
    spec,
    json: values.json ?? false,
    allowWeaker: values['allow-weaker'] ?? false,
    out: resolve(values.out ?? '.'),
    ...(values.image ? { image: values.image } : {}),
  };
}

// Collected files under `out`, each at its path; a path is a name the walk
// found or one the spec validated, and never climbs out.
function writeCollected(result: RunResult, out: string): void {
  for (const file of result.files ?? []) {
    const target = resolve(out, file.path);
    if (!target.startsWith(out + sep)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.data, { mode: file.mode });
  }
}

export function summary(result: RunResult): string {
  const parts = [`status=${result.status}`];
  if (result.exitCode !== null) parts.push(`exit=${result.exitCode}`);
  if (result.signalName) parts.push(`signal=${result.signalName}`);
  if (result.syscall) parts.push(`syscall=${result.syscall}`);
  parts.push(`cpu=${result.cpuMs.toFixed(1)}ms`, `wall=${result.wallMs.toFixed(1)}ms`, `memory=${result.memoryKb}KB`);
  if (result.error) parts.push(`error=${result.error.code}: ${result.error.message}`);
  if (result.weakened) parts.push(`weakened=${result.weakened.join(',')}`);
  return `cellblock: ${parts.join(' ')}`;
}

// Exit code: 0 when the run was judged, whatever its status; 1 when it could not run.
export async function runCommand(args: string[]): Promise<number> {
  const { spec, json, allowWeaker, out, image } = specFromArgs(args);
  if (image) spec.rootLayers = await imageStore(defaultStoreRoot()).layers(image);
  const result = await run(spec, { allowWeaker });
  writeCollected(result, out);
  if (json) {
    // collected files are on disk: the JSON says which, not their bytes
    const files = result.files?.map(({ path, mode, data }) => ({ path, mode, size: data.length }));
    process.stdout.write(`${JSON.stringify({ ...result, ...(files ? { files } : {}) })}\n`);
  } else {
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    for (const refused of result.refused ?? []) process.stderr.write(`cellblock: not collected: ${refused.path}: ${refused.reason}\n`);
    process.stderr.write(`${summary(result)}\n`);
  }
  return result.status === 'internal_error' ? 1 : 0;
}
