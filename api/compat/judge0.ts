// Judge0 CE's API at its own root paths, mapped onto our submissions: a Judge0
// client points its base URL here and keeps working. Judge0 has no memory-limit
// status: a memory kill reads as a runtime error whose message says so, as
// Judge0 clients expect (our own API reports MLE).
import { type OpenAPIHono } from '@hono/zod-openapi';
import { type Context } from 'hono';
import { z } from 'zod';
import { type Submission, type TestResult } from '../../judge/schema.js';
import { loadLanguages } from '../../profiles/languages.js';
import { type SubmissionView } from '../../queue/schema.js';
import { NotAdmitted, type StoredSubmission, toView } from '../../queue/submissions.js';
import { submitAndWait } from '../jobs.js';
import { admission, checkRate, type Tenant, tenantOf } from '../auth.js';
import { type ApiContext } from '../context.js';
import { COMPAT_LANGUAGES } from './languages.js';

export const JUDGE0_STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;

// Judge0's defaults and maxima (seconds, KB), unless the operator's ceilings are lower.
const LIMITS = {
  cpu_time_limit: [5, 15],
  wall_time_limit: [10, 20],
  memory_limit: [128_000, 512_000],
  stack_limit: [64_000, 128_000],
  max_processes_and_or_threads: [60, 120],
  max_file_size: [1_024, 4_096],
  number_of_runs: [1, 20],
} as const;

const optionalNumber = z.number().nullable().optional();
const optionalText = z.string().nullable().optional();

export const Judge0Request = z.object({
  source_code: z.string(),
  language_id: z.number().int(),
  compiler_options: optionalText,
  command_line_arguments: optionalText,
  stdin: optionalText,
  expected_output: optionalText,
  cpu_time_limit: optionalNumber,
  cpu_extra_time: optionalNumber,
  wall_time_limit: optionalNumber,
  memory_limit: optionalNumber,
  stack_limit: optionalNumber,
  max_processes_and_or_threads: optionalNumber,
  enable_per_process_and_thread_time_limit: z.boolean().nullable().optional(),
  enable_per_process_and_thread_memory_limit: z.boolean().nullable().optional(),
  max_file_size: optionalNumber,
  redirect_stderr_to_stdout: z.boolean().nullable().optional(),
  enable_network: z.boolean().nullable().optional(),
  number_of_runs: optionalNumber,
  additional_files: optionalText,
  callback_url: optionalText,
});
export type Judge0Request = z.infer<typeof Judge0Request>;

// Judge0 answers validation errors as {field: [messages]} with 422.
class Judge0Invalid extends Error {
  constructor(readonly fields: Record<string, string[]>) {
    super('invalid');
  }
}

const decode = (text: string | null | undefined, base64: boolean): string | undefined =>
  text === null || text === undefined ? undefined : base64 ? Buffer.from(text, 'base64').toString('utf8') : text;
const encode = (text: string | null | undefined, base64: boolean): string | null =>
  text === null || text === undefined || text === '' ? null : base64 ? Buffer.from(text, 'utf8').toString('base64') : text;

function limit(request: Judge0Request, name: keyof typeof LIMITS, errors: Record<string, string[]>): number {
  const [fallback, max] = LIMITS[name];
  const value = request[name] ?? fallback;
  if (value < 0 || value > max) errors[name] = [`must be between 0 and ${max}`];
  return value;
}

export function toSubmission(request: Judge0Request, base64: boolean): Submission & { callbackUrl?: string } {
  const errors: Record<string, string[]> = {};
  const language = COMPAT_LANGUAGES.find((l) => l.judge0 === request.language_id);
  if (!language || !loadLanguages().get(language.id)?.available) errors.language_id = [`language with id ${request.language_id} doesn't exist`];
  if (request.enable_network) errors.enable_network = ['networking is not allowed on this deployment'];
  if (request.compiler_options) errors.compiler_options = ['compiler options are not supported'];
  if (request.additional_files) errors.additional_files = ['additional files are not supported'];
  if (request.redirect_stderr_to_stdout) errors.redirect_stderr_to_stdout = ['not supported: stdout and stderr are kept apart'];
  const cpu = limit(request, 'cpu_time_limit', errors);
  const wall = limit(request, 'wall_time_limit', errors);
  const memory = limit(request, 'memory_limit', errors);
  const stack = limit(request, 'stack_limit', errors);
  const processes = limit(request, 'max_processes_and_or_threads', errors);
  limit(request, 'max_file_size', errors);
  limit(request, 'number_of_runs', errors);
  if (Object.keys(errors).length > 0) throw new Judge0Invalid(errors);
  const expected = decode(request.expected_output, base64);
  return {
    language: language!.id,
    source: decode(request.source_code, base64) ?? '',
    tests: [{ name: '1', stdin: decode(request.stdin, base64) ?? '', expected: expected ?? '' }],
    // Judge0 compares with trailing whitespace stripped per line and at the end
    checker: expected === undefined ? { kind: 'none' } : { kind: 'lines' },
    limits: {
      timeMs: Math.max(1, Math.round(cpu * 1000)),
      wallMs: Math.max(1, Math.round(wall * 1000)),
      memoryKb: Math.max(4_096, Math.round(memory)),
      stackKb: Math.max(64, Math.round(stack)),
      pids: Math.max(1, Math.round(processes)),
    },
    args: (decode(request.command_line_arguments, base64) ?? '').split(/\s+/).filter(Boolean),
    keepOutput: true,
    ...(request.callback_url ? { callbackUrl: request.callback_url } : {}),
  };
}

const SIGNAL_STATUS: Record<string, number> = { SIGSEGV: 7, SIGXFSZ: 8, SIGFPE: 9, SIGABRT: 10 };

function statusOf(view: SubmissionView): { id: number; message: string | null } {
  if (view.status === 'queued') return { id: 1, message: null };
  if (view.status === 'running') return { id: 2, message: null };
  if (view.status === 'cancelled') return { id: 13, message: 'cancelled' };
  const test: TestResult | undefined = view.tests?.[0];
  switch (view.verdict) {
    case 'AC':
      return { id: 3, message: null };
    case 'WA':
    case 'PE':
    case 'PA':
      return { id: 4, message: null };
    case 'TLE':
      return { id: 5, message: test?.message ?? null };
    case 'CE':
      return { id: 6, message: null };
    case 'MLE':
      return { id: 12, message: 'Memory limit exceeded' };
    case 'OLE':
      return { id: 8, message: 'Output limit exceeded' };
    case 'SV':
      return { id: 12, message: test?.message ?? 'Forbidden system call' };
    case 'RE':
      if (test?.signal) return { id: SIGNAL_STATUS[test.signal] ?? 12, message: test.message };
      return { id: 11, message: `Exited with error status ${test?.exitCode ?? ''}`.trim() };
    default:
      return { id: view.error?.includes('EXEC_FAILED') ? 14 : 13, message: view.error ?? test?.message ?? null };
  }
}

const DEFAULT_FIELDS = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'];

function judge0View(stored: StoredSubmission, view: SubmissionView, fields: string[], base64: boolean) {
  const test = view.tests?.[0];
  const status = statusOf(view);
  const all: Record<string, unknown> = {
    token: view.id,
    source_code: encode(stored.submission.source, base64),
    language_id: COMPAT_LANGUAGES.find((l) => l.id === stored.submission.language)?.judge0 ?? null,
    stdin: encode(stored.submission.tests?.[0]?.stdin, base64),
    expected_output: stored.submission.checker?.kind === 'none' ? null : encode(stored.submission.tests?.[0]?.expected, base64),
    stdout: encode(test?.stdout, base64),
    stderr: encode(test?.stderr, base64),
    compile_output: encode(view.compile?.output, base64),
    message: encode(status.message, base64),
    exit_code: test?.exitCode ?? null,
    exit_signal: test?.signal ? (SIGNALS[test.signal] ?? null) : null,
    status: JUDGE0_STATUSES[status.id - 1],
    status_id: status.id,
    time: test ? (test.cpuMs / 1000).toFixed(3) : null,
    wall_time: test ? (test.wallMs / 1000).toFixed(3) : null,
    memory: test ? test.memoryKb : null,
    created_at: new Date(stored.createdAt).toISOString(),
    finished_at: stored.finishedAt ? new Date(stored.finishedAt).toISOString() : null,
    cpu_time_limit: (stored.submission.limits?.timeMs ?? 0) / 1000,
    wall_time_limit: (stored.submission.limits?.wallMs ?? 0) / 1000,
    memory_limit: stored.submission.limits?.memoryKb ?? null,
    callback_url: stored.callbackUrl ?? null,
  };
  const wanted = fields.includes('*') ? Object.keys(all) : fields;
  return Object.fromEntries(wanted.filter((field) => field in all).map((field) => [field, all[field]]));
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25, SIGSYS: 31 };

// X-Auth-Token is Judge0's name for the key.
async function tenant(ctx: ApiContext, c: Context): Promise<Tenant> {
  const found = tenantOf(ctx.config, (name) => (name === 'x-api-key' ? (c.req.header('x-auth-token') ?? c.req.header('x-api-key')) : c.req.header(name)));
  await checkRate(ctx.redis, found);
  return found;
}

const QUEUE_FULL = { error: 'queue is full' };

// A body that is not JSON is answered 400, as Judge0 (Rails) does, never 500.
const NOT_JSON = Symbol('not JSON');
const jsonBody = (c: Context): Promise<unknown> => c.req.json().catch(() => NOT_JSON);
const notJson = (c: Context) => c.json({ error: 'the body is not valid JSON' }, 400);

const flag = (c: Context, name: string) => c.req.query(name) === 'true';
const fieldsOf = (c: Context) => (c.req.query('fields') ?? '').split(',').map((f) => f.trim()).filter(Boolean);

// With `wait`, resolves once the submission is judged or the wait is over
// (through an idle local slot when there is one: api/jobs.ts submitAndWait).
async function accept(ctx: ApiContext, who: Tenant, body: unknown, base64: boolean, wait = false): Promise<string> {
  const parsed = Judge0Request.safeParse(body);
  if (!parsed.success) {
    throw new Judge0Invalid(Object.fromEntries(parsed.error.issues.map((issue) => [issue.path.join('.') || 'body', [issue.message]])));
  }
  const { callbackUrl, ...submission } = toSubmission(parsed.data, base64);
  const options = { tenant: who.name, ...admission(who, true), ...(callbackUrl ? { callbackUrl } : {}) };
  if (!wait) return (await ctx.subs.submit(submission, options)).id;
  return (await submitAndWait(ctx, { kind: 'submission', store: ctx.subs, job: submission, options }, ctx.config.waitMs)).id;
}

async function show(ctx: ApiContext, who: Tenant, id: string, fields: string[], base64: boolean) {
  const stored = await ctx.subs.loadOwned(who.name, id);
  return stored && judge0View(stored, toView(stored), fields.length > 0 ? fields : DEFAULT_FIELDS, base64);
}

export function judge0Routes(app: OpenAPIHono, ctx: ApiContext): void {
  // Judge0's own answers: 422 with the fields' errors; past the key's cap on
  // active submissions, what Judge0 answers past its MAX_QUEUE_SIZE.
  const invalid = (c: Context, error: unknown) => {
    if (error instanceof Judge0Invalid) return c.json(error.fields, 422);
    if (error instanceof NotAdmitted && error.reason === 'active') return c.json(QUEUE_FULL, 503);
    throw error;
  };

  app.post('/submissions', async (c) => {
    const who = await tenant(ctx, c);
    const base64 = flag(c, 'base64_encoded');
    const body = await jsonBody(c);
    if (body === NOT_JSON) return notJson(c);
    try {
      // with wait, answered as soon as the result exists (Judge0 sleeps before its first look)
      const wait = flag(c, 'wait');
      const id = await accept(ctx, who, body, base64, wait);
      return c.json(wait ? await show(ctx, who, id, fieldsOf(c), base64) : { token: id }, 201);
    } catch (error) {
      return invalid(c, error);
    }
  });

  app.post('/submissions/batch', async (c) => {
    const who = await tenant(ctx, c);
    const json = await jsonBody(c);
    if (json === NOT_JSON) return notJson(c);
    const body = z.object({ submissions: z.array(z.unknown()).min(1) }).safeParse(json);
    if (!body.success) return c.json({ submissions: ["can't be blank"] }, 422);
    if (body.data.submissions.length > ctx.config.batchMax) return c.json({ error: `number of submissions in a batch should be less than or equal to ${ctx.config.batchMax}` }, 400);
    const base64 = flag(c, 'base64_encoded');
    const out = [];
    for (const item of body.data.submissions) {
      try {
        out.push({ token: await accept(ctx, who, item, base64) });
      } catch (error) {
        // past the cap: this one is refused, the ones admitted before it keep their tokens
        if (error instanceof NotAdmitted) out.push(error.reason === 'active' ? QUEUE_FULL : { error: error.message });
        else if (error instanceof Judge0Invalid) out.push(error.fields);
        else throw error;
      }
    }
    return c.json(out, 201);
  });

  app.get('/submissions/batch', async (c) => {
    const who = await tenant(ctx, c);
    const tokens = (c.req.query('tokens') ?? '').split(',').filter(Boolean);
    const base64 = flag(c, 'base64_encoded');
    const submissions = await Promise.all(tokens.map((token) => show(ctx, who, token, fieldsOf(c), base64)));
    return c.json({ submissions: submissions.map((s) => s ?? null) });
  });

  app.get('/submissions/:token', async (c) => {
    const who = await tenant(ctx, c);
    const found = await show(ctx, who, c.req.param('token'), fieldsOf(c), flag(c, 'base64_encoded'));
    return found ? c.json(found) : c.json({ error: "submission not found" }, 404);
  });

  app.delete('/submissions/:token', async (c) => {
    const who = await tenant(ctx, c);
    const token = c.req.param('token');
    if ((await ctx.subs.cancel(who.name, token)) === 'not_found') return c.json({ error: 'submission not found' }, 404);
    return c.json(await show(ctx, who, token, fieldsOf(c), flag(c, 'base64_encoded')));
  });

  const languageEntries = (includeUnavailable: boolean) =>
    COMPAT_LANGUAGES.flatMap((compat) => {
      const language = loadLanguages().get(compat.id);
      if (!language || (!language.available && !includeUnavailable)) return [];
      const { profile } = language;
      return [{
        id: compat.judge0,
        name: compat.judge0Name.replace('{v}', language.version ?? '?'),
        is_archived: !language.available,
        source_file: profile.source.replace('{entry}', profile.entry?.default ?? 'Main'),
        compile_cmd: profile.compile ? profile.compile.argv.join(' ') : null,
        run_cmd: profile.run.argv.join(' '),
      }];
    });

  app.get('/languages', (c) => c.json(languageEntries(false).map(({ id, name }) => ({ id, name }))));
  app.get('/languages/all', (c) => c.json(languageEntries(true).map(({ id, name, is_archived }) => ({ id, name, is_archived }))));
  app.get('/languages/:id', (c) => {
    const entry = languageEntries(true).find((l) => String(l.id) === c.req.param('id'));
    return entry ? c.json(entry) : c.json({ error: 'language not found' }, 404);
  });
  app.get('/statuses', (c) => c.json(JUDGE0_STATUSES));
  app.get('/about', (c) => c.json({ version: '0.1.0', homepage: 'cellblock', source_code: 'cellblock', maintainer: 'Cellblock (Judge0 CE compatible API)' }));
  app.get('/version', (c) => c.text('0.1.0'));
  app.get('/config_info', (c) =>
    c.json({
      enable_wait_result: true,
      enable_compiler_options: false,
      allowed_languages_for_compile_options: [],
      enable_command_line_arguments: true,
      enable_submission_delete: true,
      enable_callbacks: true,
      callbacks_max_tries: 8,
      max_queue_size: null,
      cpu_time_limit: LIMITS.cpu_time_limit[0],
      max_cpu_time_limit: LIMITS.cpu_time_limit[1],
      wall_time_limit: LIMITS.wall_time_limit[0],
      max_wall_time_limit: LIMITS.wall_time_limit[1],
      memory_limit: LIMITS.memory_limit[0],
      max_memory_limit: LIMITS.memory_limit[1],
      stack_limit: LIMITS.stack_limit[0],
      max_stack_limit: LIMITS.stack_limit[1],
      max_processes_and_or_threads: LIMITS.max_processes_and_or_threads[0],
      max_max_processes_and_or_threads: LIMITS.max_processes_and_or_threads[1],
      max_file_size: LIMITS.max_file_size[0],
      max_max_file_size: LIMITS.max_file_size[1],
      number_of_runs: 1,
      max_number_of_runs: LIMITS.number_of_runs[1],
      enable_network: false,
      allow_enable_network: false,
      max_submission_batch_size: ctx.config.batchMax,
    }),
  );
  app.get('/workers', async (c) => {
    const counts = await ctx.subs.queue.getJobCounts('waiting', 'active', 'prioritized');
    const workers = await ctx.subs.queue.getWorkersCount();
    return c.json([{ queue: 'default', size: (counts.waiting ?? 0) + (counts.prioritized ?? 0), available: workers, idle: workers, working: counts.active ?? 0, paused: 0, failed: 0 }]);
  });
}
