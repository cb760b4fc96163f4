// Judging overhead: A+B in C++ (examples/aplusb) against generated tests, judged
// end to end by judge() as the worker calls it, against the sum of the same
// compiled binary's bare launches on the same inputs. Judged and bare
// submissions alternate, so drift on the machine hits both alike.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { judge } from '../judge/judge.js';
import { compileSource } from '../judge/program.js';
import type { Submission, TestCase } from '../judge/schema.js';
import { type ContentStore, directoryStore } from '../store/content.js';
import { runDriver } from './driver.js';
import { paired } from './accuracy.js';
import type { Programs } from './programs.js';

export interface JudgePlan {
  judgeRuns: number;
  judgeTests: number;
}

export interface JudgeOverhead {
  tests: number;
  // wall time per submission, ns: judge() end to end, and the sum of the bare launches
  judgedNs: number[];
  bareNs: number[];
}

const SOLUTION = fileURLToPath(new URL('../../examples/aplusb/solutions/ac.cpp', import.meta.url));

// Operands across the problem's whole range, the same every run (a fixed LCG).
function generatedTests(count: number): TestCase[] {
  let state = 12345;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state % 2_000_000_001) - 1_000_000_000;
  };
  return Array.from({ length: count }, (_, i) => {
    const [a, b] = [next(), next()];
    return { name: String(i + 1).padStart(2, '0'), stdin: `${a} ${b}\n`, expected: `${a + b}\n` };
  });
}

// The compiled solution, out of the compile cache judge() filled, as a host file.
async function hostBinary(submission: Submission, store: ContentStore, dir: string): Promise<string> {
  const compiled = await compileSource(submission.language, submission.source, [], store);
  const file = compiled.executable?.files.find((f) => f.path === 'main');
  if (!file || !('content' in file)) throw new Error('judge bench: no compiled main in the compile cache');
  const path = join(dir, 'aplusb');
  writeFileSync(path, file.content, { mode: 0o755 });
  return path;
}

export async function measureJudging(plan: JudgePlan, programs: Programs): Promise<JudgeOverhead> {
  const tests = generatedTests(plan.judgeTests);
  const submission: Submission = { language: 'cpp', source: readFileSync(SOLUTION, 'utf8'), tests, limits: { timeMs: 1_000, memoryKb: 262_144 } };
  const storeDir = mkdtempSync(join(programs.dir, 'store-'));
  try {
    const store = directoryStore(storeDir);
    const judged = async (): Promise<number> => {
      const started = process.hrtime.bigint();
      const result = await judge(submission, { store, parallelism: 1 });
      const elapsed = Number(process.hrtime.bigint() - started);
      if (result.verdict !== 'AC') throw new Error(`judge bench: A+B judged ${result.verdict}${result.error ? `: ${result.error}` : ''}`);
      return elapsed;
    };
    // Untimed: compiles once and fills the compile cache every timed judge() reads.
    await judged();
    const binary = await hostBinary(submission, store, programs.dir);
    const inputs = tests.map((test, i) => {
      const path = join(programs.dir, `aplusb-${i}.in`);
      writeFileSync(path, test.stdin);
      return path;
    });
    const bare = (): number =>
      inputs.reduce((sum, stdin) => sum + (runDriver(programs.driver, { count: 1, concurrency: 1, warmup: 0, idleMs: 0, argv: [binary], stdin }).latenciesNs[0] ?? 0), 0);
    bare();
    const { bare: bareNs, sandbox: judgedNs } = await paired(plan.judgeRuns, bare, judged);
    return { tests: tests.length, judgedNs, bareNs };
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
}
