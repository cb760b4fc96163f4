// Language profiles are data (profiles/languages/<id>.json), validated here at
// load. A profile whose toolchain is missing on this host loads as unavailable,
// never as an error.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { LimitOverrides } from '../sandbox/schema.js';

// Placeholders in argv, env values and paths: {source}, {entry}, {memoryMb},
// {heapMb}, and the profile's own vars (toolchain locations found at load).
const Template = z.string().min(1);

const Step = z.object({
  argv: z.array(Template).min(1),
  readOnly: z.array(Template).default([]),
  env: z.record(z.string(), Template).default({}),
  // limits the step overrides (compilers get their own; runtimes their pids)
  limits: LimitOverrides.default({}),
  seccompAllow: z.array(z.string().regex(/^[a-z0-9_]+$/)).default([]),
});

export const LanguageProfile = z.object({
  id: z.string().regex(/^[a-z0-9]+$/),
  name: z.string().min(1),
  // the file the submission is written to (may use {entry})
  source: Template,
  // how to find the entry point in the source (e.g. Java's public class): the
  // first capture of the first pattern that matches, else the default
  entry: z.object({ patterns: z.array(z.string()).min(1), default: z.string() }).optional(),
  // toolchain locations: the first match of a glob, found at load
  vars: z.record(z.string().regex(/^[a-zA-Z]+$/), z.object({ glob: z.string() })).default({}),
  compile: Step.extend({ outputs: z.array(Template).min(1) }).optional(),
  run: Step.extend({
    // a runtime that fails its own allocation (the JVM's heap, V8's, Python's
    // MemoryError) exits with an error instead of being OOM-killed: this pattern
    // on stderr makes such an exit a memory-limit verdict
    outOfMemory: z.string().optional(),
  }),
  // the JVM, V8 and Go reserve address space freely: memory is limited by the
  // cgroup only, and the heap flag derives from the limit with this fraction
  heapFraction: z.number().min(0.1).max(1).default(1),
  // how to ask the toolchain its version (run on the host, not sandboxed)
  version: z.object({ argv: z.array(Template).min(1), pattern: z.string().default('([0-9]+\\.[0-9]+(\\.[0-9]+)?)') }),
});
export type LanguageProfile = z.infer<typeof LanguageProfile>;
export type Step = z.infer<typeof Step>;

export interface Language {
  profile: LanguageProfile;
  available: boolean;
  // why not, when unavailable
  reason?: string;
  version?: string;
  vars: Record<string, string>;
}

const languageDir = fileURLToPath(new URL('../../profiles/languages/', import.meta.url));

export const fill = (template: string, values: Record<string, string>): string =>
  template.replace(/\{([a-zA-Z]+)\}/g, (whole, name: string) => values[name] ?? whole);

// Absolute paths whose segments may hold '*' (Node 20 has no fs.globSync).
function expandGlob(pattern: string): string[] {
  let found = ['/'];
  for (const segment of pattern.split('/').filter(Boolean)) {
    const matcher = new RegExp(`^${segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    found = found.flatMap((dir) => {
      if (!segment.includes('*')) return existsSync(`${dir}${segment}`) ? [`${dir}${segment}/`] : [];
      try {
        return readdirSync(dir).filter((name) => matcher.test(name)).map((name) => `${dir}${name}/`);
      } catch {
        return [];
      }
    });
  }
  return found.map((path) => path.replace(/\/$/, ''));
}

function resolveVars(profile: LanguageProfile): Record<string, string> | string {
  const vars: Record<string, string> = {};
  for (const [name, { glob }] of Object.entries(profile.vars)) {
    const found = expandGlob(glob).sort();
    if (found.length === 0) return `no match for ${glob}`;
    vars[name] = found[found.length - 1]!;
  }
  return vars;
}

function detectVersion(profile: LanguageProfile, vars: Record<string, string>): string | undefined {
  const [command, ...args] = profile.version.argv.map((part) => fill(part, vars));
  const answer = spawnSync(command!, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  // some toolchains print their version on stderr
  return new RegExp(profile.version.pattern).exec(`${answer.stdout ?? ''}\n${answer.stderr ?? ''}`)?.[1];
}

// Every absolute path a profile's programs start from must exist on this host.
function missingToolchain(profile: LanguageProfile, vars: Record<string, string>): string | undefined {
  const programs = [profile.compile?.argv[0], profile.run.argv[0]].filter((p): p is string => p !== undefined);
  const paths = [...programs, ...(profile.compile?.readOnly ?? []), ...profile.run.readOnly].map((p) => fill(p, vars));
  return paths.find((path) => path.startsWith('/') && !existsSync(path));
}

function loadOne(file: string): Language {
  const profile = LanguageProfile.parse(JSON.parse(readFileSync(`${languageDir}${file}`, 'utf8')));
  const vars = resolveVars(profile);
  if (typeof vars === 'string') return { profile, available: false, reason: vars, vars: {} };
  const missing = missingToolchain(profile, vars);
  if (missing) return { profile, available: false, reason: `${missing} not found`, vars };
  const version = detectVersion(profile, vars);
  return { profile, available: true, vars, ...(version ? { version } : {}) };
}

let languages: Map<string, Language> | undefined;

// All profiles, loaded once; an invalid profile file is a bug in our data and
// stops the start with zod's message naming the file and key.
export function loadLanguages(): Map<string, Language> {
  if (languages) return languages;
  const loaded = new Map<string, Language>();
  for (const file of readdirSync(languageDir).filter((name) => name.endsWith('.json')).sort()) {
    try {
      const language = loadOne(file);
      loaded.set(language.profile.id, language);
    } catch (error) {
      throw new Error(`profiles/languages/${file}: ${error instanceof z.ZodError ? z.prettifyError(error) : String(error)}`);
    }
  }
  languages = loaded;
  return loaded;
}

export const findLanguage = (id: string): Language | undefined => loadLanguages().get(id);

// The entry point named in the source (e.g. Java's public class), or the default.
export function entryPoint(profile: LanguageProfile, source: string): string | undefined {
  if (!profile.entry) return undefined;
  for (const pattern of profile.entry.patterns) {
    const match = new RegExp(pattern).exec(source);
    if (match?.[1]) return match[1];
  }
  return profile.entry.default;
}
