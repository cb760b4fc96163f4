// cellblock image: OCI images imported as root filesystems (no container engine).
import { resolve } from 'node:path';
import { imageStore } from '../images/images.js';
import { defaultStoreRoot } from '../store/content.js';

export const IMAGE_USAGE = `usage: cellblock image import IMAGE.tar   # an OCI layout or docker save tarball; prints its digest
       cellblock image ls [--json]        # imported images: digest, tags, layers
       cellblock image rm DIGEST          # removes it and the layers no other image uses`;

export async function imageCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const images = imageStore(defaultStoreRoot());
  if (action === 'import' && rest.length === 1) {
    const record = await images.import(resolve(rest[0]!));
    process.stdout.write(`${record.digest}\n`);
    return 0;
  }
  if (action === 'ls' && (rest.length === 0 || (rest.length === 1 && rest[0] === '--json'))) {
    const records = await images.list();
    if (rest[0] === '--json') process.stdout.write(`${JSON.stringify(records)}\n`);
    else for (const record of records) process.stdout.write(`${record.digest}  ${record.layers.length} layers  ${record.tags.join(',') || '-'}\n`);
    return 0;
  }
  if (action === 'rm' && rest.length === 1) {
    if (await images.remove(rest[0]!)) return 0;
    process.stderr.write(`cellblock: IMAGE_NOT_FOUND: no image ${rest[0]}\n`);
    return 1;
  }
  process.stderr.write(`${IMAGE_USAGE}\n`);
  return 2;
}
