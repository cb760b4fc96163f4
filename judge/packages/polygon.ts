// Polygon full packages: problem.xml's testset (limits, tests/NN with answers
// tests/NN.a, groups with points and their policy), the checker and the
// interactor from files/ (testlib protocol, compiled with the package's
// resources such as testlib.h beside them).
import { XMLParser } from 'fast-xml-parser';
import { type Group, type Program, type TestCase } from '../schema.js';
import { packageError, type PackageFiles, text } from './files.js';
import { languageOfFile, type Problem } from './problem.js';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  isArray: (name) => ['testset', 'test', 'group', 'file', 'name'].includes(name),
});

const node = (value: unknown): Node => (typeof value === 'object' && value !== null ? (value as Node) : {});
const list = (value: unknown): Node[] => (Array.isArray(value) ? value.map(node) : value === undefined ? [] : [node(value)]);

// "tests/%02d" → "tests/07"
const fillPattern = (pattern: string, index: number): string =>
  pattern.replace(/%(0?)(\d*)d/, (_all, zero: string, width: string) => String(index).padStart(Number(width || 0), zero ? '0' : ' '));

// Polygon's source types ("cpp.g++17", "python.3") → our languages.
function languageOf(type: string, path: string): string | undefined {
  if (type.startsWith('cpp.')) return 'cpp';
  if (type.startsWith('c.')) return 'c';
  if (type.startsWith('python.')) return 'python3';
  if (type.startsWith('java')) return 'java';
  return languageOfFile(path);
}

function programAt(files: PackageFiles, element: Node, role: string, resources: { path: string; content: string }[]): Program {
  const source = node(element.source);
  const path = typeof source.path === 'string' ? source.path : undefined;
  if (!path) throw packageError('problem.xml', `the ${role} names no source file`);
  const content = text(files, path);
  if (content === undefined) throw packageError(path, `missing: the ${role}'s source`);
  const language = languageOf(String(source.type ?? ''), path);
  if (!language) throw packageError(path, `the ${role} is in a language cellblock does not know (${String(source.type)})`);
  return { language, source: content, files: resources };
}

export function loadPolygon(files: PackageFiles): Problem {
  const xml = text(files, 'problem.xml');
  if (xml === undefined) throw packageError('problem.xml', 'missing: not a Polygon package');
  let root: Node;
  try {
    root = node(parser.parse(xml, true).problem);
  } catch (error) {
    throw packageError('problem.xml', `not valid XML (${error instanceof Error ? error.message : String(error)})`);
  }
  const testsets = list(node(root.judging).testset);
  const testset = testsets.find((t) => t.name === 'tests') ?? testsets[0];
  if (!testset) throw packageError('problem.xml', 'no testset in <judging>');
  const timeMs = Number(testset['time-limit']);
  const memoryBytes = Number(testset['memory-limit']);
  if (!(timeMs > 0) || !(memoryBytes > 0)) throw packageError('problem.xml', 'the testset needs a positive time-limit and memory-limit');

  const inputPattern = String(testset['input-path-pattern'] ?? 'tests/%02d');
  const answerPattern = String(testset['answer-path-pattern'] ?? 'tests/%02d.a');
  const declared = list(node(testset.tests).test);
  if (declared.length === 0) throw packageError('problem.xml', 'the testset lists no tests');
  const tests: TestCase[] = declared.map((_test, i) => {
    const input = fillPattern(inputPattern, i + 1);
    const answer = fillPattern(answerPattern, i + 1);
    const stdin = text(files, input);
    if (stdin === undefined) {
      const generated = declared[i]!.method === 'generated';
      throw packageError(input, generated ? 'missing: this test is generated — this is a standard package; generate the tests first (doall.sh) or build a full package' : 'missing');
    }
    const expected = text(files, answer);
    if (expected === undefined) throw packageError(answer, 'missing: every test needs its answer (a full package has them)');
    return { name: input.split('/').pop()!, stdin, expected };
  });

  const groups = groupsOf(testset, declared, tests);
  const resources = list(node(node(root.files).resources).file)
    .map((file) => String(file.path ?? ''))
    // headers (testlib.h) are what a checker's compile needs; statements' files are not
    .filter((path) => /^files\/[^/]+\.(h|hpp|hh)$/.test(path) && files.has(path))
    .map((path) => ({ path: path.slice('files/'.length), content: text(files, path)! }));
  const assets = node(root.assets);
  if (!assets.checker) throw packageError('problem.xml', 'no checker in <assets>');
  const checker = programAt(files, node(assets.checker), 'checker', resources);
  const interactor = assets.interactor ? programAt(files, node(assets.interactor), 'interactor', resources) : undefined;
  const names = list(node(root.names).name);
  return {
    format: 'polygon',
    name: String(names[0]?.value ?? root['short-name'] ?? 'problem'),
    tests,
    ...(groups ? { groups } : {}),
    limits: { timeMs, memoryKb: Math.ceil(memoryBytes / 1024) },
    checker: { kind: 'program', program: checker, protocol: { name: 'testlib', args: [] } },
    ...(interactor ? { interactor, interactorProtocol: { name: 'testlib' } } : {}),
  };
}

// Points: a complete-group group scores the sum of its tests' points only when
// all pass; each-test (and tests outside groups) score per test.
function groupsOf(testset: Node, declared: Node[], tests: TestCase[]): Group[] | undefined {
  const points = declared.map((test) => Number(test.points ?? 0));
  if (!points.some((p) => p > 0)) return undefined;
  const policies = new Map(list(node(testset.groups).group).map((group) => [String(group.name), group]));
  const groups: Group[] = [];
  const complete = new Map<string, Group>();
  declared.forEach((test, i) => {
    const name = tests[i]!.name;
    const group = test.group === undefined ? undefined : String(test.group);
    const policy = group === undefined ? undefined : policies.get(group)?.['points-policy'];
    if (group !== undefined && policy === 'complete-group') {
      const entry = complete.get(group) ?? { name: `group ${group}`, tests: [], points: 0 };
      if (!complete.has(group)) {
        complete.set(group, entry);
        groups.push(entry);
      }
      entry.tests.push(name);
      entry.points += points[i]!;
    } else if (points[i]! > 0) groups.push({ name, tests: [name], points: points[i]! });
  });
  return groups.filter((group) => group.points > 0);
}
