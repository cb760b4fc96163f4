// The typed surface of the C++ addon (native/addon.cc). Only sandbox/ imports it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeSeccompRule {
  syscall: string;
  action: 'allow' | 'errno' | 'violation';
  errno?: number;
  // decimal or 0x-hex strings: 64-bit values do not fit a JS number
  args?: { index: number; op: string; value: string; mask?: string }[];
}

export interface NativeSeccompPolicy {
  key: string;
  defaultAction: 'allow' | 'errno' | 'violation';
  defaultErrno: number;
  rules: NativeSeccompRule[];
}

// Since the process started: sandboxes built, and sandboxes reset after a run
// for another.
export interface PoolStats {
  builds: number;
  reuses: number;
}

export interface NativeSpec {
  argv: string[];
  env: string[];
  pathDirs: string[];
  readOnly: string[];
  copies: ({ dest: string; mode: number } & ({ source: string } | { content: string | Uint8Array }))[];
  stdinFile?: string;
  stdinData?: string | Uint8Array;
  stdinFd?: number;
  stdoutFd?: number;
  // stdout and stderr as the program writes them, besides the result
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  truncateOutput: boolean;
  collect: string[];
  collectBytes: number;
  collectFiles: number;
  rootLayers?: string[];
  cpuMs: number;
  wallMs: number;
  memoryBytes: number;
  pids: number;
  outputBytes: number;
  fileBytes: number;
  openFiles: number;
  stackBytes: number;
  tmpfsBytes: number;
  tmpfsInodes: number;
  cpus?: string;
  landlockAbi: number;
  seccomp: NativeSeccompPolicy;
  testLayersOff?: string[];
  testExposed?: string[];
  // a number the caller may pass to cancel() while the run is in flight
  cancelToken?: number;
}

export interface NativeResult {
  status: string;
  exitCode: number | null;
  signal: number | null;
  cpuMs: number;
  wallMs: number;
  memoryKb: number;
  stdout: Buffer;
  stderr: Buffer;
  syscall?: string;
  error?: { code: string; message: string };
  files?: { path: string; mode: number; data: Buffer }[];
  refused?: { path: string; reason: string }[];
}

export interface NativeProbe {
  kernel: string;
  landlockAbi: number;
  cgroupVersion: 'v1' | 'v2' | 'none';
  cgroupProblem: string;
  cgroupControllers: { memory: boolean; pids: boolean; cpu: boolean; cpuset: boolean; swapLimit: boolean };
  cgroupParent: string;
  uidBase: number;
}

interface Addon {
  launch(spec: NativeSpec): Promise<NativeResult>;
  pipe(): [number, number];
  cancel(token: number): boolean;
  probe(): NativeProbe;
  configure(options: { uidBase?: number; reuseSandboxes?: boolean }): void;
  // drops the sandboxes built ahead of their runs; returns once they are gone
  releaseWarm(): void;
  poolStats(): PoolStats;
}

const addonPath = fileURLToPath(new URL('../../build/Release/cellblock.node', import.meta.url));
export const addon = createRequire(import.meta.url)(addonPath) as Addon;
