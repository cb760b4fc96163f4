// OCI images as root filesystems, without a container engine: `import` reads an
// OCI layout or a docker-archive tarball, verifies every digest, and unpacks each
// layer once into a layer store beside the content store (layers/<diff id>,
// whiteouts turned into overlayfs's: a 0/0 character device for a removed file,
// trusted.overlay.opaque for a directory replaced whole). An image is its config
// blob, kept in the content store under its digest (the image id), plus a record
// in images/<digest>.json; a run names it by digest and gets its layers' dirs,
// top first, for the sandbox to stack read-only.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { z } from 'zod';
import { SandboxError } from '../sandbox/errors.js';
import { directoryStore, Sha256 } from '../store/content.js';

const run = promisify(execFile);

// "sha256:<hex>" or the bare hex
export const ImageDigest = z
  .string()
  .regex(/^(sha256:)?[0-9a-f]{64}$/, 'an image digest: sha256:<64 hex digits>')
  .transform((digest) => digest.replace(/^sha256:/, ''));

export const ImageRecord = z.object({
  digest: z.string(),
  tags: z.array(z.string()),
  // diff ids (SHA-256 of each uncompressed layer), bottom first
  layers: z.array(Sha256),
  created: z.string().optional(),
  importedAt: z.string(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

const Descriptor = z.object({ mediaType: z.string().optional(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number().optional() });
const OciIndex = z.object({ manifests: z.array(Descriptor).min(1) });
const OciManifest = z.object({ config: Descriptor, layers: z.array(Descriptor) });
const DockerManifest = z.array(z.object({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()) })).min(1);
const ImageConfig = z.object({
  created: z.string().optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)) }),
});

const invalid = (message: string) => new SandboxError('IMAGE_INVALID', message);
const hex = (digest: string) => digest.replace(/^sha256:/, '');

const paths = (root: string) => ({
  layer: (diffId: string) => join(root, 'layers', diffId),
  record: (digest: string) => join(root, 'images', `${digest}.json`),
  images: join(root, 'images'),
  temp: join(root, 'tmp'),
});

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

// A file inside the unpacked outer tarball, read only when its bytes hash to `digest`.
async function readVerified(dir: string, path: string, digest?: string): Promise<Buffer> {
  const full = join(dir, posix.normalize(path).replace(/^(\.\.\/)+/, ''));
  const bytes = await readFile(full).catch(() => {
    throw invalid(`the tarball has no ${path}`);
  });
  if (digest && createHash('sha256').update(bytes).digest('hex') !== hex(digest)) throw invalid(`${path} does not match its digest ${digest}`);
  return bytes;
}

interface Layout {
  config: Buffer;
  configDigest?: string;
  // paths of the layer blobs inside the unpacked tarball, bottom first
  layers: { path: string; digest?: string }[];
  tags: string[];
}

async function parseJson<T extends z.ZodType>(schema: T, bytes: Buffer, what: string): Promise<z.output<T>> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(`${what}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

// OCI image layout (index.json → manifest → config and layers, all blobs by
// digest), or docker save's manifest.json.
async function readLayout(dir: string): Promise<Layout> {
  const blob = (digest: string) => `blobs/sha256/${hex(digest)}`;
  if (await exists(join(dir, 'index.json'))) {
    const index = await parseJson(OciIndex, await readVerified(dir, 'index.json'), 'index.json');
    let descriptor = index.manifests[0]!;
    // an index of indexes (multi-platform): its first manifest
    if (descriptor.mediaType?.includes('index')) {
      descriptor = (await parseJson(OciIndex, await readVerified(dir, blob(descriptor.digest), descriptor.digest), 'the nested index')).manifests[0]!;
    }
    const manifest = await parseJson(OciManifest, await readVerified(dir, blob(descriptor.digest), descriptor.digest), 'the manifest');
    return {
      config: await readVerified(dir, blob(manifest.config.digest), manifest.config.digest),
      configDigest: manifest.config.digest,
      layers: manifest.layers.map((layer) => ({ path: blob(layer.digest), digest: layer.digest })),
      tags: [],
    };
  }
  if (await exists(join(dir, 'manifest.json'))) {
    const [manifest] = await parseJson(DockerManifest, await readVerified(dir, 'manifest.json'), 'manifest.json');
    return { config: await readVerified(dir, manifest!.Config), layers: manifest!.Layers.map((path) => ({ path })), tags: manifest!.RepoTags ?? [] };
  }
  throw invalid('neither an OCI layout (index.json) nor a docker archive (manifest.json)');
}

async function isGzip(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await file.close();
  }
}

// Unpacks one layer into `into`, hashing its uncompressed bytes (the diff id the
// config names). OCI whiteouts become overlayfs whiteouts afterwards.
async function unpackLayer(blob: string, into: string): Promise<string> {
  const hash = createHash('sha256');
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const warnings: string[] = [];
  const unpack = tar.x({
    cwd: into,
    // modes and owners exactly as in the layer: the root is mounted nosuid,nodev
    chmod: true,
    processUmask: 0,
    preserveOwner: true,
    filter: (path) => {
      const name = posix.basename(path);
      if (!name.startsWith('.wh.')) return true;
      const dir = posix.dirname(path);
      if (name === '.wh..wh..opq') opaque.push(dir);
      else whiteouts.push(posix.join(dir, name.slice('.wh.'.length)));
      return false;
    },
    onwarn: (code, message) => warnings.push(`${code}: ${message}`),
  });
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    const source = createReadStream(blob);
    if (await isGzip(blob)) await pipeline(source, createGunzip(), tap, unpack);
    else await pipeline(source, tap, unpack);
  } catch (error) {
    throw invalid(`layer ${blob}: ${error instanceof Error ? error.message : String(error)} (layers must be tar or tar+gzip)`);
  }
  // a whiteout naming "..", or reaching through a link, would land outside
  const safe = (path: string) => !path.split('/').includes('..') && !posix.isAbsolute(path);
  for (const path of [...whiteouts, ...opaque]) if (!safe(path)) throw invalid(`layer ${blob}: whiteout ${path} leaves the layer`);
  for (const dir of opaque) {
    await mkdir(join(into, dir), { recursive: true });
    await run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', join(into, dir)]);
  }
  for (const path of whiteouts) {
    await mkdir(join(into, posix.dirname(path)), { recursive: true });
    await rm(join(into, path), { recursive: true, force: true });
    await run('mknod', [join(into, path), 'c', '0', '0']);
  }
  return hash.digest('hex');
}

export interface Images {
  import(tarball: string): Promise<ImageRecord>;
  list(): Promise<ImageRecord[]>;
  remove(digest: string): Promise<boolean>;
  // the layers' dirs, top first (what RunSpec.rootLayers takes)
  layers(digest: string): Promise<string[]>;
}

// `root`: the content store's directory; layers and records live beside its blobs.
export function imageStore(root: string): Images {
  const at = paths(root);
  const store = directoryStore(root);

  async function load(digest: string): Promise<ImageRecord | undefined> {
    const parsed = ImageDigest.safeParse(digest);
    if (!parsed.success) return undefined;
    try {
      return ImageRecord.parse(JSON.parse(await readFile(at.record(parsed.data), 'utf8')));
    } catch {
      return undefined;
    }
  }

  async function list(): Promise<ImageRecord[]> {
    const names = await readdir(at.images).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((name) => name.endsWith('.json')).map((name) => load(name.slice(0, -5))));
    return records.filter((record): record is ImageRecord => record !== undefined);
  }

  return {
    list,

    async import(tarball) {
      await mkdir(at.temp, { recursive: true });
      const work = await mkdtemp(join(at.temp, 'import-'));
      try {
        try {
          await tar.x({ file: tarball, cwd: work, strict: true });
        } catch (error) {
          throw invalid(`${tarball}: ${error instanceof Error ? error.message : String(error)}`);
        }
        const layout = await readLayout(work);
        const config = await parseJson(ImageConfig, layout.config, 'the image config');
        const digest = await store.put(layout.config);
        if (layout.configDigest && hex(layout.configDigest) !== digest) throw invalid('the config does not match its digest');
        const diffIds = config.rootfs.diff_ids.map(hex);
        if (diffIds.length !== layout.layers.length) throw invalid(`the manifest lists ${layout.layers.length} layers, the config ${diffIds.length}`);
        for (const [i, layer] of layout.layers.entries()) {
          const diffId = diffIds[i]!;
          if (await exists(at.layer(diffId))) continue; // shared with an image imported before
          const blob = join(work, posix.normalize(layer.path).replace(/^(\.\.\/)+/, ''));
          if (layer.digest) await readVerified(work, layer.path, layer.digest);
          const into = join(at.temp, `layer-${randomBytes(6).toString('hex')}`);
          await mkdir(into, { mode: 0o755 });
          const got = await unpackLayer(blob, into).catch(async (error: unknown) => {
            await rm(into, { recursive: true, force: true });
            throw error;
          });
          if (got !== diffId) {
            await rm(into, { recursive: true, force: true });
            throw invalid(`layer ${i + 1} unpacks to sha256:${got}, the config says sha256:${diffId}`);
          }
          await mkdir(dirname(at.layer(diffId)), { recursive: true });
          await rename(into, at.layer(diffId)).catch(async () => rm(into, { recursive: true, force: true }));
        }
        const record: ImageRecord = {
          digest: `sha256:${digest}`,
          tags: layout.tags,
          layers: diffIds,
          ...(config.created ? { created: config.created } : {}),
          importedAt: new Date().toISOString(),
        };
        await mkdir(at.images, { recursive: true });
        await writeFile(at.record(digest), JSON.stringify(record));
        return record;
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },

    async remove(digest) {
      const record = await load(digest);
      if (!record) return false;
      await rm(at.record(hex(record.digest)));
      const kept = new Set((await list()).flatMap((other) => other.layers));
      for (const layer of record.layers) if (!kept.has(layer)) await rm(at.layer(layer), { recursive: true, force: true });
      return true;
    },

    async layers(digest) {
      const record = await load(digest);
      if (!record) throw new SandboxError('IMAGE_NOT_FOUND', `no image ${digest}: import it with \`cellblock image import\``);
      const dirs = record.layers.map((layer) => at.layer(layer)).reverse();
      for (const dir of dirs) if (!(await exists(dir))) throw new SandboxError('IMAGE_NOT_FOUND', `image ${digest}: layer ${dir} is missing`);
      return dirs;
    },
  };
}
