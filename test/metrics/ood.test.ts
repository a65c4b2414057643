// Out-of-distribution scores: the AUROC against its definition by pair counting, its symmetry and
// bootstrap interval; the compressor's bits/dim against what compresses and what does not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { auroc, aurocWithInterval, compressedBitsPerDim, oodScores } from '../../src/metrics/ood.js';
import { Rng } from '../../src/util/rng.js';

/** P(o > i) + ½·P(o = i) over all pairs, counted directly. */
function pairs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) s += b[j] > a[i] ? 1 : b[j] === a[i] ? 0.5 : 0;
  return s / (a.length * b.length);
}

test('AUROC equals the pair count, ties included; swapping the sets gives 1 − AUROC', () => {
  const rng = new Rng(3);
  for (let t = 0; t < 20; t++) {
    // Rounded values make ties common.
    const a = Float64Array.from({ length: 37 }, () => Math.round(4 * rng.normal()) / 2);
    const b = Float64Array.from({ length: 23 }, () => Math.round(4 * rng.normal() + 2) / 2);
    assert.ok(Math.abs(auroc(a, b) - pairs(a, b)) < 1e-12, `${auroc(a, b)} vs ${pairs(a, b)}`);
    assert.ok(Math.abs(auroc(a, b) + auroc(b, a) - 1) < 1e-12);
  }
  assert.is(auroc([0, 1, 2], [3, 4]), 1);
  assert.is(auroc([3, 4], [0, 1, 2]), 0);
  assert.is(auroc([1, 1], [1, 1, 1]), 0.5);
});

test('the bootstrap interval holds the estimate and narrows with more data', () => {
  const rng = new Rng(5);
  const draw = (n: number, m: number) => Float64Array.from({ length: n }, () => m + rng.normal());
  const small = aurocWithInterval(draw(50, 0), draw(50, 1), 200, 1), large = aurocWithInterval(draw(800, 0), draw(800, 1), 200, 1);
  for (const r of [small, large]) assert.ok(r.low <= r.value && r.value <= r.high, JSON.stringify(r));
  assert.ok(large.high - large.low < small.high - small.low);
  // Two unit Gaussians one apart: AUROC = Φ(1/√2) = 0.7602; at 800 + 800 its standard error is
  // about 0.012 (Hanley & McNeil 1982), so 4 SE.
  assert.ok(Math.abs(large.value - 0.7602) < 0.048, String(large.value));
});

test('a flat image compresses to far fewer bits than noise; the scores combine bits/dim as defined', () => {
  const rng = new Rng(2), dims = 256;
  const pixels = new Uint8Array(2 * dims);
  for (let i = 0; i < dims; i++) pixels[dims + i] = rng.int(256);
  const [flat, noise] = compressedBitsPerDim(pixels, 2);
  assert.ok(flat < 0.5, String(flat));
  assert.ok(noise > 7.5, String(noise));
  const s = oodScores({ inDist: Float64Array.of(1, 3), ood: Float64Array.of(0.5), train: Float64Array.of(2, 2, 2) }, { inDist: Float64Array.of(0.25, 1), ood: Float64Array.of(0.5) });
  assert.equal(Array.from(s.typicality.inDist), [1, 1]);
  assert.equal(Array.from(s.typicality.ood), [1.5]);
  assert.equal(Array.from(s.complexity.inDist), [0.75, 2]);
  assert.equal(Array.from(s.complexity.ood), [0]);
});

test.run();
