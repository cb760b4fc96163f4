// Piston v2's execute API at /api/v2, mapped onto our submissions (one test, no
// answer to compare, output kept). Piston's package-management endpoints are not
// offered: they are unauthenticated in Piston, a hole we do not copy.
import { type OpenAPIHono } from '@hono/zod-openapi';
import { type Context } from 'hono';
import { z } from 'zod';
import { type Submission, type TestResult } from '../../judge/schema.js';
import { loadLanguages } from '../../profiles/languages.js';
import { NotAdmitted } from '../../queue/submissions.js';
import { checkRate, tenantOf } from '../auth.js';
import { type ApiContext } from '../context.js';
import { execute, executionSubmission } from './execute.js';
import { COMPAT_LANGUAGES } from './languages.js';

const PistonFile = z.object({
  name: z.string().optional(),
  content: z.string(),
  encoding: z.enum(['utf8', 'base64', 'hex']).default('utf8'),
});

export const PistonRequest = z.object({
  language: z.string(),
  version: z.string().default('*'),
  files: z.array(PistonFile).min(1),
  stdin: z.string().default(''),
  args: z.array(z.string()).default([]),
  compile_timeout: z.number().default(-1),
  run_timeout: z.number().default(-1),
  compile_cpu_time: z.number().default(-1),
  run_cpu_time: z.number().default(-1),
  compile_memory_limit: z.number().default(-1),
  run_memory_limit: z.number().default(-1),
});
export type PistonRequest = z.infer<typeof PistonRequest>;

class PistonRefusal extends Error {}

function findRuntime(language: string, version: string) {
  const compat = COMPAT_LANGUAGES.find((l) => l.piston === language || l.pistonAliases.includes(language) || l.id === language);
  const ours = compat ? loadLanguages().get(compat.id) : undefined;
  if (!compat || !ours?.available) throw new PistonRefusal(`${language}-${version} runtime is unknown`);
  // a semver selector: "*", an exact version, or a prefix of it ("3", "3.11")
  const have = ours.version ?? '0';
  if (version !== '*' && version !== 'x' && !have.startsWith(version.replace(/\.x$|\.\*$/, ''))) {
    throw new PistonRefusal(`${language}-${version} runtime is unknown`);
  }
  return { compat, ours };
}

const decodeFile = (file: z.infer<typeof PistonFile>): string =>
  file.encoding === 'utf8' ? file.content : Buffer.from(file.content, file.encoding).toString('utf8');

// -1 means the configured maximum; over it is refused, as Piston does.
function bounded(value: number, max: number, name: string): number {
  if (value === -1) return max;
  if (value < 0 || value > max) throw new PistonRefusal(`${name} cannot exceed the configured limit of ${max}`);
  return value;
}

export function toSubmission(request: PistonRequest, ceilings: { timeMs: number; wallMs: number; memoryKb: number }): Submission {
  const { compat } = findRuntime(request.language, request.version);
  const [main, ...rest] = request.files;
  const memoryBytes = bounded(request.run_memory_limit, ceilings.memoryKb * 1024, 'run_memory_limit');
  return executionSubmission({
    language: compat.id,
    source: decodeFile(main!),
    // unnamed files are file0.code, file1.code…, as Piston names them
    files: rest.map((file, index) => ({ path: file.name ?? `file${index + 1}.code`, content: decodeFile(file) })),
    stdin: request.stdin,
    args: request.args,
    limits: {
      timeMs: Math.max(1, bounded(request.run_cpu_time, ceilings.timeMs, 'run_cpu_time')),
      wallMs: Math.max(1, bounded(request.run_timeout, ceilings.wallMs, 'run_timeout')),
      memoryKb: Math.max(4_096, Math.floor(memoryBytes / 1024)),
    },
  });
}

// Piston's run status: RE exit code, SG signal, TO timeout, OL output limit, XX ours.
function stage(test: TestResult | undefined) {
  const stdout = test?.stdout ?? '';
  const stderr = test?.stderr ?? '';
  const status = !test ? 'XX' : test.verdict === 'AC' ? null : test.verdict === 'TLE' ? 'TO' : test.verdict === 'OLE' ? 'OL' : test.verdict === 'IE' ? 'XX' : test.signal ? 'SG' : 'RE';
  return {
    stdout,
    stderr,
    output: stdout + stderr,
    code: test?.exitCode ?? null,
    signal: test?.signal ?? null,
    message: test && test.verdict !== 'AC' ? test.message || null : null,
    status,
    cpu_time: test ? Math.round(test.cpuMs) : null,
    wall_time: test ? Math.round(test.wallMs) : null,
    memory: test ? test.memoryKb * 1024 : null,
  };
}

export function pistonRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  app.get('/api/v2/runtimes', (c) =>
    c.json(
      COMPAT_LANGUAGES.flatMap((compat) => {
        const ours = loadLanguages().get(compat.id);
        if (!ours?.available) return [];
        return [{ language: compat.piston, version: ours.version ?? '0', aliases: compat.pistonAliases, ...(compat.pistonRuntime ? { runtime: compat.pistonRuntime } : {}) }];
      }),
    ),
  );

  app.post('/api/v2/execute', async (c: Context) => {
    const who = tenantOf(ctx.config, (name) => c.req.header(name));
    await checkRate(ctx.redis, who);
    // the piston-client package posts JSON without a Content-Type: read text
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return c.json({ message: 'Invalid JSON body' }, 400);
    }
    const parsed = PistonRequest.safeParse(body);
    if (!parsed.success) return c.json({ message: z.prettifyError(parsed.error) }, 400);
    let submission: Submission;
    try {
      submission = toSubmission(parsed.data, who.ceilings);
    } catch (error) {
      if (error instanceof PistonRefusal) return c.json({ message: error.message }, 400);
      throw error;
    }
    // past the key's cap: Piston's error shape, {message}
    const view = await execute(ctx, who, submission).catch((error: unknown) => {
      if (error instanceof NotAdmitted) return error;
      throw error;
    });
    if (view instanceof NotAdmitted) return c.json({ message: view.message }, 429);
    if (!view) return c.json({ message: 'execution did not finish in time' }, 500);
    const { ours } = findRuntime(parsed.data.language, '*');
    const compiled = view.compile?.status !== 'skipped';
    const compileStage = {
      stdout: '',
      stderr: view.compile?.output ?? '',
      output: view.compile?.output ?? '',
      code: view.compile?.status === 'error' ? 1 : 0,
      signal: null,
      message: null,
      status: view.compile?.status === 'error' ? 'RE' : null,
      cpu_time: view.compile?.cpuMs !== undefined ? Math.round(view.compile.cpuMs) : null,
      wall_time: view.compile?.wallMs !== undefined ? Math.round(view.compile.wallMs) : null,
      memory: null,
    };
    // when compilation fails, run mirrors the compile result, as Piston does
    const run = view.verdict === 'CE' ? compileStage : stage(view.tests?.[0]);
    return c.json({
      language: COMPAT_LANGUAGES.find((l) => l.id === ours.profile.id)?.piston ?? ours.profile.id,
      version: ours.version ?? '0',
      run,
      ...(compiled ? { compile: compileStage } : {}),
    });
  });
}
