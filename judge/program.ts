// Turning a source in some language into something runnable: compiled once in a
// sandbox (its outputs collected), then run in a fresh sandbox per test.
import { entryPoint, fill, findLanguage, type Language, type Step } from '../profiles/languages.js';
import { type FileIn, type LimitOverrides, type RunResult, type RunSpec } from '../sandbox/schema.js';
import { z } from 'zod';
import { SandboxError } from '../sandbox/errors.js';
import { run } from '../sandbox/run.js';
import { type ContentStore, Sha256, sha256 } from '../store/content.js';
import { CompileResult, type Program } from './schema.js';

// What a run needs besides its limits and stdin.
export interface Executable {
  files: FileIn[];
  argv: string[];
  env: Record<string, string>;
  readOnly: string[];
  seccompAllow: string[];
  stepLimits: LimitOverrides;
  heapFraction: number;
  // stderr that means the runtime ran out of its memory limit
  outOfMemory?: RegExp;
}

const COMPILE_MESSAGE_LIMIT = 64 * 1024;

export function requireLanguage(id: string): Language {
  const language = findLanguage(id);
  if (!language) throw new SandboxError('UNKNOWN_LANGUAGE', `unknown language '${id}'`);
  if (!language.available) {
    throw new SandboxError('LANGUAGE_UNAVAILABLE', `language '${id}' is not available on this host: ${language.reason}`);
  }
  return language;
}

function placeholders(language: Language, source: string): Record<string, string> {
  const entry = entryPoint(language.profile, source);
  const values: Record<string, string> = { ...language.vars, ...(entry ? { entry } : {}) };
  return { ...values, source: fill(language.profile.source, values) };
}

function stepParts(step: Step, values: Record<string, string>) {
  return {
    argv: step.argv.map((part) => fill(part, values)),
    env: Object.fromEntries(Object.entries(step.env).map(([key, value]) => [key, fill(value, values)])),
    readOnly: step.readOnly.map((path) => fill(path, values)),
    seccompAllow: step.seccompAllow,
    stepLimits: step.limits,
  };
}

// What a run adds to its executable's: arguments after its command, files beside its own.
export interface Additions {
  args?: string[];
  files?: RunSpec['files'];
}

// The spec for one run of an executable: the step's limits (a runtime's pids and
// fds) under the caller's (the submission's time and memory), and the
// memory-derived placeholders ({memoryMb}, {heapMb}).
export function runSpecFor(
  executable: Executable,
  limits: LimitOverrides,
  extra: Partial<RunSpec> = {},
  add: Additions = {},
): RunSpec {
  const merged = { ...executable.stepLimits, ...limits };
  const memoryMb = Math.floor((merged.memoryKb ?? 262_144) / 1024);
  const values = { memoryMb: String(memoryMb), heapMb: String(Math.max(1, Math.floor(memoryMb * executable.heapFraction))) };
  return {
    argv: [...executable.argv.map((part) => fill(part, values)), ...(add.args ?? [])],
    env: Object.fromEntries(Object.entries(executable.env).map(([key, value]) => [key, fill(value, values)])),
    readOnly: executable.readOnly,
    files: [...executable.files, ...(add.files ?? [])],
    limits: merged,
    seccomp: { allow: executable.seccompAllow },
    ...extra,
  };
}

const compileMessage = (result: RunResult): string => {
  const text = `${result.stderr}${result.stdout}`;
  const reason =
    result.status === 'ok' ? '' : result.status === 'runtime_error' ? '' : `\n[compiler stopped: ${result.status}${result.error ? `: ${result.error.message}` : ''}]`;
  return (text.length > COMPILE_MESSAGE_LIMIT ? `${text.slice(0, COMPILE_MESSAGE_LIMIT)}\n[truncated]` : text) + reason;
};

export interface Compiled {
  compile: CompileResult;
  executable?: Executable;
  // the compiler itself could not run (our fault, not the submission's)
  internalError?: string;
}

// What a compile produced, as stored: its result and its outputs by hash.
const CompileRecord = z.object({
  compile: CompileResult,
  outputs: z.array(z.object({ path: z.string(), mode: z.number().int(), hash: Sha256 })).optional(),
});

// Compiles are cached by everything that decides them: the profile, where its
// toolchain is and which version, the source and its files.
const compileKey = (language: Language, source: string, extraFiles: { path: string; content: string }[]): Sha256 =>
  sha256(JSON.stringify([language.profile, language.vars, language.version ?? '', source, extraFiles]));

async function cachedCompile(store: ContentStore, key: Sha256): Promise<{ compile: CompileResult; artifacts?: FileIn[] } | undefined> {
  const record = await store.resolve(key).then((hash) => (hash ? store.get(hash) : undefined));
  const parsed = record ? CompileRecord.safeParse(JSON.parse(record.toString('utf8'))) : undefined;
  if (!parsed?.success) return undefined;
  if (!parsed.data.outputs) return { compile: parsed.data.compile };
  const artifacts: FileIn[] = [];
  for (const output of parsed.data.outputs) {
    const data = await store.get(output.hash);
    if (!data) return undefined;
    artifacts.push({ path: output.path, content: data, mode: output.mode });
  }
  return { compile: parsed.data.compile, artifacts };
}

async function saveCompile(store: ContentStore, key: Sha256, compile: CompileResult, outputs?: { path: string; mode: number; data: Uint8Array }[]) {
  const stored = outputs && (await Promise.all(outputs.map(async (o) => ({ path: o.path, mode: o.mode, hash: await store.put(o.data) }))));
  const record = await store.put(JSON.stringify({ compile, ...(stored ? { outputs: stored } : {}) }));
  await store.link(key, record);
}

// Compiles a source (with extra files) once — or takes the compile from the
// store, when these inputs were compiled before; interpreted languages just carry
// the source into every run.
export async function compileSource(
  languageId: string,
  source: string,
  extraFiles: { path: string; content: string }[] = [],
  store?: ContentStore,
  signal?: AbortSignal,
): Promise<Compiled> {
  const language = requireLanguage(languageId);
  const values = placeholders(language, source);
  if (extraFiles.some((file) => file.path === values.source)) {
    throw new SandboxError('INVALID_SPEC', `a file named ${values.source} would replace the source itself`);
  }
  const sourceFiles: FileIn[] = [{ path: values.source!, content: source, mode: 0o644 }, ...extraFiles.map((f) => ({ ...f, mode: 0o644 }))];
  const runStep = stepParts(language.profile.run, values);
  const { outOfMemory } = language.profile.run;
  const executable = (files: FileIn[]): Executable => ({
    files,
    heapFraction: language.profile.heapFraction,
    ...runStep,
    ...(outOfMemory ? { outOfMemory: new RegExp(outOfMemory) } : {}),
  });
  const compile = language.profile.compile;
  if (!compile) return { compile: { status: 'skipped', output: '' }, executable: executable(sourceFiles) };

  const key = compileKey(language, source, extraFiles);
  // A cache that cannot be read or written only costs a compile.
  const cached = store ? await cachedCompile(store, key).catch(() => undefined) : undefined;
  if (cached) return { compile: cached.compile, ...(cached.artifacts ? { executable: executable(cached.artifacts) } : {}) };

  const outputs = compile.outputs.map((output) => fill(output, values));
  const step = stepParts(compile, values);
  const result = await run({
    argv: step.argv,
    env: step.env,
    readOnly: step.readOnly,
    files: sourceFiles,
    limits: step.stepLimits,
    seccomp: { allow: step.seccompAllow },
    truncateOutput: true,
    collect: outputs,
  }, signal ? { signal } : {});
  const timing = { cpuMs: result.cpuMs, wallMs: result.wallMs };
  if (result.status === 'internal_error' || result.status === 'cancelled') {
    return { compile: { status: 'error', output: '', ...timing }, internalError: `compiler: ${result.error?.message ?? 'failed'}` };
  }
  const collected = result.files ?? [];
  // only a compiler that ran to its end decides; a timeout may not repeat
  const decided = result.status === 'ok' || result.status === 'runtime_error';
  if (result.status !== 'ok' || result.exitCode !== 0 || collected.length !== outputs.length) {
    const failed: CompileResult = { status: 'error', output: compileMessage(result), ...timing };
    if (store && decided) await saveCompile(store, key, failed).catch(() => undefined);
    return { compile: failed };
  }
  const artifacts = collected.map((file) => ({ path: file.path, content: file.data, mode: file.mode }));
  const done: CompileResult = { status: 'ok', output: compileMessage(result), ...timing };
  if (store) await saveCompile(store, key, done, collected).catch(() => undefined);
  return { compile: done, executable: executable(artifacts) };
}

// A checker or interactor: compiled like a submission, or a host executable.
export async function prepareProgram(program: Program, store?: ContentStore, signal?: AbortSignal): Promise<Compiled> {
  if ('executable' in program) {
    const executable: Executable = {
      files: [{ path: 'program', source: program.executable, mode: 0o755 }],
      argv: ['./program'],
      env: {},
      readOnly: [],
      seccompAllow: [],
      stepLimits: {},
      heapFraction: 1,
    };
    return { compile: { status: 'skipped', output: '' }, executable };
  }
  return compileSource(program.language, program.source, program.files ?? [], store, signal);
}
