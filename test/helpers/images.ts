// OCI images written by hand, the way a registry or `docker save` would lay them
// out: each layer a tar (the first gzipped), whiteouts as `.wh.` entries, a
// config naming the layers' diff ids, and either an OCI layout (oci-layout,
// index.json, blobs/sha256/…) or a docker archive (manifest.json).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

// A layer: a directory on disk, filled by the caller (an empty file named
// `.wh.NAME` removes NAME from the layers below, `.wh..wh..opq` empties its
// directory of what they held).
export async function layerTar(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tar.c({ cwd: dir, portable: true }, readdirSync(dir));
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

export async function writeImage(layerDirs: string[], out: string, format: 'oci' | 'docker', tag = 'test/image:1'): Promise<{ tarball: string; digest: string }> {
  const root = join(out, `${format}-layout`);
  mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
  const layers = [];
  for (const [i, dir] of layerDirs.entries()) {
    const plain = await layerTar(dir);
    const blob = i === 0 ? gzipSync(plain) : plain;
    layers.push({ diffId: sha(plain), digest: sha(blob), size: blob.length, gzip: i === 0 });
    writeFileSync(join(root, 'blobs', 'sha256', sha(blob)), blob);
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '2026-11-29T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => `sha256:${layer.diffId}`) },
  });
  writeFileSync(join(root, 'blobs', 'sha256', sha(config)), config);
  if (format === 'oci') {
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: layers.map((layer) => ({
        mediaType: `application/vnd.oci.image.layer.v1.tar${layer.gzip ? '+gzip' : ''}`,
        digest: `sha256:${layer.digest}`,
        size: layer.size,
      })),
    });
    writeFileSync(join(root, 'blobs', 'sha256', sha(manifest)), manifest);
    writeFileSync(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(root, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }] }),
    );
  } else {
    writeFileSync(
      join(root, 'manifest.json'),
      JSON.stringify([{ Config: `blobs/sha256/${sha(config)}`, RepoTags: [tag], Layers: layers.map((layer) => `blobs/sha256/${layer.digest}`) }]),
    );
  }
  const tarball = join(out, `${format}.tar`);
  await tar.c({ cwd: root, file: tarball, portable: true }, readdirSync(root));
  return { tarball, digest: `sha256:${sha(config)}` };
}

// A static program for roots that have nothing else: for each path, what is
// there ("file <content>", "dir <names>", "missing"); "+PATH" tries to create it.
export const PROBE_SOURCE = `
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int by_name(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }
int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    const char* path = argv[i];
    if (path[0] == '+') {
      int fd = open(path + 1, O_WRONLY | O_CREAT | O_EXCL, 0644);
      printf("%s: %s\\n", path, fd >= 0 ? "created" : strerror(errno));
      continue;
    }
    struct stat st;
    if (lstat(path, &st) != 0) { printf("%s: missing\\n", path); continue; }
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(path);
      char* names[256]; int n = 0;
      struct dirent* e;
      while (d && (e = readdir(d)) && n < 256) if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
      qsort(names, n, sizeof names[0], by_name);
      printf("%s: dir", path);
      for (int j = 0; j < n; j++) printf(" %s", names[j]);
      printf("\\n");
      continue;
    }
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (got > 0 && buf[got - 1] == '\\n') buf[got - 1] = 0;
    printf("%s: file %s\\n", path, got >= 0 ? buf : strerror(errno));
  }
  return 0;
}
`;
