// One content-addressed store: blobs named by the SHA-256 of their bytes. Test
// sets, compiled programs, problem packages, Jobe's files (and later CI inputs
// and artifacts) all live here. This backend is a directory, which the workers of
// a deployment share by pointing CELLBLOCK_STORE at the same path; writes are
// atomic (temp file + rename), so concurrent writers of one blob are harmless.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
export type Sha256 = z.infer<typeof Sha256>;

export interface ContentStore {
  put(bytes: Uint8Array | string): Promise<Sha256>;
  get(hash: Sha256): Promise<Buffer | undefined>;
  has(hash: Sha256): Promise<boolean>;
  // A name (itself a hash, e.g. of a compile's inputs) pointing at a blob: the
  // one mutable part, for caches.
  link(name: Sha256, hash: Sha256): Promise<void>;
  resolve(name: Sha256): Promise<Sha256 | undefined>;
}

export const sha256 = (bytes: Uint8Array | string): Sha256 => createHash('sha256').update(bytes).digest('hex');

export function directoryStore(root: string): ContentStore {
  // two levels of fan-out keep directories small
  const pathOf = (hash: Sha256) => join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
  return {
    async put(bytes) {
      const hash = sha256(bytes);
      const path = pathOf(hash);
      if (await exists(path)) return hash;
      await mkdir(join(path, '..'), { recursive: true });
      await writeAtomically(path, bytes);
      return hash;
    },
    async get(hash) {
      Sha256.parse(hash);
      try {
        const bytes = await readFile(pathOf(hash));
        // a damaged blob is a missing blob, never wrong content
        return sha256(bytes) === hash ? bytes : undefined;
      } catch {
        return undefined;
      }
    },
    has: (hash) => exists(pathOf(Sha256.parse(hash))),
    async link(name, hash) {
      const path = join(root, 'links', Sha256.parse(name));
      await mkdir(join(root, 'links'), { recursive: true });
      await writeAtomically(path, Sha256.parse(hash));
    },
    async resolve(name) {
      try {
        const parsed = Sha256.safeParse((await readFile(join(root, 'links', Sha256.parse(name)), 'utf8')).trim());
        return parsed.success ? parsed.data : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

// A temp file renamed into place; one that could not be written whole (a full
// disk) is removed, never left to pile up.
async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, bytes, { mode: 0o600 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export const defaultStoreRoot = (): string => process.env.CELLBLOCK_STORE ?? '/var/lib/cellblock/store';
export const defaultStore = (): ContentStore => directoryStore(defaultStoreRoot());
