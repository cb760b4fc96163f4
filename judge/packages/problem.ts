// What a problem package gives the judge: the pieces of a Submission other than
// the submission's own language and source.
import { extname } from 'node:path';
import { loadLanguages } from '../../profiles/languages.js';
import { type Checker, type Group, type JudgeLimits, type Program, type Protocol, type Submission, type TestCase } from '../schema.js';
import { byNaturalName, packageError, type PackageFiles } from './files.js';

// A package that gives no time limit, to be timed on its accepted submissions
// (timing.ts) before it is judged; until then its limit is the cap they run under.
export interface Timing {
  multiplier: number;
  resolutionMs: number;
  accepted: { path: string; language: string; source: string }[];
}
export const TIMING_CAP_MS = 30_000;

export interface Problem {
  format: 'kattis' | 'polygon';
  name: string;
  tests: TestCase[];
  groups?: Group[];
  limits: Pick<JudgeLimits, 'timeMs' | 'memoryKb'> & { outputKb?: number };
  checker: Checker;
  interactor?: Program;
  interactorProtocol?: Protocol;
  timing?: Timing;
}

// The submission for a source against a problem: its tests, groups, limits,
// checker and interactor; limits given beside the package win over its own.
export function submissionFor(problem: Problem, language: string, source: string, limits: Partial<JudgeLimits> = {}): Submission {
  return {
    language,
    source,
    tests: problem.tests,
    ...(problem.groups ? { groups: problem.groups } : {}),
    limits: { ...problem.limits, ...limits },
    checker: problem.checker,
    ...(problem.interactor ? { interactor: problem.interactor, interactorProtocol: problem.interactorProtocol } : {}),
  };
}

// Our language for a source file name ("check.cpp" → cpp), from the profiles.
export function languageOfFile(path: string): string | undefined {
  const extension = extname(path);
  if (extension === '.cc' || extension === '.cxx') return 'cpp';
  for (const { profile } of loadLanguages().values()) {
    if (extname(profile.source) === extension) return profile.id;
  }
  return undefined;
}

const HEADER = /\.(h|hpp|hh)$/;

// A program from the files under a folder of the package (a validator): its one
// source in a language we know, with the headers and other files beside it.
export function programFrom(files: PackageFiles, folder: string): Program {
  const inside = [...files.keys()].filter((path) => path.startsWith(`${folder}/`)).sort(byNaturalName);
  const plain = inside.filter((path) => !path.slice(folder.length + 1).includes('/'));
  if (plain.some((path) => /\/(build|run)$/.test(path))) {
    throw packageError(`${folder}/`, 'build and run scripts are not supported: give one source file (C, C++, Python…) and its headers');
  }
  const sources = plain.filter((path) => !HEADER.test(path) && languageOfFile(path));
  if (sources.length !== 1) {
    throw packageError(`${folder}/`, sources.length === 0 ? 'no source file in a language cellblock knows' : `one source file expected, found ${sources.map((s) => s.slice(folder.length + 1)).join(', ')}`);
  }
  const main = sources[0]!;
  return {
    language: languageOfFile(main)!,
    source: files.get(main)!.toString('utf8'),
    files: plain.filter((path) => path !== main).map((path) => ({ path: path.slice(folder.length + 1), content: files.get(path)!.toString('utf8') })),
  };
}
