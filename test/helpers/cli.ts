// Runs the difflab CLI as a user would (node bin/difflab.js …), with plain progress lines (CI=true).
import { spawnSync } from 'node:child_process';

export const BIN = new URL('../../bin/difflab.js', import.meta.url).pathname;

export function difflab(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
