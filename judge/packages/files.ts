// A problem package as a map of its files (relative paths, '/'-separated), read
// from a directory or a .zip/.kpp archive, with the caps a package must fit.
// fflate unzips in memory: a package is never written out, so no entry name can
// reach outside, and each entry is inflated into a buffer of its declared size.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import { SandboxError } from '../../sandbox/errors.js';

export type PackageFiles = Map<string, Buffer>;

export const PACKAGE_MAX_BYTES = 256 * 1024 * 1024;
const PACKAGE_MAX_FILES = 20_000;

export const packageError = (file: string, problem: string): SandboxError => new SandboxError('INVALID_PACKAGE', `${file}: ${problem}`);

const tooLarge = (where: string) => packageError(where, `the package is over ${PACKAGE_MAX_BYTES / 1024 / 1024} MiB or ${PACKAGE_MAX_FILES} files`);

export function unzipPackage(bytes: Uint8Array, where = 'package.zip'): PackageFiles {
  let declared = 0;
  let count = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (entry) => {
        declared += entry.originalSize;
        count += 1;
        if (declared > PACKAGE_MAX_BYTES || count > PACKAGE_MAX_FILES) throw tooLarge(where);
        return !entry.name.endsWith('/');
      },
    });
  } catch (error) {
    if (error instanceof SandboxError) throw error;
    throw packageError(where, `not a readable zip archive (${error instanceof Error ? error.message : String(error)})`);
  }
  const files: PackageFiles = new Map();
  for (const [name, data] of Object.entries(entries)) {
    if (name.split('/').some((part) => part === '..') || name.startsWith('/')) throw packageError(where, `entry '${name}' points outside the package`);
    files.set(name, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  return withoutTopDirectory(files);
}

export function readPackageDir(dir: string): PackageFiles {
  const root = resolve(dir);
  const files: PackageFiles = new Map();
  let total = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        total += statSync(full).size;
        if (total > PACKAGE_MAX_BYTES || files.size >= PACKAGE_MAX_FILES) throw tooLarge(root);
        files.set(relative(root, full).split('\\').join('/'), readFileSync(full));
      }
    }
  };
  walk(root);
  return files;
}

// A directory or a .zip/.kpp file.
export function readPackage(path: string): PackageFiles {
  const absolute = resolve(path);
  let isDir: boolean;
  try {
    isDir = statSync(absolute).isDirectory();
  } catch {
    throw new SandboxError('PATH_NOT_FOUND', `no such package: ${absolute}`);
  }
  return isDir ? readPackageDir(absolute) : unzipPackage(readFileSync(absolute), absolute);
}

// Archives often hold one folder named after the problem: look inside it.
function withoutTopDirectory(files: PackageFiles): PackageFiles {
  const tops = new Set([...files.keys()].map((name) => name.split('/')[0]));
  const [top] = tops;
  if (tops.size !== 1 || files.has(top!) || files.has('problem.yaml') || files.has('problem.xml')) return files;
  return new Map([...files].map(([name, data]) => [name.slice(top!.length + 1), data]));
}

export const text = (files: PackageFiles, path: string): string | undefined => files.get(path)?.toString('utf8');

export const byNaturalName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
