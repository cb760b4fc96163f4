// Disk pressure: programs that fill their work dir (files in /box and /tmp,
// many inodes, with a memory limit below the disk limit), flood stdout, or make
// the compiler write an enormous object file. Each gets a clean verdict — RE,
// OLE, MLE or CE — never IE; what they wrote stays within the work dir's limit
// (a tmpfs), and the host's disk does not fill.
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { uniqueToken } from '../helpers/fixtures.js';
import { asView, call, describeReply, stopAll, type View } from '../service/helpers.js';
import { type Deployment, deploy, inPool, report, size } from './harness.js';

const ROUNDS = size(1, 10);
// What a program tries to write: far past the work dir's 64 MiB, so a write
// that reached the host's disk would show.
const TRY_BYTES = 1024 * 1024 * 1024;

// Writes 1 MiB blocks until the write fails, printing how far it got to stderr.
const filler = (path: string) => `import sys
written = 0
try:
    with open('${path}', 'wb') as f:
        while written < ${TRY_BYTES}:
            f.write(b'x' * 1048576)
            f.flush()
            written += 1048576
finally:
    sys.stderr.write('wrote %d\\n' % written)
print(3)
`;

interface Case {
  name: string;
  submission: object;
  verdicts: string[];
}

const python = (source: string, limits: object = {}) => ({
  language: 'python3',
  source,
  tests: [{ name: 'fill', stdin: '', expected: '3\n' }],
  limits: { timeMs: 5_000, wallMs: 20_000, ...limits },
  keepOutput: true,
});

const CASES: Case[] = [
  { name: 'a file in /box past the work dir', submission: python(filler('/box/fill')), verdicts: ['RE'] },
  { name: 'a file in /tmp past the work dir', submission: python(filler('/tmp/fill')), verdicts: ['RE'] },
  {
    name: 'inodes: empty files until none is left',
    submission: python(`import os\nfor i in range(10**7):\n    open('/box/f%d' % i, 'w').close()\nprint(3)\n`),
    verdicts: ['RE'],
  },
  { name: 'a work dir file with a memory limit below the disk limit', submission: python(filler('/box/fill'), { memoryKb: 32_768 }), verdicts: ['RE', 'MLE'] },
  { name: 'stdout without end', submission: python(`import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n`, { outputKb: 1_024 }), verdicts: ['OLE'] },
  {
    name: 'a compile whose object file is past the compiler\'s disk',
    submission: {
      language: 'cpp',
      source: `// ${uniqueToken('bloat')}\nchar big[1u << 30] = {1};\nint main() { return big[12345]; }\n`,
      tests: [{ name: 't', stdin: '', expected: '' }],
    },
    verdicts: ['CE'],
  },
];

const freeBytes = (): number => {
  const stats = statfsSync('/');
  return stats.bavail * stats.bsize;
};

describe('reliability: disk pressure', () => {
  let deployment: Deployment;

  before(async () => {
    deployment = await deploy();
    await deployment.startWorker('disk-worker', 2);
  });

  after(async () => {
    await stopAll();
  });

  it('a work dir that fills up: RE, OLE, MLE or CE, never IE; the host disk does not fill', async () => {
    const freeBefore = freeBytes();
    let lowestFree = freeBefore;
    const jobs = Array.from({ length: ROUNDS }, () => CASES).flat();
    const views = await inPool(jobs, 2, async (job) => {
      const reply = await call(deployment.api.url, 'POST', '/v1/submissions?wait=true', { body: job.submission });
      lowestFree = Math.min(lowestFree, freeBytes());
      assert.equal(reply.status, 200, describeReply(reply));
      return { job, view: asView(reply) };
    });
    const wrong = views.filter(({ job, view }) => !job.verdicts.includes(view.verdict ?? ''));
    const written = views
      .map(({ view }) => Number(/wrote (\d+)/.exec((view as View & { tests: { stderr?: string }[] }).tests?.[0]?.stderr ?? '')?.[1] ?? -1))
      .filter((bytes) => bytes >= 0);
    report('disk-pressure', {
      submitted: jobs.length,
      completed: views.filter(({ view }) => view.status === 'done').length,
      internalErrors: views.filter(({ view }) => view.verdict === 'IE').length,
      verdicts: views.map(({ view }) => view.verdict).join(','),
      maxWrittenMiB: Math.max(...written) / 1048576,
      hostDiskDipMiB: Math.round((freeBefore - lowestFree) / 1048576),
    });
    assert.deepEqual(
      wrong.map(({ job, view }) => `${job.name}: ${view.verdict} ${view.error ?? ''} ${JSON.stringify(view.tests?.[0] ?? view.compile)}`.slice(0, 600)),
      [],
    );
    // each filler stopped at the work dir's 64 MiB
    assert.ok(written.length >= 2 * ROUNDS, `fillers reporting: ${written.length}`);
    assert.ok(Math.max(...written) <= 64 * 1048576, `a program wrote ${Math.max(...written)} bytes`);
    // a gigabyte written to the host would show; the machine's own writes are far smaller
    assert.ok(freeBefore - lowestFree < TRY_BYTES / 2, `the host's free space fell by ${freeBefore - lowestFree} bytes`);
  });
});
