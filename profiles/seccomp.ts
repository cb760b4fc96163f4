// Seccomp policies are data (profiles/seccomp/<name>.json), validated here and
// flattened into the rule list the addon compiles with libseccomp.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { NativeSeccompPolicy, NativeSeccompRule } from '../sandbox/native.js';

const errnoName = z.string().refine((name) => name in constants.errno, 'not an errno name');
const syscallName = z.string().regex(/^[a-z0-9_]+$/);

// A 64-bit argument value: a safe integer, or hex ("0xffffffff00000000") past 2^53.
const Word = z
  .union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^0x[0-9a-fA-F]{1,16}$/)])
  .transform(String);

const ArgCheck = z.object({
  index: z.number().int().min(0).max(5),
  // masked_ne, (arg & mask) != value, is not in BPF's vocabulary: it becomes one
  // masked_eq rule per bit of the mask
  op: z.enum(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq', 'masked_ne']),
  value: Word,
  mask: Word.optional(),
});

const Action = z.discriminatedUnion('action', [
  z.object({ action: z.literal('allow') }),
  z.object({ action: z.literal('violation') }),
  z.object({ action: z.literal('errno'), errno: errnoName }),
]);

export const SeccompPolicyFile = z.object({
  $comment: z.string().optional(),
  default: Action,
  allow: z.array(syscallName).default([]),
  violation: z.array(syscallName).default([]),
  errno: z.record(errnoName, z.array(syscallName)).default({}),
  rules: z
    .array(z.intersection(z.object({ syscall: syscallName, args: z.array(ArgCheck).max(6).optional() }), Action))
    .default([]),
});
export type SeccompPolicyFile = z.infer<typeof SeccompPolicyFile>;

const policyDir = new URL('../../profiles/seccomp/', import.meta.url);
const loaded = new Map<string, SeccompPolicyFile>();

export function loadPolicy(name: string): SeccompPolicyFile {
  const cached = loaded.get(name);
  if (cached) return cached;
  const path = fileURLToPath(new URL(`${name}.json`, policyDir));
  const policy = SeccompPolicyFile.parse(JSON.parse(readFileSync(path, 'utf8')));
  loaded.set(name, policy);
  return policy;
}

type Check = z.output<typeof ArgCheck>;
type NativeCheck = NonNullable<NativeSeccompRule['args']>[number];

// (arg & mask) != value holds when some bit of the mask differs from value's:
// one masked_eq rule per bit, any of which matching is enough.
function expandArgs(args: Check[] | undefined): (NativeCheck[] | undefined)[] {
  if (!args) return [undefined];
  const plain = args.filter((check) => check.op !== 'masked_ne') as NativeCheck[];
  const negated = args.find((check) => check.op === 'masked_ne');
  if (!negated) return [plain];
  const mask = BigInt(negated.mask ?? '0xffffffffffffffff');
  const value = BigInt(negated.value);
  const alternatives: NativeCheck[][] = [];
  for (let bit = 0n; bit < 64n; bit++) {
    const single = 1n << bit;
    if ((mask & single) === 0n) continue;
    const differing = (value & single) === 0n ? single : 0n;
    alternatives.push([...plain, { index: negated.index, op: 'masked_eq', mask: `0x${single.toString(16)}`, value: `0x${differing.toString(16)}` }]);
  }
  return alternatives;
}

const errnoOf = (name: string): number => constants.errno[name as keyof typeof constants.errno];

const compiled = new Map<string, NativeSeccompPolicy>();

// The rule list for the addon: the policy's, plus a profile's extra allowed
// syscalls, which take precedence over the policy's plain lists. Built once per
// policy and additions (the addon also caches the BPF by the key).
export function compilePolicy(name: string, extraAllow: readonly string[] = []): NativeSeccompPolicy {
  const cacheKey = JSON.stringify([name, [...extraAllow].sort()]);
  const cached = compiled.get(cacheKey);
  if (cached) return cached;
  const built = buildRules(name, extraAllow);
  compiled.set(cacheKey, built);
  return built;
}

function buildRules(name: string, extraAllow: readonly string[]): NativeSeccompPolicy {
  const policy = loadPolicy(name);
  const extra = new Set(extraAllow);
  const rules: NativeSeccompRule[] = [...extra].map((syscall) => ({ syscall, action: 'allow' }));
  for (const syscall of policy.allow) if (!extra.has(syscall)) rules.push({ syscall, action: 'allow' });
  for (const syscall of policy.violation) if (!extra.has(syscall)) rules.push({ syscall, action: 'violation' });
  for (const [errno, syscalls] of Object.entries(policy.errno)) {
    for (const syscall of syscalls) if (!extra.has(syscall)) rules.push({ syscall, action: 'errno', errno: errnoOf(errno) });
  }
  for (const rule of policy.rules) {
    if (extra.has(rule.syscall)) continue;
    for (const args of expandArgs(rule.args)) {
      rules.push({
        syscall: rule.syscall,
        action: rule.action,
        ...(rule.action === 'errno' ? { errno: errnoOf(rule.errno) } : {}),
        ...(args ? { args } : {}),
      });
    }
  }
  const defaultErrno = policy.default.action === 'errno' ? errnoOf(policy.default.errno) : 0;
  const key = createHash('sha256').update(JSON.stringify([name, policy.default, rules])).digest('hex');
  return { key, defaultAction: policy.default.action, defaultErrno, rules };
}
