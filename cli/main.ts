#!/usr/bin/env node
// The cellblock command: one entry, a sub-command per job.
import { ConfigError } from '../config/schema.js';
import { SandboxError } from '../sandbox/errors.js';
import { doctorCommand } from './doctor.js';
import { IMAGE_USAGE, imageCommand } from './image.js';
import { JUDGE_USAGE, judgeCommand, putTestsCommand } from './judge.js';
import { languagesCommand } from './languages.js';
import { RUN_USAGE, runCommand } from './run.js';
import { SERVE_USAGE } from './service-usage.js';

const USAGE = `usage: cellblock <command> [options]
  judge      judge a submission against a directory of tests or a stored test set
  put-tests  store a directory of tests; prints its hash
  run        run one command in a fresh sandbox
  image      import, list and remove OCI images used as root filesystems
  languages  list language profiles, their availability and versions
  doctor     check this host's kernel features and cgroups
  bench      the benchmark of npm run bench  [--quick] [--json] [--no-write] [--runs N]
  serve      the HTTP API and a worker in one process (its own Redis unless REDIS_URL)
  api        the HTTP API alone;  worker  a worker alone (both on REDIS_URL)

${JUDGE_USAGE}

${RUN_USAGE}

${IMAGE_USAGE}

${SERVE_USAGE}`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  judge: judgeCommand,
  'put-tests': putTestsCommand,
  run: runCommand,
  image: imageCommand,
  languages: languagesCommand,
  doctor: doctorCommand,
  // loaded on demand: `run` and `judge` start without the service's libraries
  serve: async (args) => (await import('./service.js')).serveCommand(args),
  api: async (args) => (await import('./service.js')).apiCommand(args),
  worker: async (args) => (await import('./service.js')).workerCommand(args),
  bench: async (args) => (await import('../bench/launch.js')).benchCommand(args),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command || name === 'help' || args.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return command || name === 'help' || name === '--help' ? 0 : 2;
  }
  try {
    return await command(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`cellblock: ${error.message}\n`);
      return 2;
    }
    if (error instanceof SandboxError) {
      process.stderr.write(`cellblock: ${error.code}: ${error.message}\n`);
      if (args.includes('--json')) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
      return 1;
    }
    process.stderr.write(`cellblock: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
