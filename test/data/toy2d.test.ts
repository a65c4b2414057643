import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sampleToy2d, TOY2D_NAMES } from '../../src/data/toy2d.js';
import { Rng } from '../../src/util/rng.js';

test('toy sets are deterministic per seed and differ across seeds', () => {
  for (const name of TOY2D_NAMES) {
    assert.equal(Array.from(sampleToy2d(name, 50, new Rng(3))), Array.from(sampleToy2d(name, 50, new Rng(3))), name);
    assert.not.equal(Array.from(sampleToy2d(name, 50, new Rng(3))), Array.from(sampleToy2d(name, 50, new Rng(4))), name);
  }
});

test('support and moments: checkerboard on dark squares, 25-gaussians near grid points, moons on two arcs', () => {
  const n = 20000;
  const cb = sampleToy2d('checkerboard', n, new Rng(1));
  for (let i = 0; i < n; i++) {
    const x = cb[2 * i], y = cb[2 * i + 1];
    assert.ok(x >= -2 && x < 2 && y >= -2 && y < 2);
    assert.is((Math.floor(x + 2) + Math.floor(y + 2)) % 2, 0, 'a point on a light square');
  }
  const g = sampleToy2d('25-gaussians', n, new Rng(2));
  let far = 0;
  for (let i = 0; i < n; i++) {
    const dx = g[2 * i] - 2 * Math.round(g[2 * i] / 2), dy = g[2 * i + 1] - 2 * Math.round(g[2 * i + 1] / 2);
    if (Math.hypot(dx, dy) > 0.05 * 5) far++; // P(‖z‖ > 5) = e^{−12.5} for a 2-D standard normal: ~0.07 expected
  }
  assert.ok(far <= 2, `${far} points further than 5σ from a grid point`);
  // Mean of the 25-gaussians grid is 0, per-axis variance 8 + 0.05² (uniform over {−4,−2,0,2,4} has variance 8).
  let sx = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sx += g[2 * i]; sxx += g[2 * i] ** 2; }
  assert.ok(Math.abs(sx / n) < 0.1 && Math.abs(sxx / n - 8.0025) < 0.3);
  const m = sampleToy2d('two-moons', n, new Rng(5));
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const [x, y] = [m[2 * i], m[2 * i + 1]];
    const r1 = Math.hypot(x, y), r2 = Math.hypot(x - 1, y - 0.5);
    if (Math.min(Math.abs(r1 - 1), Math.abs(r2 - 1)) > 0.3) bad++;
  }
  assert.ok(bad < n * 1e-3, `${bad} points off both arcs`);
});

test.run();
