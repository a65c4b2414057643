import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { slicedWasserstein2, w2SquaredSorted } from '../../src/metrics/sliced-wasserstein.js';
import { Rng } from '../../src/util/rng.js';

test('1-D W₂² of sorted samples: shifts give the squared shift, equal and unequal sizes', () => {
  const a = Float64Array.from({ length: 100 }, (_, i) => i / 10);
  assert.ok(Math.abs(w2SquaredSorted(a, a.map((v) => v + 0.3)) - 0.09) < 1e-12);
  // Unequal sizes: {0, 1} against {0, 0, 1, 1} is the same distribution.
  assert.ok(w2SquaredSorted(Float64Array.from([0, 1]), Float64Array.from([0, 0, 1, 1])) < 1e-15);
  // {0} against {0, 1}: half the mass moves by 1 → W₂² = 1/2.
  assert.ok(Math.abs(w2SquaredSorted(Float64Array.from([0]), Float64Array.from([0, 1])) - 0.5) < 1e-15);
});

test('SW₂ between two shifted isotropic Gaussians is ‖Δ‖/√d', () => {
  // For P = N(μ, I) and Q = N(μ + Δ, I), each projection is a 1-D shift by θ·Δ, so
  // SW₂² = E_θ[(θ·Δ)²] = ‖Δ‖²/d. Sampling error at n = 4000 is about 0.02 here.
  const rng = new Rng(1), n = 4000, d = 2, delta = [1.2, -0.5];
  const a = new Float64Array(n * d), b = new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) { a[i] = rng.normal(); b[i] = rng.normal() + delta[i % d]; }
  const sw = slicedWasserstein2(a, b, d, new Rng(2), 256);
  const expected = Math.hypot(...delta) / Math.sqrt(d);
  assert.ok(Math.abs(sw - expected) < 0.05, `SW2 ${sw} vs ${expected}`);
});

test.run();
