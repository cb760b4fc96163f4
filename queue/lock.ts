// One owner per data dir: a pid file whose owner is checked for life, so a lock
// left by a crashed process is taken over.
import { readFileSync, writeFileSync } from 'node:fs';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

// True when this process now owns `path`.
export function claimPidFile(path: string): boolean {
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number(readFileSync(path, 'utf8').trim());
  if (owner > 0 && owner !== process.pid && alive(owner)) return false;
  writeFileSync(path, String(process.pid), { mode: 0o600 });
  return true;
}
