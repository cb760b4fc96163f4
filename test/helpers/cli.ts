// Runs the built CLI (dist/cli/main.js) as a separate process, the way a user does.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliOutcome {
  pid: number | undefined;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartedCli {
  pid: number | undefined;
  outcome: Promise<CliOutcome>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): StartedCli {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const outcome = new Promise<CliOutcome>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ pid: child.pid, code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  return { pid: child.pid, outcome };
}

export const runCli = (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliOutcome> => startCli(args, env).outcome;
