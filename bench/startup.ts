// Start-up time of the CLI: wall-clock of `difflab --help` and `difflab sample --help`, from the
// compiled JavaScript (dist/) and through tsx (DIFFLAB_TSX=1), interleaved, medians over rounds.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { writeFileAtomic } from '../src/util/fs.js';

const BIN = path.resolve('bin/difflab.js');

export function benchStartup(opts: { rounds: number; outDir: string }): void {
  const cases = [['--help'], ['sample', '--help'], ['schedule', '--name', 'linear', '--steps', '10']];
  const modes = [['compiled', {}], ['tsx', { DIFFLAB_TSX: '1' }]] as const;
  const times = new Map<string, number[]>();
  const node = (() => { const t0 = performance.now(); spawnSync(process.execPath, ['-e', '0']); return performance.now() - t0; })();
  for (let r = 0; r < opts.rounds; r++) {
    for (const args of cases) {
      for (const [mode, env] of modes) {
        const t0 = performance.now();
        const res = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
        const ms = performance.now() - t0;
        if (res.status !== 0) throw new Error(`difflab ${args.join(' ')} (${mode}) failed: ${res.stderr}`);
        const k = `${mode}\t${args.join(' ')}`;
        times.set(k, [...(times.get(k) ?? []), ms]);
      }
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(`[bench startup] medians of ${opts.rounds} rounds (a bare \`node -e 0\` takes ${node.toFixed(0)} ms here)`);
  const rows = [...times].map(([k, v]) => { const [mode, args] = k.split('\t'); return { mode, args, ms: median(v) }; });
  for (const r of rows) console.log(`  ${r.mode.padEnd(9)} difflab ${r.args.padEnd(34)} ${r.ms.toFixed(0).padStart(6)} ms`);
  const file = path.join(opts.outDir, `startup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileAtomic(file, JSON.stringify({ rounds: opts.rounds, nodeMs: node, rows }, null, 2) + '\n');
  console.log(`[bench startup] → ${file}`);
}
