// ICPC/Kattis problem packages, legacy and 2025-09 (2023-07-draft) versions:
// problem.yaml, data/sample and data/secret with nested groups, the default
// output validator and its flags, custom and interactive output validators.
import { parse as parseYaml } from 'yaml';
import { type Checker, type Group, type Program, type TestCase } from '../schema.js';
import { byNaturalName, packageError, type PackageFiles, text } from './files.js';
import { languageOfFile, type Problem, programFrom, type Timing, TIMING_CAP_MS } from './problem.js';

type Yaml = Record<string, unknown>;

const isMapping = (value: unknown): value is Yaml => typeof value === 'object' && value !== null && !Array.isArray(value);

function readYaml(files: PackageFiles, path: string): Yaml | undefined {
  const source = text(files, path);
  if (source === undefined) return undefined;
  let value: unknown;
  try {
    value = parseYaml(source);
  } catch (error) {
    throw packageError(path, `not valid YAML (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) throw packageError(path, 'expected a mapping of keys to values');
  return value;
}

const VERSIONS = new Set(['legacy', 'legacy-icpc', '2023-07-draft', '2025-09']);

const number = (value: unknown, file: string, key: string): number | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw packageError(file, `${key} must be a positive number`);
  return value;
};

// Output validator flags (legacy validator_flags, output_validator_flags, or
// output_validator_args as text or a list) as arguments.
function flagsOf(value: unknown, file: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.map(String);
  throw packageError(file, 'validator flags must be a string or a list of strings');
}

const groupYaml = (files: PackageFiles, dir: string): { file: string; yaml: Yaml } | undefined => {
  for (const name of ['test_group.yaml', 'testdata.yaml']) {
    const yaml = readYaml(files, `${dir}/${name}`);
    if (yaml) return { file: `${dir}/${name}`, yaml };
  }
  return undefined;
};

const groupFlags = (found: { file: string; yaml: Yaml } | undefined): string[] | undefined =>
  found && flagsOf(found.yaml.output_validator_args ?? found.yaml.output_validator_flags, found.file);

// The default output validator, configured by its flags.
export function defaultValidator(flags: string[], where: string): Checker {
  const checker: Extract<Checker, { kind: 'kattis' }> = { kind: 'kattis', caseSensitive: false, spaceChangeSensitive: false };
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === 'case_sensitive') checker.caseSensitive = true;
    else if (flag === 'space_change_sensitive') checker.spaceChangeSensitive = true;
    else if (flag === 'float_tolerance' || flag === 'float_absolute_tolerance' || flag === 'float_relative_tolerance') {
      const value = Number(flags[++i]);
      if (flags[i] === undefined || !Number.isFinite(value) || value < 0) throw packageError(where, `${flag} needs a non-negative number`);
      if (flag !== 'float_relative_tolerance') checker.absolute = value;
      if (flag !== 'float_absolute_tolerance') checker.relative = value;
    } else throw packageError(where, `unknown default validator flag '${flag}'`);
  }
  return checker;
}

interface TestDir {
  dir: string;
  tests: TestCase[];
  children: TestDir[];
}

// The test cases in a data folder and its sub-folders (groups), in name order.
function readTests(files: PackageFiles, dir: string, needAnswers: boolean): TestDir {
  const prefix = `${dir}/`;
  const below = [...files.keys()].filter((path) => path.startsWith(prefix)).map((path) => path.slice(prefix.length));
  const inputs = below.filter((name) => !name.includes('/') && name.endsWith('.in')).sort(byNaturalName);
  const tests = inputs.map((file) => {
    const base = `${dir}/${file.slice(0, -3)}`;
    const answer = files.get(`${base}.ans`);
    if (!answer && needAnswers) throw packageError(`${base}.ans`, `missing: every test input needs its answer file`);
    const name = base.slice('data/'.length);
    if (name.length > 128) throw packageError(`${base}.in`, 'test names are at most 128 characters');
    return { name, stdin: files.get(`${base}.in`)!.toString('utf8'), expected: answer?.toString('utf8') ?? '' };
  });
  const subdirs = [...new Set(below.filter((name) => name.includes('/')).map((name) => name.split('/')[0]!))].sort(byNaturalName);
  return { dir, tests, children: subdirs.map((sub) => readTests(files, `${dir}/${sub}`, needAnswers)) };
}

const allTests = (node: TestDir): TestCase[] => [...node.tests, ...node.children.flatMap(allTests)];
const allDirs = (node: TestDir): string[] => [node.dir, ...node.children.flatMap(allDirs)];

// Scoring: each group under data/secret scores its points — all of them when
// every test passes (aggregation min), or a share per test (sum, the legacy
// default), each test then its own group.
function scoringGroups(files: PackageFiles, secret: TestDir): Group[] {
  const groups: Group[] = [];
  const single = (test: TestCase, points: number) => groups.push({ name: test.name, tests: [test.name], points });
  for (const test of secret.tests) single(test, 1);
  for (const child of secret.children) {
    const found = groupYaml(files, child.dir);
    const yaml = found?.yaml ?? {};
    const scoring = isMapping(yaml.scoring) ? yaml.scoring : {};
    const score = number(scoring.score ?? yaml.score ?? yaml.accept_score, found?.file ?? child.dir, 'score') ?? 1;
    const aggregation = String(scoring.aggregation ?? yaml.aggregation ?? yaml.grader_flags ?? 'sum');
    const tests = allTests(child);
    if (tests.length === 0) continue;
    if (/\bmin\b/.test(aggregation)) groups.push({ name: child.dir.slice('data/'.length), tests: tests.map((t) => t.name), points: score });
    else for (const test of tests) single(test, score);
  }
  return groups;
}

function findValidator(files: PackageFiles, interactive: boolean): Program | undefined {
  const paths = [...files.keys()];
  if (paths.some((path) => path.startsWith('output_validator/'))) return programFrom(files, 'output_validator');
  const legacy = [...new Set(paths.filter((path) => path.startsWith('output_validators/')).map((path) => path.split('/')[1]!))];
  if (legacy.length > 1) throw packageError('output_validators/', `one output validator expected, found ${legacy.join(', ')}`);
  if (legacy.length === 0) {
    if (interactive) throw packageError('output_validator/', 'an interactive problem needs its output validator (the interactor)');
    return undefined;
  }
  const [name] = legacy;
  // a validator is a folder, or a single file
  return files.has(`output_validators/${name}`)
    ? programFrom(new Map([[`output_validators/${name}`, files.get(`output_validators/${name}`)!]]), 'output_validators')
    : programFrom(files, `output_validators/${name}`);
}

// Without a time limit, the limit is the slowest accepted submission's time
// times a multiplier (legacy limits.time_multiplier, default 5; 2025-09
// limits.time_multipliers.ac_to_time_limit, default 2), rounded up to
// limits.time_resolution (default 1 s): timing.ts runs them.
function timingOf(files: PackageFiles, version: string, limits: Yaml): Timing {
  const legacy = version.startsWith('legacy');
  const multipliers = isMapping(limits.time_multipliers) ? limits.time_multipliers : {};
  const multiplier = number(legacy ? limits.time_multiplier : multipliers.ac_to_time_limit, 'problem.yaml', 'the time multiplier') ?? (legacy ? 5 : 2);
  const resolutionMs = Math.round((number(limits.time_resolution, 'problem.yaml', 'limits.time_resolution') ?? 1) * 1000);
  const accepted = [...files.keys()]
    .filter((path) => /^submissions\/accepted\/[^/]+$/.test(path) && languageOfFile(path))
    .sort(byNaturalName)
    .map((path) => ({ path, language: languageOfFile(path)!, source: files.get(path)!.toString('utf8') }));
  if (accepted.length === 0) {
    throw packageError('problem.yaml', 'no time limit: give limits.time_limit (seconds) or a .timelimit file, or accepted submissions (submissions/accepted/) to time');
  }
  return { multiplier, resolutionMs, accepted };
}

export function loadKattis(files: PackageFiles): Problem {
  const yaml = readYaml(files, 'problem.yaml');
  if (!yaml) throw packageError('problem.yaml', 'missing: not an ICPC/Kattis package');
  const version = String(yaml.problem_format_version ?? 'legacy');
  if (!VERSIONS.has(version)) throw packageError('problem.yaml', `problem_format_version '${version}' is not one cellblock reads (legacy, 2023-07-draft, 2025-09)`);
  const types = (Array.isArray(yaml.type) ? yaml.type : String(yaml.type ?? 'pass-fail').split(/\s+/)).map(String);
  const validation = String(yaml.validation ?? 'default').split(/\s+/);
  for (const refused of ['multi-pass', 'submit-answer']) {
    if (types.includes(refused) || validation.includes(refused)) throw packageError('problem.yaml', `${refused} problems are not supported`);
  }
  const interactive = types.includes('interactive') || validation.includes('interactive');
  const scoring = types.includes('scoring') || validation.includes('score');

  const limits = isMapping(yaml.limits) ? yaml.limits : {};
  const timeFile = text(files, '.timelimit');
  const seconds = number(limits.time_limit, 'problem.yaml', 'limits.time_limit') ?? (timeFile !== undefined ? number(Number(timeFile.trim()), '.timelimit', 'the time limit') : undefined);
  const timing = seconds === undefined ? timingOf(files, version, limits) : undefined;
  const memoryMb = number(limits.memory, 'problem.yaml', 'limits.memory') ?? 2_048;
  const outputMb = number(limits.output, 'problem.yaml', 'limits.output') ?? 8;

  const secret = readTests(files, 'data/secret', !interactive);
  const sample = readTests(files, 'data/sample', !interactive);
  const tests = [...allTests(sample), ...allTests(secret)];
  if (allTests(secret).length === 0) throw packageError('data/secret/', 'no test cases (NAME.in with NAME.ans)');

  // flags: problem.yaml (legacy), then data/'s or data/secret's group file; a
  // group of its own with other flags cannot be judged with one validator
  const topFlags = groupFlags(groupYaml(files, 'data')) ?? groupFlags(groupYaml(files, 'data/secret'));
  const flags = [...(flagsOf(yaml.validator_flags, 'problem.yaml') ?? []), ...(topFlags ?? [])];
  for (const dir of allDirs(secret).slice(1)) {
    const own = groupFlags(groupYaml(files, dir));
    if (own && own.join(' ') !== (topFlags ?? []).join(' ')) throw packageError(groupYaml(files, dir)!.file, 'validator flags that differ between groups are not supported');
  }

  // legacy: validation says custom; 2025-09: an output_validator/ folder is there
  const custom = version.startsWith('legacy') ? validation.includes('custom') : [...files.keys()].some((path) => path.startsWith('output_validator/'));
  const validator = custom || interactive ? findValidator(files, interactive) : undefined;
  const protocol = { name: 'kattis' as const, args: flags };
  const name = typeof yaml.name === 'string' ? yaml.name : isMapping(yaml.name) ? String(Object.values(yaml.name)[0] ?? 'problem') : 'problem';
  return {
    format: 'kattis',
    name,
    tests,
    ...(scoring ? { groups: scoringGroups(files, secret) } : {}),
    limits: { timeMs: seconds === undefined ? TIMING_CAP_MS : Math.round(seconds * 1000), memoryKb: Math.round(memoryMb * 1024), outputKb: Math.round(outputMb * 1024) },
    ...(timing ? { timing } : {}),
    checker: interactive ? { kind: 'none' } : validator ? { kind: 'program', program: validator, protocol } : defaultValidator(flags, 'problem.yaml'),
    ...(interactive && validator ? { interactor: validator, interactorProtocol: protocol } : {}),
  };
}
