// cellblock languages: every profile, whether its toolchain is here, its version.
import { loadLanguages } from '../profiles/languages.js';

export async function languagesCommand(args: string[]): Promise<number> {
  const rows = [...loadLanguages().values()].map(({ profile, available, version, reason }) => ({
    id: profile.id,
    name: profile.name,
    available,
    version: version ?? null,
    ...(reason ? { reason } : {}),
  }));
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const width = Math.max(...rows.map((row) => row.id.length));
  for (const row of rows) {
    const state = row.available ? `ok  ${row.version ?? ''}` : `--  unavailable: ${row.reason}`;
    process.stdout.write(`${row.id.padEnd(width)}  ${row.name.padEnd(28)}  ${state}\n`);
  }
  return 0;
}
