// One schema per concept of judging: a submission and its result. The CLI's
// --json output and (later) the API's result objects are these, as is.
import { isAbsolute } from 'node:path';
import { z } from 'zod';

const MAX_SOURCE = 1024 * 1024;

export const Verdict = z.enum([
  'AC', // accepted
  'PA', // partially accepted (a testlib checker's points)
  'WA', // wrong answer
  'PE', // presentation error
  'TLE', // time limit (CPU or wall)
  'MLE', // memory limit
  'OLE', // output limit
  'RE', // runtime error: non-zero exit or a signal
  'CE', // compile error
  'SV', // security violation: the syscall is named
  'IE', // internal error: ours, never blamed on the submission
  'SK', // skipped
]);
export type Verdict = z.infer<typeof Verdict>;

// A program we run besides the submission: source compiled like a submission, or
// (from the CLI only, never from the API) an executable on the host.
// Files beside a source (headers, modules): plain names in the work dir.
export const SourceFiles = z
  .array(z.object({ path: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a plain file name'), content: z.string().max(MAX_SOURCE) }))
  .max(64)
  .default([]);

export const Program = z.union([
  // files: beside the source (a package's testlib.h, a validator's headers)
  z.object({ language: z.string(), source: z.string().max(MAX_SOURCE), files: SourceFiles.optional() }),
  z.object({ executable: z.string().refine(isAbsolute, 'must be an absolute path') }),
]);
export type Program = z.infer<typeof Program>;

// How a checker or interactor program is called and what its exit code means.
// testlib: checker input output answer (0 OK, 1 WA, 2 PE, 3 FAIL, 7 points),
// interactor input output. kattis (ICPC): validator input answer feedback_dir/
// [args], the team's output on stdin; 42 accepted, 43 wrong, else a judge error.
export const Protocol = z.object({
  name: z.enum(['testlib', 'kattis']).default('testlib'),
  args: z.array(z.string().max(4_096)).max(64).default([]),
});
export type Protocol = z.input<typeof Protocol>;

export const Checker = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exact') }),
  z.object({ kind: z.literal('tokens') }),
  z.object({ kind: z.literal('lines') }),
  z.object({
    kind: z.literal('float'),
    absolute: z.number().min(0).default(1e-6),
    relative: z.number().min(0).default(1e-6),
  }),
  // testlib protocol: checker <input> <output> <answer>; exit 0 OK, 1 WA, 2 PE,
  // 3 FAIL (judge error), 7 partial points
  z.object({ kind: z.literal('program'), program: Program, protocol: Protocol.optional() }),
  // the ICPC/Kattis default output validator and its flags: tokens, case
  // insensitive unless caseSensitive, whitespace exact with spaceChangeSensitive,
  // numbers within a tolerance when one is given
  z.object({
    kind: z.literal('kattis'),
    caseSensitive: z.boolean().default(false),
    spaceChangeSensitive: z.boolean().default(false),
    absolute: z.number().min(0).optional(),
    relative: z.number().min(0).optional(),
  }),
  // no answer to compare: a run that finishes normally is AC (plain execution)
  z.object({ kind: z.literal('none') }),
]);
export type Checker = z.infer<typeof Checker>;

export const TestCase = z.object({
  name: z.string().min(1).max(128),
  stdin: z.string(),
  expected: z.string(),
});
export type TestCase = z.infer<typeof TestCase>;

export const JudgeLimits = z.object({
  timeMs: z.number().int().min(1).max(60_000).default(1_000),
  wallMs: z.number().int().min(1).max(300_000).optional(),
  memoryKb: z.number().int().min(4_096).max(8 * 1024 * 1024).default(262_144),
  outputKb: z.number().int().min(1).max(1024 * 1024).default(65_536),
  stackKb: z.number().int().min(64).max(8 * 1024 * 1024).optional(),
  pids: z.number().int().min(1).max(1_024).optional(),
});
export type JudgeLimits = z.infer<typeof JudgeLimits>;

export const Group = z.object({
  name: z.string().min(1),
  tests: z.array(z.string()).min(1),
  points: z.number().min(0),
});
export type Group = z.infer<typeof Group>;

export const Submission = z
  .object({
  language: z.string().min(1),
  source: z.string().max(MAX_SOURCE),
  // more files beside the source (headers, modules), written to the work dir
  // (in the work dir when compiling and when running)
  files: SourceFiles,
  // the tests inline, or a test set stored before, by its hash
  tests: z.array(TestCase).min(1).max(1_000).optional(),
  // arguments after the run command
  args: z.array(z.string().max(4_096)).max(64).default([]),
  // keep each test's stdout and stderr in its result (plain execution, APIs that return output)
  keepOutput: z.boolean().default(false),
  // kept output that is not valid UTF-8: replacement characters (utf8), or its
  // control and non-ASCII bytes as \xNN (escaped, as Jobe answers)
  outputText: z.enum(['utf8', 'escaped']).default('utf8'),
  testSet: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256').optional(),
  limits: JudgeLimits.prefault({}),
  checker: Checker.default({ kind: 'tokens' }),
  interactor: Program.optional(),
  interactorProtocol: Protocol.optional(),
  stopOnFirstFailure: z.boolean().default(false),
  groups: z.array(Group).max(100).optional(),
  })
  .refine((s) => (s.tests === undefined) !== (s.testSet === undefined), {
    message: 'give either tests or testSet',
    path: ['tests'],
  });
export type Submission = z.input<typeof Submission>;
export type ParsedSubmission = z.output<typeof Submission>;
// A submission whose tests are at hand (a stored test set loaded).
export type JudgedSubmission = Omit<ParsedSubmission, 'tests' | 'testSet'> & { tests: TestCase[] };

export const TestResult = z.object({
  name: z.string(),
  verdict: Verdict,
  cpuMs: z.number(),
  wallMs: z.number(),
  memoryKb: z.number().int(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  // the checker's words, or what stopped the run (capped)
  message: z.string(),
  points: z.number().min(0).max(1),
  // with keepOutput
  stdout: z.string().optional(),
  stderr: z.string().optional(),
});
export type TestResult = z.infer<typeof TestResult>;

export const CompileResult = z.object({
  status: z.enum(['ok', 'error', 'skipped']),
  output: z.string(),
  cpuMs: z.number().optional(),
  wallMs: z.number().optional(),
});
export type CompileResult = z.infer<typeof CompileResult>;

export const SubmissionResult = z.object({
  verdict: Verdict,
  score: z.number(),
  maxScore: z.number(),
  compile: CompileResult,
  tests: z.array(TestResult),
  groups: z.array(z.object({ name: z.string(), points: z.number(), maxPoints: z.number() })).optional(),
  totalCpuMs: z.number(),
  maxCpuMs: z.number(),
  maxMemoryKb: z.number().int(),
  // when the verdict is IE: what went wrong on our side
  error: z.string().optional(),
});
export type SubmissionResult = z.infer<typeof SubmissionResult>;
