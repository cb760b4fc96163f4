// What this host can do, checked once: a run is refused, with a message naming
// what is missing, rather than silently run with a layer less. The only weaker
// mode (no Landlock) needs the operator's explicit consent and is reported in
// every result it produces.
import { readFileSync } from 'node:fs';
import { SandboxError } from './errors.js';
import { addon, type NativeProbe } from './native.js';

export interface HostCheck {
  name: string;
  ok: boolean;
  detail: string;
  // what happens without it
  fallback: string;
}

export interface Readiness {
  landlockAbi: number;
  weakened: string[];
}

const readText = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
};

let probed: NativeProbe | undefined;
export const probe = (): NativeProbe => (probed ??= addon.probe());

export function hostChecks(): HostCheck[] {
  const p = probe();
  const isRoot = process.geteuid?.() === 0;
  const maxUserNs = Number(readText('/proc/sys/user/max_user_namespaces') || '0');
  const seccompActions = readText('/proc/sys/kernel/seccomp/actions_avail').split(/\s+/);
  const c = p.cgroupControllers;
  return [
    {
      name: 'root',
      ok: isRoot,
      detail: isRoot ? 'running as uid 0' : `running as uid ${process.geteuid?.()}`,
      fallback: 'refused: namespaces, pivot_root and cgroups are set up as root',
    },
    {
      name: 'user namespaces',
      ok: maxUserNs > 0,
      detail: `user.max_user_namespaces = ${maxUserNs}`,
      fallback: 'refused: the program must run as an unprivileged mapped uid',
    },
    {
      name: 'seccomp user notification',
      ok: seccompActions.includes('user_notif'),
      detail: `actions: ${seccompActions.join(' ') || 'none'}`,
      fallback: 'refused: violations are reported through the listener',
    },
    {
      name: 'landlock',
      ok: p.landlockAbi > 0,
      detail: p.landlockAbi > 0 ? `ABI ${p.landlockAbi}` : 'not available',
      fallback: 'refused unless --allow-weaker (CELLBLOCK_ALLOW_WEAKER=1); then every result lists "landlock" in weakened',
    },
    {
      name: 'cgroups',
      ok: p.cgroupVersion !== 'none',
      detail:
        p.cgroupVersion === 'none'
          ? p.cgroupProblem
          : `${p.cgroupVersion} under ${p.cgroupParent} (memory ${c.memory}, pids ${c.pids}, cpu ${c.cpu}, cpuset ${c.cpuset}, swap limit ${c.swapLimit})`,
      fallback: 'refused: memory, pids and CPU of the whole tree are limited and measured there',
    },
  ];
}

let readiness: Readiness | undefined;

export function requireSandbox(allowWeaker: boolean): Readiness {
  if (readiness && (readiness.weakened.length === 0 || allowWeaker)) return readiness;
  const missing = hostChecks().filter((check) => !check.ok);
  const weakened: string[] = [];
  for (const check of missing) {
    if (check.name === 'landlock' && allowWeaker) weakened.push('landlock');
    else throw new SandboxError('UNSUPPORTED', `cannot sandbox on this host: ${check.name} (${check.detail}); ${check.fallback}`);
  }
  addon.configure({ reuseSandboxes: !freshSandboxesFromEnv() });
  readiness = { landlockAbi: probe().landlockAbi, weakened };
  return readiness;
}

export const allowWeakerFromEnv = (): boolean => process.env.CELLBLOCK_ALLOW_WEAKER === '1';

// Every run in a sandbox of its own, never reset for another (native/warm.cc):
// the operator trades speed for no channel at all between runs.
export const freshSandboxesFromEnv = (): boolean => process.env.CELLBLOCK_FRESH_SANDBOXES === '1';
