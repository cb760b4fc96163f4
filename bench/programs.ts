// The C programs the benchmark needs, compiled with gcc -O2 into a temp dir at
// bench time: the launch driver, the accuracy loads and the syscall loop.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Programs {
  dir: string;
  driver: string;
  busy: string;
  touch: string;
  syscalls: string;
}

// Sources stay in bench/; this module runs from dist/bench/.
const sourceOf = (name: string): string => fileURLToPath(new URL(`../../bench/${name}.c`, import.meta.url));

function compile(dir: string, name: string): string {
  const output = join(dir, name);
  execFileSync('gcc', ['-O2', '-Wall', '-o', output, sourceOf(name)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return output;
}

// Not under /tmp: the sandbox stages its new root on a tmpfs mounted over /tmp,
// which hides host paths below /tmp from its read-only binds.
export const scratchParent = (): string => (existsSync('/var/tmp') ? '/var/tmp' : tmpdir());

export function compilePrograms(): Programs {
  const dir = mkdtempSync(join(scratchParent(), 'cellblock-bench-'));
  // mkdtemp makes it 0700; the sandboxed program runs as an unprivileged uid and
  // must be able to reach the binaries bound into its root.
  chmodSync(dir, 0o755);
  return { dir, driver: compile(dir, 'bare'), busy: compile(dir, 'busy'), touch: compile(dir, 'touch'), syscalls: compile(dir, 'syscalls') };
}

export function removePrograms(programs: Programs): void {
  rmSync(programs.dir, { recursive: true, force: true });
}
