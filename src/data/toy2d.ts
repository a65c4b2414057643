// Seeded 2-D toy datasets; the two mixture sets also exist as exact GMMs (see toyGmm).
import type { GmmSpec } from '../models/gmm.js';
import type { Rng } from '../util/rng.js';

export const TOY2D_NAMES = ['8-gaussians', '25-gaussians', 'two-moons', 'swiss-roll', 'checkerboard'] as const;
export type Toy2dName = (typeof TOY2D_NAMES)[number];

/** 8 Gaussians of std 0.1 evenly spaced on a circle of radius 2. */
export const EIGHT_GAUSSIANS: GmmSpec = {
  weights: Array(8).fill(1 / 8),
  means: Array.from({ length: 8 }, (_, k) => [2 * Math.cos((2 * Math.PI * k) / 8), 2 * Math.sin((2 * Math.PI * k) / 8)]),
  stds: 0.1,
};

/** 25 Gaussians of std 0.05 on the grid {−4, −2, 0, 2, 4}² (the mode-collapse benchmark of VEEGAN, 2017). */
export const TWENTY_FIVE_GAUSSIANS: GmmSpec = {
  weights: Array(25).fill(1 / 25),
  means: Array.from({ length: 25 }, (_, k) => [-4 + 2 * Math.floor(k / 5), -4 + 2 * (k % 5)]),
  stds: 0.05,
};

export function toyGmm(name: '8-gaussians' | '25-gaussians'): GmmSpec {
  return name === '8-gaussians' ? EIGHT_GAUSSIANS : TWENTY_FIVE_GAUSSIANS;
}

function fromSpec(spec: GmmSpec, n: number, rng: Rng): Float64Array {
  const out = new Float64Array(2 * n), K = spec.means.length, sd = spec.stds as number;
  for (let i = 0; i < n; i++) {
    const k = rng.int(K);
    out[2 * i] = spec.means[k][0] + sd * rng.normal();
    out[2 * i + 1] = spec.means[k][1] + sd * rng.normal();
  }
  return out;
}

/** n points, row-major [n, 2]. */
export function sampleToy2d(name: Toy2dName, n: number, rng: Rng): Float64Array {
  switch (name) {
    case '8-gaussians': return fromSpec(EIGHT_GAUSSIANS, n, rng);
    case '25-gaussians': return fromSpec(TWENTY_FIVE_GAUSSIANS, n, rng);
    case 'two-moons': {
      // Two interleaved half circles of radius 1 (as scikit-learn's make_moons), noise std 0.05.
      const out = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        const upper = rng.uniform() < 0.5, th = Math.PI * rng.uniform();
        out[2 * i] = (upper ? Math.cos(th) : 1 - Math.cos(th)) + 0.05 * rng.normal();
        out[2 * i + 1] = (upper ? Math.sin(th) : 0.5 - Math.sin(th)) + 0.05 * rng.normal();
      }
      return out;
    }
    case 'swiss-roll': {
      // The 2-D swiss roll: t ∈ [1.5π, 4.5π], (t cos t, t sin t)/5, noise std 0.1.
      const out = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        const t = 1.5 * Math.PI * (1 + 2 * rng.uniform());
        out[2 * i] = (t * Math.cos(t)) / 5 + 0.1 * rng.normal();
        out[2 * i + 1] = (t * Math.sin(t)) / 5 + 0.1 * rng.normal();
      }
      return out;
    }
    case 'checkerboard': {
      // Uniform on the 8 dark squares of a 4×4 board over [−2, 2]².
      const out = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        const cell = rng.int(8), row = Math.floor(cell / 2), col = 2 * (cell % 2) + (row % 2);
        out[2 * i] = -2 + col + rng.uniform();
        out[2 * i + 1] = -2 + row + rng.uniform();
      }
      return out;
    }
    default:
      throw new Error(`data.name: unknown toy set '${name as string}'; expected one of ${TOY2D_NAMES.join(', ')}`);
  }
}
