// Every example solution gets the verdict examples/aplusb/expected.json names:
// AC in every language, and each failing verdict produced for real.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readTestDir } from '../../cli/judge.js';
import { judge } from '../../judge/judge.js';
import { type Verdict } from '../../judge/schema.js';
import { loadLanguages } from '../../profiles/languages.js';

const example = fileURLToPath(new URL('../../../examples/aplusb/', import.meta.url));
const expected = JSON.parse(readFileSync(`${example}expected.json`, 'utf8')) as {
  limits: { timeMs: number; memoryKb: number };
  solutions: Record<string, Verdict>;
};
const tests = readTestDir(`${example}tests`);

const languageOf = (file: string): string => {
  const extension = extname(file);
  const match = [...loadLanguages().values()].find(({ profile }) => extname(profile.source) === extension);
  assert.ok(match, `no language for ${file}`);
  return match.profile.id;
};

describe('examples/aplusb', () => {
  it('every language the examples use is available on this host', () => {
    const unavailable = [...new Set(Object.keys(expected.solutions).map(languageOf))].filter(
      (id) => !loadLanguages().get(id)?.available,
    );
    assert.deepEqual(unavailable, [], 'scripts/setup.sh installs every toolchain');
  });

  for (const [file, verdict] of Object.entries(expected.solutions)) {
    it(`${file} is ${verdict}`, async () => {
      const result = await judge({
        language: languageOf(file),
        source: readFileSync(`${example}solutions/${file}`, 'utf8'),
        tests,
        limits: expected.limits,
        checker: { kind: 'lines' },
      });
      const detail = JSON.stringify({ compile: result.compile.output.slice(0, 300), tests: result.tests.map((t) => [t.name, t.verdict, t.message]) });
      assert.equal(result.verdict, verdict, detail);
      if (verdict === 'AC') {
        assert.equal(result.score, 100);
        assert.ok(result.tests.every((test) => test.verdict === 'AC' && test.exitCode === 0));
      }
      if (verdict === 'CE') {
        assert.equal(result.compile.status, 'error');
        assert.match(result.compile.output, /error/i);
        assert.ok(result.tests.every((test) => test.verdict === 'SK'));
      }
      if (verdict === 'RE') {
        const failing = result.tests.find((test) => test.verdict === 'RE')!;
        assert.ok(failing.signal !== null || (failing.exitCode ?? 0) !== 0, 'RE names a signal or an exit code');
        assert.match(failing.message, /killed by SIG|exit code/);
      }
      if (verdict === 'TLE') {
        const failing = result.tests.find((test) => test.verdict === 'TLE')!;
        if (file.includes('sleep')) assert.ok(failing.cpuMs < expected.limits.timeMs / 2, 'a sleeper burns no CPU');
        else assert.ok(failing.cpuMs >= expected.limits.timeMs, `a spinner is stopped past its CPU limit (${failing.cpuMs})`);
      }
    });
  }
});
