// cellblock judge: a submission against a directory of tests, without Redis.
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLanguages } from '../profiles/languages.js';
import { judge } from '../judge/judge.js';
import { putTestSet } from '../judge/test-sets.js';
import { defaultStore } from '../store/content.js';
import { type Checker, type Program, type SubmissionResult, type TestCase, type TestResult } from '../judge/schema.js';
import { SandboxError } from '../sandbox/errors.js';
import { readPackage } from '../judge/packages/files.js';
import { loadProblem } from '../judge/packages/index.js';
import { submissionFor } from '../judge/packages/problem.js';
import { timedProblem } from '../judge/packages/timing.js';
import { parseKb, parseMs } from './units.js';

export const JUDGE_USAGE = `usage: cellblock judge SOURCE [--lang ID] (--tests DIR | --test-set HASH | --package PATH) [options]
  --lang ID         language (default: from SOURCE's extension; see cellblock languages)
  --tests DIR       NAME.in with NAME.out (or NAME.ans), run in name order
  --test-set HASH   a test set stored before with cellblock put-tests DIR
  --package PATH    an ICPC/Kattis or Polygon problem package (folder, .zip or .kpp):
                    its tests, groups, limits, validator or checker and interactor
  --time T          CPU time per test (default 1s)
  --wall T          wall time per test (default 3× the CPU time, at least +2s)
  --memory SIZE     memory per test (default 256M)
  --checker C       tokens (default), exact, lines, float[:EPS], or a checker PATH (testlib)
  --interactor PATH an interactor (testlib), source or executable
  --stop            stop at the first failing test
  --json            one JSON object instead of the table`;

const OPTIONS = {
  lang: { type: 'string' },
  tests: { type: 'string' },
  'test-set': { type: 'string' },
  package: { type: 'string' },
  time: { type: 'string' },
  wall: { type: 'string' },
  memory: { type: 'string' },
  checker: { type: 'string' },
  interactor: { type: 'string' },
  stop: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

// Language ids by source extension, from the profiles ("main.cpp" → cpp).
function languageByExtension(): Map<string, string> {
  const byExtension = new Map<string, string>();
  for (const { profile } of loadLanguages().values()) {
    const extension = extname(profile.source);
    if (extension && !byExtension.has(extension)) byExtension.set(extension, profile.id);
  }
  return byExtension;
}

function languageOf(path: string, given?: string): string {
  const id = given ?? languageByExtension().get(extname(path));
  if (!id) throw new SandboxError('UNKNOWN_LANGUAGE', `cannot tell the language of ${path}: give --lang`);
  return id;
}

// A checker or interactor: a source in a known language, or an executable.
function programAt(path: string): Program {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new SandboxError('PATH_NOT_FOUND', `no such file: ${absolute}`);
  if (languageByExtension().has(extname(absolute))) {
    return { language: languageOf(absolute), source: readFileSync(absolute, 'utf8') };
  }
  accessSync(absolute, constants.X_OK);
  return { executable: absolute };
}

function checkerOf(text: string | undefined): Checker {
  if (!text || text === 'tokens') return { kind: 'tokens' };
  if (text === 'exact' || text === 'lines') return { kind: text };
  const float = /^float(?::([0-9.eE+-]+))?$/.exec(text);
  if (float) {
    const eps = float[1] ? Number(float[1]) : 1e-6;
    return { kind: 'float', absolute: eps, relative: eps };
  }
  return { kind: 'program', program: programAt(text) };
}

export function readTestDir(dir: string): TestCase[] {
  const absolute = resolve(dir);
  if (!existsSync(absolute) || !statSync(absolute).isDirectory()) {
    throw new SandboxError('PATH_NOT_FOUND', `no such test directory: ${absolute}`);
  }
  const names = readdirSync(absolute)
    .filter((file) => file.endsWith('.in'))
    .map((file) => file.slice(0, -3))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (names.length === 0) throw new SandboxError('PATH_NOT_FOUND', `no NAME.in files in ${absolute}`);
  return names.map((name) => {
    const answer = ['.out', '.ans'].map((ext) => join(absolute, name + ext)).find(existsSync);
    return { name, stdin: readFileSync(join(absolute, `${name}.in`), 'utf8'), expected: answer ? readFileSync(answer, 'utf8') : '' };
  });
}

function progress(done: number, total: number, last: TestResult): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${last.name}: ${last.verdict}   `);
  if (done === total) process.stderr.write('\r\x1b[K');
}

export function verdictTable(result: SubmissionResult): string {
  const rows = result.tests.map((test) => [
    test.name,
    test.verdict,
    `${test.cpuMs.toFixed(0)} ms`,
    `${(test.memoryKb / 1024).toFixed(1)} MiB`,
    test.message.split('\n')[0] ?? '',
  ]);
  const header = ['test', 'verdict', 'time', 'memory', 'message'];
  const widths = header.map((title, col) => Math.max(title.length, ...rows.map((row) => row[col]!.length)));
  const line = (cells: string[]) => cells.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd();
  const lines = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  if (result.compile.status === 'error') lines.unshift(`compile error:\n${result.compile.output.trimEnd()}\n`);
  lines.push(
    '',
    `verdict ${result.verdict}  score ${result.score}/${result.maxScore}  max time ${result.maxCpuMs.toFixed(0)} ms  max memory ${(result.maxMemoryKb / 1024).toFixed(1)} MiB`,
  );
  if (result.error) lines.push(`internal error: ${result.error}`);
  return `${lines.join('\n')}\n`;
}

// cellblock put-tests DIR: store a test set once; judge it by its hash after.
export async function putTestsCommand(args: string[]): Promise<number> {
  const [dir] = args.filter((arg) => !arg.startsWith('--'));
  if (!dir) throw new Error('put-tests needs DIR');
  const hash = await putTestSet(defaultStore(), readTestDir(dir));
  process.stdout.write(args.includes('--json') ? `${JSON.stringify({ testSet: hash })}\n` : `${hash}\n`);
  return 0;
}

export async function judgeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [sourcePath] = positionals;
  if (!sourcePath || !(values.tests || values['test-set'] || values.package)) throw new Error('judge needs SOURCE and --tests DIR, --test-set HASH or --package PATH');
  const absolute = resolve(sourcePath);
  if (!existsSync(absolute)) throw new SandboxError('PATH_NOT_FOUND', `no such file: ${absolute}`);
  const limits = {
    ...(values.time ? { timeMs: parseMs(values.time, '--time') } : {}),
    ...(values.wall ? { wallMs: parseMs(values.wall, '--wall') } : {}),
    ...(values.memory ? { memoryKb: parseKb(values.memory, '--memory') } : {}),
  };
  const language = languageOf(absolute, values.lang);
  const source = readFileSync(absolute, 'utf8');
  const submission = values.package
    ? submissionFor(await timedProblem(loadProblem(readPackage(values.package))), language, source, limits)
    : {
        language,
        source,
        ...(values.tests ? { tests: readTestDir(values.tests) } : { testSet: values['test-set'] }),
        limits,
        checker: checkerOf(values.checker),
        ...(values.interactor ? { interactor: programAt(values.interactor) } : {}),
      };
  const result = await judge(
    { ...submission, stopOnFirstFailure: values.stop ?? false },
    values.json ? {} : { onTest: (() => { let done = 0; return (test: TestResult, _i: number, total: number) => progress(++done, total, test); })() },
  );
  process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : verdictTable(result));
  return result.verdict === 'IE' ? 1 : 0;
}
