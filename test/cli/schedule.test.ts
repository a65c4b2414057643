import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const BIN = new URL('../../bin/difflab.js', import.meta.url).pathname;

test('difflab schedule --json prints the tables and sampling timesteps', () => {
  const out = JSON.parse(execFileSync('node', [BIN, 'schedule', '--name', 'scaled-linear', '--json', '--sampling-steps', '10', '--spacing', 'trailing'], { encoding: 'utf8' }));
  assert.is(out.T, 1000);
  assert.is(out.betas.length, 1000);
  assert.ok(Math.abs(Math.sqrt(out.alphasCumprod[999]) - 0.068265) < 1e-6); // Lin et al. 2024
  assert.equal(out.timesteps.slice(0, 2), [999, 899]);
});

test('zero-SNR schedule prints its infinite last σ as null in JSON', () => {
  const out = JSON.parse(execFileSync('node', [BIN, 'schedule', '--name', 'linear', '--steps', '50', '--zero-snr', '--json'], { encoding: 'utf8' }));
  assert.is(out.alphasCumprod[49], 0);
  assert.is(out.sigmas[49], null);
});

test('an unknown schedule name lists the accepted ones', () => {
  const r = spawnSync('node', [BIN, 'schedule', '--name', 'quadratic'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /Choices: "linear", "scaled-linear", "cosine", "sigmoid"/);
});

test.run();
