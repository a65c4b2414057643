// Memorization statistics against a brute-force nearest-neighbour search, exact copies, and the known
// answer 1 for samples drawn from the training distribution itself (interval coverage).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import { memorization, nearestTwo } from '../../src/metrics/memorization.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('cpu'); });

/** Brute force in float64: the two smallest distances per query. */
function bruteForce(q: Float32Array, r: Float32Array, d: number) {
  const m = q.length / d, n = r.length / d, d1 = new Float64Array(m), d2 = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let a = Infinity, b = Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) { const t = q[i * d + k] - r[j * d + k]; s += t * t; }
      const x = Math.sqrt(s);
      if (x < a) { b = a; a = x; } else if (x < b) b = x;
    }
    d1[i] = a; d2[i] = b;
  }
  return { d1, d2 };
}

test('nearest and second-nearest distances equal a brute-force search, across reference blocks', () => {
  const rng = new Rng(3), d = 12;
  const q = rng.normals(37 * d), r = rng.normals(301 * d);
  const want = bruteForce(q, r, d);
  for (const block of [301, 64, 7]) {
    const got = nearestTwo(q, r, d, block);
    for (let i = 0; i < 37; i++) {
      assert.ok(Math.abs(got.d1[i] - want.d1[i]) < 1e-4 * want.d1[i] + 1e-4, `d1[${i}] block ${block}: ${got.d1[i]} vs ${want.d1[i]}`);
      assert.ok(Math.abs(got.d2[i] - want.d2[i]) < 1e-4 * want.d2[i] + 1e-4, `d2[${i}] block ${block}`);
    }
  }
});

test('exact copies of training items are all near-copies, with a ratio near 0; fresh data has almost none', () => {
  const rng = new Rng(5), d = 32, n = 400;
  const train = rng.normals(n * d);
  const copies = train.slice(0, 100 * d);
  const fresh = rng.normals(100 * d);
  const m = memorization(nearestTwo(copies, train, d), nearestTwo(fresh, train, d), { replicates: 200, seed: 1 });
  assert.is(m.nearCopies.value, 1);
  assert.ok(m.ratio.value < 0.01 && m.ratio.high < 0.01, `ratio ${m.ratio.value}`);
  assert.ok(m.nearCopiesReal.value < 0.05, `fresh data near-copy share ${m.nearCopiesReal.value}`);
});

test('samples from the training distribution: the ratio\'s 95% interval covers 1 at about the nominal rate', () => {
  let covered = 0;
  const trials = 60;
  for (let t = 0; t < trials; t++) {
    const rng = new Rng(100 + t), d = 6;
    const train = rng.normals(600 * d), gen = rng.normals(150 * d), real = rng.normals(150 * d);
    const m = memorization(nearestTwo(gen, train, d), nearestTwo(real, train, d), { replicates: 300, seed: t });
    if (m.ratio.low <= 1 && 1 <= m.ratio.high) covered++;
  }
  // Binomial(60, 0.95) falls below 52 with probability < 0.5%.
  assert.ok(covered >= 52, `covered ${covered}/${trials}`);
});

test.run();
