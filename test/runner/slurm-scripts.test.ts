// The Slurm job scripts as a hostile or careless user would feed them: a newline or a command
// substitution in a path, spaces, quoted --sbatch-args, absurd task counts, and flags that do not
// apply. Needs no cluster: it reads the scripts and the printed submit lines.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shellWords, slurmPlan } from '../../src/runner/slurm.js';
import { BIN } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-slurm-scripts-'));
const f = path.join(dir, 'tiny.yaml');
fs.writeFileSync(f, `name: tiny\nanalytic: { gmm: ${path.resolve('configs/gmm/8-gaussians.json')} }\ngrid:\n  backends: [analytic]\n  samplers: [euler, heun]\n  steps: [3]\n  metrics: [sw2]\neval: { n: 10 }\n`);

test('a newline in the results path is refused before any script exists (it would end the #SBATCH comment and run the rest)', () => {
  const marker = path.join(dir, 'injected');
  assert.throws(() => slurmPlan({ file: f, tasks: 2, resultsRoot: path.join(dir, `r\ntouch ${marker}\n#`) }), /--results .*control characters/);
  assert.throws(() => slurmPlan({ file: f, tasks: 2, resultsRoot: dir, sbatchArgs: ['--comment=a\nb'] }), /--sbatch-args .*control characters/);
  assert.not.ok(fs.existsSync(marker));
});

test('a space in the results path: every #SBATCH --output holds the whole path, quoted as sbatch reads it', () => {
  const plan = slurmPlan({ file: f, tasks: 2, resultsRoot: path.join(dir, 'my results') });
  for (const s of plan.scripts) {
    const out = s.text.split('\n').filter((l) => l.startsWith('#SBATCH --output='));
    assert.is(out.length, 1);
    assert.match(out[0], /^#SBATCH --output="[^"]*my results[^"]*"$/);
  }
  // Every line before the commands is a directive or a comment: nothing escaped into a command.
  const shards = plan.scripts.find((s) => s.name === 'shards')!.text.split('\n');
  assert.ok(shards.slice(1, shards.indexOf('set -euo pipefail')).every((l) => l.startsWith('#SBATCH ')));
});

test('--sbatch-args are shell words: quotes keep "two words" in one #SBATCH line; the space form --sbatch-args "--x" works', () => {
  assert.equal(shellWords(`--comment="two words" --time=02:00:00 '--mail-user=a b'`), ['--comment=two words', '--time=02:00:00', '--mail-user=a b']);
  assert.throws(() => shellWords('--comment="open'), /unclosed "/);
  assert.throws(() => shellWords('partition=cpu'), /starting with '-'/);
  const r = spawnSync('node', [BIN, 'run', f, '--slurm', '2', '--print-only', '--results', dir, '--sbatch-args', '--comment="two words" --partition=cpu'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^#SBATCH --comment="two words"$/m);
  assert.match(r.stdout, /^#SBATCH --partition=cpu$/m);
  assert.not.match(r.stdout, /^#SBATCH words/m);
});

test('the printed submit lines are shell-safe: pasting one runs no $(…) from a path', () => {
  const marker = path.join(dir, 'pasted');
  const root = path.join(dir, `$(touch ${marker})`);
  const r = spawnSync('node', [BIN, 'run', f, '--slurm', '2', '--print-only', '--results', root], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('# submit: sbatch '));
  assert.ok(lines.length >= 2);
  for (const l of lines) {
    // The pasted command with sbatch replaced by a no-op: the shell expands whatever is unquoted.
    const run = spawnSync('bash', ['-c', l.replace('# submit: sbatch ', 'true ')], { encoding: 'utf8' });
    assert.is(run.status, 0, run.stderr);
  }
  assert.not.ok(fs.existsSync(marker), 'a printed line ran the command substitution');
});

test('--slurm 1e20 starts one task per grid point at most; --jobs is refused and --workers sizes the training job', () => {
  const r = spawnSync('node', [BIN, 'run', f, '--slurm', '1e20', '--print-only', '--results', dir], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /#SBATCH --array=0-1$/m);
  assert.match(r.stderr, /the grid has 2 point\(s\), so 2 array task\(s\)/);
  const j = spawnSync('node', [BIN, 'run', f, '--slurm', '2', '--jobs', '2', '--print-only'], { encoding: 'utf8' });
  assert.is.not(j.status, 0);
  assert.match(j.stderr, /--jobs does not apply with --slurm/);
  const plan = slurmPlan({ file: path.resolve('experiments/quickstart.yaml'), tasks: 2, resultsRoot: dir, workers: 2 });
  const prep = plan.scripts.find((s) => s.name === 'prepare')!.text;
  assert.match(prep, /#SBATCH --cpus-per-task=2/);
  assert.match(prep, /--stage train --resume --workers 2/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
