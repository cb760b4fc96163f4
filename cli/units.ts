// Human units on the command line: "2s", "500ms", "1.5" (seconds); "256M", "64K",
// "1G", "4096" (bytes).
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseWithUnit(text: string, units: Record<string, number>, bare: number, what: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const factor = match ? (match[2] === '' ? bare : units[match[2]!.toLowerCase()]) : undefined;
  if (!match || factor === undefined) {
    throw new Error(`${what}: cannot read '${text}' (units: ${Object.keys(units).join(', ')})`);
  }
  return Number(match[1]) * factor;
}

export const parseMs = (text: string, what: string): number => Math.round(parseWithUnit(text, TIME_UNITS, 1000, what));
export const parseKb = (text: string, what: string): number => Math.ceil(parseWithUnit(text, SIZE_UNITS, 1, what) / 1024);
