// Test sets stored once by content hash and referenced by submissions.
import { z } from 'zod';
import { SandboxError } from '../sandbox/errors.js';
import { type ContentStore, type Sha256 } from '../store/content.js';
import { TestCase } from './schema.js';

const TestSet = z.array(TestCase).min(1).max(1_000);

// The same tests always give the same hash: names, inputs and answers, in order.
export const putTestSet = (store: ContentStore, tests: TestCase[]): Promise<Sha256> =>
  store.put(JSON.stringify(TestSet.parse(tests).map(({ name, stdin, expected }) => ({ name, stdin, expected }))));

export async function getTestSet(store: ContentStore, hash: Sha256): Promise<TestCase[]> {
  const bytes = await store.get(hash);
  const parsed = bytes ? TestSet.safeParse(JSON.parse(bytes.toString('utf8'))) : undefined;
  if (!parsed?.success) throw new SandboxError('TEST_SET_NOT_FOUND', `no test set ${hash} in the store`);
  return parsed.data;
}
