// run(spec): validate, refuse what cannot be sandboxed, map to the addon's spec,
// launch, and shape the result.
import { lstatSync } from 'node:fs';
import { constants } from 'node:os';
import { z } from 'zod';
import { compilePolicy } from '../profiles/seccomp.js';
import { ErrorCode, SandboxError } from './errors.js';
import { allowWeakerFromEnv, requireSandbox } from './host.js';
import { addon, type NativeSpec, type PoolStats } from './native.js';
import { type ParsedRunSpec, RunResult, RunSpec, RunStatus } from './schema.js';
import { decodeOutput } from './text.js';

export const TestLayer = z.enum(['seccomp', 'landlock', 'network', 'mount']);
export type TestLayer = z.infer<typeof TestLayer>;

export interface RunOptions {
  // Run without the layers this host lacks that may be weakened (Landlock only).
  allowWeaker?: boolean;
  // Tests only (CELLBLOCK_TEST_LAYERS=1): turn layers off one at a time to show
  // that another still holds; every result then lists them in `weakened`.
  // 'mount' binds the host's /etc, /root, /home, /var, /tmp and /run read-only
  // as well, with no Landlock rule for them.
  testLayersOff?: TestLayer[];
  // aborting it kills the run's whole tree; the result's status is then "cancelled"
  signal?: AbortSignal;
  // stdout and stderr as the program writes them (up to the output cap), not
  // only in the result; called on the event loop, in order, before run() resolves
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
}

export type OutputStream = 'stdout' | 'stderr';

let nextCancelToken = 1;

// Launches, wiring an AbortSignal to the addon's cancel().
async function launch(native: NativeSpec, signal: AbortSignal | undefined) {
  if (!signal) return addon.launch(native);
  const cancelToken = nextCancelToken++;
  const running = addon.launch({ ...native, cancelToken });
  const cancel = () => addon.cancel(cancelToken);
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  try {
    return await running;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

const EXPOSED_WITHOUT_MOUNT_ISOLATION = ['/etc', '/root', '/home', '/var', '/tmp', '/run'];

function testLayers(options: RunOptions): { layers: TestLayer[]; native: Partial<NativeSpec> } {
  const layers = options.testLayersOff ?? [];
  if (layers.length === 0) return { layers, native: {} };
  if (process.env.CELLBLOCK_TEST_LAYERS !== '1') {
    throw new SandboxError('UNSUPPORTED', 'turning sandbox layers off is for tests only (CELLBLOCK_TEST_LAYERS=1)');
  }
  return {
    layers,
    native: {
      testLayersOff: layers,
      ...(layers.includes('mount') ? { testExposed: EXPOSED_WITHOUT_MOUNT_ISOLATION.filter(exists) } : {}),
      ...(layers.includes('landlock') ? { landlockAbi: 0 } : {}),
    },
  };
}

const exists = (path: string): boolean => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

// What every program needs to start: the system's binaries and libraries and the
// dynamic loader's cache. Only paths this host has.
const BASE_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc/ld.so.cache', '/etc/alternatives', '/etc/localtime'];
let baseReadOnly: string[] | undefined;
export const defaultReadOnly = (): string[] => (baseReadOnly ??= BASE_READ_ONLY.filter(exists));

const BASE_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/box', LANG: 'C.UTF-8' };

// The first name of each number (SIGABRT, not its alias SIGIOT).
const signalNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) if (!signalNames.has(num)) signalNames.set(num, name);

export function parseSpec(input: RunSpec): ParsedRunSpec {
  const parsed = RunSpec.safeParse(input);
  if (!parsed.success) throw new SandboxError('INVALID_SPEC', z.prettifyError(parsed.error));
  return parsed.data;
}

function checkPathsExist(spec: ParsedRunSpec): void {
  const paths = [
    ...spec.readOnly.map((path) => ['read-only path', path] as const),
    ...spec.files.flatMap((file) => ('source' in file ? [['file to copy in', file.source] as const] : [])),
    ...(spec.stdin && 'file' in spec.stdin ? [['stdin file', spec.stdin.file] as const] : []),
    ...(spec.rootLayers ?? []).map((path) => ['root layer', path] as const),
  ];
  for (const [what, path] of paths) {
    if (!exists(path)) throw new SandboxError('PATH_NOT_FOUND', `${what} does not exist: ${path}`);
  }
}

function policyFor(spec: ParsedRunSpec): NativeSpec['seccomp'] {
  try {
    return compilePolicy(spec.seccomp.policy, spec.seccomp.allow);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SandboxError('SECCOMP_POLICY', `seccomp policy '${spec.seccomp.policy}': ${reason}`);
  }
}

function toNative(spec: ParsedRunSpec, landlockAbi: number): NativeSpec {
  const env = { ...BASE_ENV, ...spec.env };
  const kb = 1024;
  return {
    argv: spec.argv,
    env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    pathDirs: env.PATH.split(':').filter((dir) => dir.startsWith('/')),
    // a root of its own brings its own /usr
    readOnly: [...new Set([...(spec.rootLayers ? [] : defaultReadOnly()), ...spec.readOnly])],
    ...(spec.rootLayers ? { rootLayers: spec.rootLayers } : {}),
    copies: spec.files.map((file) =>
      'source' in file
        ? { dest: file.path, source: file.source, mode: file.mode ?? (lstatSync(file.source).mode & 0o777) }
        : { dest: file.path, content: file.content, mode: file.mode },
    ),
    ...(spec.stdin && 'file' in spec.stdin ? { stdinFile: spec.stdin.file } : {}),
    ...(spec.stdin && 'text' in spec.stdin ? { stdinData: spec.stdin.text } : {}),
    ...(spec.stdin && 'bytes' in spec.stdin ? { stdinData: spec.stdin.bytes } : {}),
    ...(spec.stdin && 'fd' in spec.stdin ? { stdinFd: spec.stdin.fd } : {}),
    ...(spec.stdoutFd !== undefined ? { stdoutFd: spec.stdoutFd } : {}),
    truncateOutput: spec.truncateOutput,
    collect: spec.collect,
    collectBytes: spec.limits.collectKb * kb,
    collectFiles: spec.limits.collectFiles,
    cpuMs: spec.limits.cpuMs,
    wallMs: spec.limits.wallMs,
    memoryBytes: spec.limits.memoryKb * kb,
    pids: spec.limits.pids,
    outputBytes: spec.limits.outputKb * kb,
    fileBytes: spec.limits.fileSizeKb * kb,
    openFiles: spec.limits.openFiles,
    stackBytes: spec.limits.stackKb * kb,
    tmpfsBytes: spec.limits.diskKb * kb,
    tmpfsInodes: spec.limits.inodes,
    ...(spec.cpus ? { cpus: spec.cpus } : {}),
    landlockAbi,
    seccomp: policyFor(spec),
  };
}

export async function run(input: RunSpec, options: RunOptions = {}): Promise<RunResult> {
  const spec = parseSpec(input);
  const { landlockAbi, weakened: missing } = requireSandbox(options.allowWeaker ?? allowWeakerFromEnv());
  checkPathsExist(spec);
  const test = testLayers(options);
  const weakened = [...missing, ...test.layers.map((layer) => `${layer} (test)`)];
  const native = { ...toNative(spec, landlockAbi), ...test.native };
  // The supervisor reads the output either way, capped; streamed, it also hands each piece over as it comes.
  const raw = await launch(options.onOutput ? { ...native, onOutput: options.onOutput } : native, options.signal);
  const error = raw.error ? { code: ErrorCode.catch('SANDBOX_SETUP').parse(raw.error.code), message: raw.error.message } : undefined;
  return {
    status: RunStatus.parse(raw.status),
    exitCode: raw.exitCode,
    signal: raw.signal,
    signalName: raw.signal === null ? null : (signalNames.get(raw.signal) ?? null),
    cpuMs: Math.round(raw.cpuMs * 1000) / 1000,
    wallMs: Math.round(raw.wallMs * 1000) / 1000,
    memoryKb: raw.memoryKb,
    stdout: decodeOutput(raw.stdout, spec.outputText),
    stderr: decodeOutput(raw.stderr, spec.outputText),
    ...(raw.syscall ? { syscall: raw.syscall } : {}),
    ...(error ? { error } : {}),
    ...(weakened.length > 0 ? { weakened } : {}),
    ...(raw.files ? { files: raw.files } : {}),
    ...(raw.refused ? { refused: raw.refused } : {}),
  } satisfies RunResult;
}

// A pipe connecting two sandboxes (e.g. an interactor and a solution): pass the
// ends as stdin {fd} / stdoutFd, then close both once both runs have started.
export const openPipe = (): { read: number; write: number } => {
  const [read, write] = addon.pipe();
  return { read, write };
};

// Sandboxes are built ahead of the runs that will need them, and reset after a
// run for the next (native/warm.cc): this drops those waiting, e.g. before
// counting what runs left behind.
export const releaseWarmSandboxes = (): void => addon.releaseWarm();

export const sandboxPoolStats = (): PoolStats => addon.poolStats();
