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

const ArgCheck = z.object({
  index: z.number().int().min(0).max(5),
  op: z.enum(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq']),
  value: z.number().int().min(0),
  mask: z.number().int().min(0).optional(),
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
    rules.push({
      syscall: rule.syscall,
      action: rule.action,
      ...(rule.action === 'errno' ? { errno: errnoOf(rule.errno) } : {}),
      ...(rule.args ? { args: rule.args } : {}),
    });
  }
  const defaultErrno = policy.default.action === 'errno' ? errnoOf(policy.default.errno) : 0;
  const key = createHash('sha256').update(JSON.stringify([name, policy.default, rules])).digest('hex');
  return { key, defaultAction: policy.default.action, defaultErrno, rules };
}
