// Host files the tests hand to the sandbox: fixture dirs and static C programs.
//
// Fixtures live under /var/tmp, not the host's /tmp: the sandbox assembles its
// root on a tmpfs mounted over /tmp in its mount namespace, which hides the
// host's /tmp from the launcher itself, so a readOnly path or a file to copy in
// from the host's /tmp cannot be used (see "host /tmp" in filesystem.test.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_PARENT = '/var/tmp';

export function makeFixtureDir(prefix = 'cellblock-test-'): string {
  const dir = mkdtempSync(join(FIXTURE_PARENT, prefix));
  chmodSync(dir, 0o755); // mkdtemp makes it 0700
  return dir;
}

export function removeFixtureDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// Compiles a static program on the host: `gcc -O2 -static`. Returns its path.
export function compileStatic(dir: string, name: string, source: string, flags: string[] = []): string {
  const sourcePath = join(dir, `${name}.c`);
  const binary = join(dir, name);
  writeFileSync(sourcePath, source);
  execFileSync('gcc', ['-O2', '-static', ...flags, '-o', binary, sourcePath], { stdio: 'pipe' });
  return binary;
}

// A unique token: what a secret holds, or a name nothing else on the host uses.
export const uniqueToken = (what: string): string =>
  `cellblock-${what}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

// Python inside the sandbox: the host's python3 on PATH is a pyenv build.
export const PYTHON = '/usr/bin/python3';
