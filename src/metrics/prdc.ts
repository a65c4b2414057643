// k-NN manifold metrics: precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).
import { pairwiseSqDist, type Matrix } from '../util/linalg.js';

export interface PrdcOptions {
  /** Neighbourhood size for precision and recall (Kynkäänniemi et al.: k = 3). */
  kPr?: number;
  /** Neighbourhood size for density and coverage (Naeem et al.: k = 5). */
  kDc?: number;
}

export interface PrdcResult {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  kPr: number;
  kDc: number;
  n: [number, number];
}

/** Squared distance from each row to its k-th nearest other row of the same set. */
function kthNeighbourSq(self: Float64Array, n: number, k: number): Float64Array {
  if (k >= n) throw new Error(`k-NN radius: k = ${k} needs more than ${k} samples, got ${n}`);
  const out = new Float64Array(n), row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    row.set(self.subarray(i * n, (i + 1) * n));
    row[i] = Infinity; // not its own neighbour
    row.sort();
    out[i] = row[k - 1];
  }
  return out;
}

/**
 * Precision = share of fake samples inside the real manifold (the union of balls around each real
 * sample reaching its k-th nearest real neighbour); recall = share of real samples inside the fake
 * manifold. Density counts, per fake sample, how many real balls contain it (÷ k·M); coverage is the
 * share of real balls that contain at least one fake sample (real-sample neighbourhoods, k of D/C).
 */
export function prdc(real: Matrix, fake: Matrix, opts: PrdcOptions = {}): PrdcResult {
  const kPr = opts.kPr ?? 3, kDc = opts.kDc ?? 5;
  const N = real.rows, M = fake.rows;
  const rr = pairwiseSqDist(real, real), ff = pairwiseSqDist(fake, fake), rf = pairwiseSqDist(real, fake);
  const realR = kthNeighbourSq(rr, N, kPr), fakeR = kthNeighbourSq(ff, M, kPr);
  const realRdc = kDc === kPr ? realR : kthNeighbourSq(rr, N, kDc);
  let precision = 0, recall = 0, density = 0, coverage = 0;
  for (let j = 0; j < M; j++) {
    let inside = false;
    for (let i = 0; i < N; i++) {
      const d = rf[i * M + j];
      if (d <= realR[i]) inside = true;
      // Density and coverage count strictly inside the radius (Naeem et al. 2020's code), so that
      // identical sets score density 1; precision and recall include it (Kynkäänniemi et al. 2019).
      if (d < realRdc[i]) density++;
    }
    if (inside) precision++;
  }
  for (let i = 0; i < N; i++) {
    let inside = false, covered = false;
    for (let j = 0; j < M; j++) {
      const d = rf[i * M + j];
      if (d <= fakeR[j]) inside = true;
      if (d < realRdc[i]) covered = true;
      if (inside && covered) break;
    }
    if (inside) recall++;
    if (covered) coverage++;
  }
  return { precision: precision / M, recall: recall / N, density: density / (kDc * M), coverage: coverage / N, kPr, kDc, n: [N, M] };
}
