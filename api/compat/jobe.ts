// Jobe's REST API (Moodle CodeRunner's sandbox server) under
// /jobe/index.php/restapi/, as CodeRunner builds its URLs: languages, runs, and
// files cached by the ids the client picks (md5s), kept in the one
// content-addressed store. A run is one execution through the same queue,
// workers and judge as every submission. Jobe's outcomes and its error shape (a
// JSON string) are kept; unlike Jobe we can tell a memory limit (17) and a
// forbidden system call (19), so we say them.
import { type OpenAPIHono } from '@hono/zod-openapi';
import { type Context } from 'hono';
import { z } from 'zod';
import { type SubmissionView } from '../../queue/schema.js';
import { NotAdmitted } from '../../queue/submissions.js';
import { entryPoint, loadLanguages } from '../../profiles/languages.js';
import { sha256 } from '../../store/content.js';
import { checkRate, countIn, rateWindow, type Tenant, tenantOf } from '../auth.js';
import { type ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { execute, executionSubmission } from './execute.js';
import { COMPAT_LANGUAGES } from './languages.js';

const BASE = '/jobe/index.php/restapi';

export const OUTCOME = {
  compileError: 11,
  runtimeError: 12,
  timeLimit: 13,
  ok: 15,
  memoryLimit: 17,
  illegalSyscall: 19,
  internalError: 20,
  serverOverload: 21,
} as const;

// Jobe's defaults (cputime s, memorylimit/disklimit/streamsize MB) and its
// ceiling on cputime, which the tenant's time ceiling may lower.
export const JOBE_DEFAULTS = { cputime: 5, memorylimit: 400, numprocs: 30, disklimit: 20, streamsize: 2 } as const;
const CPUTIME_MAX = 120;

// Jobe's answers are a JSON-encoded string and a status.
class JobeError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 429 | 503,
    message: string,
  ) {
    super(message);
  }
}

const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
const FILE_ID = /^[A-Za-z0-9_.-]{1,128}$/;

// Numbers as CodeRunner sends them (or as numeric strings, which PHP accepts).
const numeric = z.union([z.number(), z.string().regex(/^\s*-?\d+(\.\d+)?\s*$/).transform(Number)]);
const Parameters = z
  .object({
    cputime: numeric.optional(),
    memorylimit: numeric.optional(),
    numprocs: numeric.optional(),
    disklimit: numeric.optional(),
    streamsize: numeric.optional(),
    compileargs: z.array(z.string()).optional(),
    linkargs: z.array(z.string()).optional(),
    interpreterargs: z.array(z.string()).optional(),
    runargs: z.array(z.string()).optional(),
  })
  .passthrough();

const RunSpec = z
  .object({
    language_id: z.string(),
    sourcecode: z.string(),
    sourcefilename: z.string().optional(),
    input: z.string().optional(),
    file_list: z.array(z.unknown()).optional(),
    parameters: z.unknown().optional(),
    debug: z.unknown().optional(),
  })
  .passthrough();

// The store keeps bytes by SHA-256 (equal files once); a Jobe file id names
// them through a link of the tenant's own, so no tenant learns what another
// has uploaded.
const fileLink = (who: Tenant, id: string) => sha256(`jobe-file:${who.name}:${id}`);

async function fileHash(ctx: ApiContext, who: Tenant, id: string): Promise<string | undefined> {
  if (!FILE_ID.test(id)) return undefined;
  const hash = await ctx.store.resolve(fileLink(who, id));
  return hash && (await ctx.store.has(hash)) ? hash : undefined;
}

function jobeLanguage(id: string) {
  const compat = COMPAT_LANGUAGES.find((l) => l.jobe === id);
  const ours = compat && loadLanguages().get(compat.id);
  return ours?.available ? ours : undefined;
}

async function tenant(ctx: ApiContext, c: Context): Promise<Tenant> {
  // Jobe's X-API-KEY is one of the headers our keys are read from
  const who = tenantOf(ctx.config, (name) => c.req.header(name));
  await checkRate(ctx.redis, who);
  return who;
}

const decodeUtf8 = new TextDecoder('utf-8', { fatal: true });

interface Prepared {
  submission: Parameters<typeof execute>[2];
  // Java: the class named by the file name is not the public class (Jobe's javac would say so)
  javaMismatch?: string;
}

async function prepareRun(ctx: ApiContext, who: Tenant, body: unknown): Promise<Prepared> {
  const runSpec = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).run_spec : undefined;
  if (typeof runSpec !== 'object' || runSpec === null || Array.isArray(runSpec)) throw new JobeError(400, 'runs_post: missing or invalid run_spec parameter');
  const parsed = RunSpec.safeParse(runSpec);
  if (!parsed.success) throw new JobeError(400, 'runs_post: invalid run specification');
  const spec = parsed.data;
  const params = Parameters.safeParse(spec.parameters ?? {});
  if (!params.success) throw new JobeError(400, `runs_post: invalid parameters (${z.prettifyError(params.error).split('\n')[0]})`);
  const { cputime = JOBE_DEFAULTS.cputime, memorylimit = JOBE_DEFAULTS.memorylimit, numprocs = JOBE_DEFAULTS.numprocs } = params.data;
  const { streamsize = JOBE_DEFAULTS.streamsize, disklimit = JOBE_DEFAULTS.disklimit, runargs = [] } = params.data;
  const cputimeMax = Math.min(CPUTIME_MAX, Math.floor(who.ceilings.timeMs / 1000));
  if (cputime > cputimeMax) throw new JobeError(400, `runs_post: cputime exceeds maximum allowed on this Jobe server (${cputimeMax})`);
  if (memorylimit * 1024 > who.ceilings.memoryKb) throw new JobeError(400, `runs_post: memorylimit exceeds maximum allowed on this Jobe server (${Math.floor(who.ceilings.memoryKb / 1024)})`);
  for (const [name, value] of [['cputime', cputime], ['memorylimit', memorylimit], ['numprocs', numprocs], ['streamsize', streamsize], ['disklimit', disklimit]] as const) {
    if (value < 0) throw new JobeError(400, `runs_post: ${name} must not be negative`);
  }

  const fileSpecs = spec.file_list ?? [];
  for (const file of fileSpecs) {
    const ok = Array.isArray(file) && (file.length === 2 || file.length === 3) && typeof file[0] === 'string' && typeof file[1] === 'string';
    if (!ok) throw new JobeError(400, `runs_post: invalid file specifier: ${JSON.stringify(file)}`);
    if (!FILE_NAME.test(file[1]) || file[1].includes('..')) throw new JobeError(400, `runs_post: invalid file specifier: unsafe file name '${file[1]}'`);
  }
  const language = jobeLanguage(spec.language_id);
  if (!language) throw new JobeError(400, `runs_post: Language '${spec.language_id}' is not known`);

  const files = [];
  for (const [id, name] of fileSpecs as [string, string][]) {
    const hash = await fileHash(ctx, who, id);
    const bytes = hash && (await ctx.store.get(hash));
    if (!bytes) throw new JobeError(404, 'One or more of the specified files is missing/unavailable');
    let content: string;
    try {
      content = decodeUtf8.decode(bytes);
    } catch {
      throw new JobeError(400, `runs_post: file '${name}' is not UTF-8 text (cellblock passes text files only)`);
    }
    files.push({ path: name, content });
  }

  const { profile } = language;
  // Java's public class is the one the source file name names
  const stem = spec.sourcefilename?.replace(/\.java$/, '');
  const entry = entryPoint(profile, spec.sourcecode);
  const javaMismatch = profile.id === 'java' && stem && stem !== entry ? `${spec.sourcefilename}: the public class must be ${stem}, found ${entry}` : undefined;
  const runPids = profile.run.limits.pids ?? 0;
  const submission = executionSubmission({
    language: profile.id,
    source: spec.sourcecode,
    files,
    stdin: spec.input ?? '',
    args: runargs,
    outputText: 'escaped',
    limits: {
      timeMs: Math.max(1, Math.round(cputime * 1000)),
      // memorylimit 0 is Jobe's "no limit": the ceiling
      memoryKb: Math.max(4_096, memorylimit === 0 ? who.ceilings.memoryKb : Math.round(memorylimit * 1024)),
      outputKb: Math.max(1, Math.round(streamsize * 1024)),
      // a runtime's own threads (the JVM's) are not the program's processes
      pids: Math.max(1, Math.round(numprocs), runPids),
    },
  });
  return { submission, ...(javaMismatch ? { javaMismatch } : {}) };
}

export function outcomeOf(view: SubmissionView): { outcome: number; cmpinfo: string; stdout: string; stderr: string } {
  const test = view.tests?.[0];
  const stdout = test?.stdout ?? '';
  const stderr = test?.stderr ?? '';
  const withNote = (note: string) => (stderr ? `${stderr}${stderr.endsWith('\n') ? '' : '\n'}${note}` : note);
  switch (view.verdict) {
    case 'CE':
      return { outcome: OUTCOME.compileError, cmpinfo: view.compile?.output || 'compilation failed', stdout: '', stderr: '' };
    case 'AC':
      return { outcome: OUTCOME.ok, cmpinfo: '', stdout, stderr };
    case 'TLE':
      return { outcome: OUTCOME.timeLimit, cmpinfo: '', stdout, stderr };
    case 'MLE':
      return { outcome: OUTCOME.memoryLimit, cmpinfo: '', stdout, stderr };
    case 'SV':
      return { outcome: OUTCOME.illegalSyscall, cmpinfo: '', stdout, stderr: withNote(test?.message ?? 'forbidden system call') };
    case 'OLE':
      return { outcome: OUTCOME.runtimeError, cmpinfo: '', stdout, stderr: withNote('Output limit exceeded') };
    case 'RE':
      return { outcome: OUTCOME.runtimeError, cmpinfo: '', stdout, stderr };
    default:
      return { outcome: OUTCOME.internalError, cmpinfo: '', stdout, stderr: view.error ?? test?.message ?? 'internal error' };
  }
}

const overloaded = { run_id: null, outcome: OUTCOME.serverOverload, cmpinfo: '', stdout: '', stderr: 'server overload: try again later' };

export function jobeRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  // Jobe's error shape for everything these routes refuse
  const guarded = (handler: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await handler(c);
    } catch (error) {
      if (error instanceof JobeError) return c.json(error.message, error.status);
      if (error instanceof ApiError && error.code === 'UNAUTHORIZED') return c.json(error.message, 403);
      if (error instanceof ApiError && error.code === 'RATE_LIMITED') {
        c.header('Retry-After', String(error.retryAfter ?? 60));
        return c.json(error.message, 429);
      }
      throw error;
    }
  };

  app.get(
    `${BASE}/languages`,
    guarded(async (c) => {
      await tenant(ctx, c);
      const listed = COMPAT_LANGUAGES.flatMap((compat) => {
        const ours = compat.jobe ? loadLanguages().get(compat.id) : undefined;
        return ours?.available ? [[compat.jobe!, ours.version ?? 'unknown']] : [];
      });
      return c.json(listed);
    }),
  );

  app.post(
    `${BASE}/runs`,
    guarded(async (c) => {
      const who = await tenant(ctx, c);
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        body = undefined;
      }
      const { submission, javaMismatch } = await prepareRun(ctx, who, body);
      if (who.runsPerHour) await countIn(ctx.redis, rateWindow(who, 'jobe-runs', 3_600, who.runsPerHour, 'runs an hour'));
      if (javaMismatch) return c.json({ run_id: null, outcome: OUTCOME.compileError, cmpinfo: javaMismatch, stdout: '', stderr: '' });
      const view = await execute(ctx, who, submission).catch((error: unknown) => {
        if (error instanceof NotAdmitted) return undefined;
        throw error;
      });
      if (!view) return c.json(overloaded);
      return c.json({ run_id: view.id, ...outcomeOf(view) });
    }),
  );

  // Jobe keeps no runs: every run is answered when it is posted
  app.get(`${BASE}/runs/:id`, guarded(async (c) => {
    await tenant(ctx, c);
    return c.json('runs_get: no such run or run result discarded', 404);
  }));

  app.put(
    `${BASE}/files/:id`,
    guarded(async (c) => {
      const who = await tenant(ctx, c);
      const id = c.req.param('id') ?? '';
      if (!FILE_ID.test(id)) throw new JobeError(400, 'put: invalid file id');
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        body = undefined;
      }
      const contents = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).file_contents : undefined;
      if (typeof contents !== 'string') throw new JobeError(400, 'put: missing file_contents parameter');
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(contents)) throw new JobeError(400, 'put: file_contents is not base64');
      const hash = await ctx.store.put(Buffer.from(contents, 'base64'));
      await ctx.store.link(fileLink(who, id), hash);
      return c.body(null, 204);
    }),
  );

  // HEAD: Hono answers it with the GET route, without a body
  app.get(
    `${BASE}/files/:id`,
    guarded(async (c) => {
      const who = await tenant(ctx, c);
      return c.body(null, (await fileHash(ctx, who, c.req.param('id') ?? '')) ? 204 : 404);
    }),
  );
}
