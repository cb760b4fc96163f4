// cellblock run: one command in a fresh sandbox.
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type RunResult, type RunSpec } from '../sandbox/schema.js';
import { run } from '../sandbox/run.js';
import { parseKb, parseMs } from './units.js';

export const RUN_USAGE = `usage: cellblock run [options] -- CMD [ARGS...]
  --time T        CPU time of the whole tree (default 2s)
  --wall T        wall-clock time (default 5s)
  --memory SIZE   memory of the whole tree (default 256M)
  --pids N        processes and threads (default 64)
  --output SIZE   stdout and stderr, each (default 64M)
  --disk SIZE     work dir and /tmp together (default 64M)
  --ro PATH       bind PATH read-only at the same path (repeatable)
  --copy-in SRC[:DEST]  copy a file into the work dir, keeping its mode (repeatable)
  --stdin FILE    stdin from FILE (default: empty)
  --env K=V       add to the environment (PATH, HOME, LANG) (repeatable)
  --cpus LIST     pin to these CPUs (cpuset list)
  --allow-weaker  run without Landlock where the kernel lacks it (reported)
  --json          print one JSON object instead of the program's output`;

const OPTIONS = {
  time: { type: 'string' },
  wall: { type: 'string' },
  memory: { type: 'string' },
  pids: { type: 'string' },
  output: { type: 'string' },
  disk: { type: 'string' },
  ro: { type: 'string', multiple: true },
  'copy-in': { type: 'string', multiple: true },
  stdin: { type: 'string' },
  env: { type: 'string', multiple: true },
  cpus: { type: 'string' },
  'allow-weaker': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export function specFromArgs(args: string[]): { spec: RunSpec; json: boolean; allowWeaker: boolean } {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new Error('no command given');
  const limits: Record<string, number> = {};
  if (values.time) limits.cpuMs = parseMs(values.time, '--time');
  if (values.wall) limits.wallMs = parseMs(values.wall, '--wall');
  if (values.memory) limits.memoryKb = parseKb(values.memory, '--memory');
  if (values.output) limits.outputKb = parseKb(values.output, '--output');
  if (values.disk) limits.diskKb = parseKb(values.disk, '--disk');
  if (values.pids) limits.pids = Number(values.pids);
  const env = Object.fromEntries(
    (values.env ?? []).map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`--env: expected K=V, got '${pair}'`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
  const files = (values['copy-in'] ?? []).map((item) => {
    const colon = item.indexOf(':');
    const source = resolve(colon < 0 ? item : item.slice(0, colon));
    return { source, path: colon < 0 ? basename(source) : item.slice(colon + 1) };
  });
  const spec: RunSpec = {
    argv: positionals,
    env,
    limits,
    readOnly: (values.ro ?? []).map((path) => resolve(path)),
    files,
    ...(values.stdin ? { stdin: { file: resolve(values.stdin) } } : {}),
    ...(values.cpus ? { cpus: values.cpus } : {}),
  };
  return { spec, json: values.json ?? false, allowWeaker: values['allow-weaker'] ?? false };
}

export function summary(result: RunResult): string {
  const parts = [`status=${result.status}`];
  if (result.exitCode !== null) parts.push(`exit=${result.exitCode}`);
  if (result.signalName) parts.push(`signal=${result.signalName}`);
  if (result.syscall) parts.push(`syscall=${result.syscall}`);
  parts.push(`cpu=${result.cpuMs.toFixed(1)}ms`, `wall=${result.wallMs.toFixed(1)}ms`, `memory=${result.memoryKb}KB`);
  if (result.error) parts.push(`error=${result.error.code}: ${result.error.message}`);
  if (result.weakened) parts.push(`weakened=${result.weakened.join(',')}`);
  return `cellblock: ${parts.join(' ')}`;
}

// Exit code: 0 when the run was judged, whatever its status; 1 when it could not run.
export async function runCommand(args: string[]): Promise<number> {
  const { spec, json, allowWeaker } = specFromArgs(args);
  const result = await run(spec, { allowWeaker });
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    process.stderr.write(`${summary(result)}\n`);
  }
  return result.status === 'internal_error' ? 1 : 0;
}
