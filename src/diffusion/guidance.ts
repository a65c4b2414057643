// Classifier-free guidance (Ho & Salimans 2022) as a denoiser wrapper, so that every sampler supports
// it: D_w(x, σ) = D(x, σ, ∅) + w·(D(x, σ, c) − D(x, σ, ∅)), applied only for σ inside a guidance
// interval [σ_lo, σ_hi] (Kynkäänniemi et al. 2024) and the plain conditional D(x, σ, c) outside it.
import { tf } from '../compute/backend.js';
import { sigmaValues, type Denoiser } from './denoiser.js';

export interface GuidanceSpec {
  /** w: 0 is unconditional, 1 conditional, > 1 guided */
  scale: number;
  /** σ range [lo, hi] (inclusive) where guidance applies; everywhere when absent */
  interval?: [number, number];
}

export interface GuidedDenoiser {
  D: Denoiser;
  /**
   * Network evaluations per sample so far: 2 for a guided call (conditional and unconditional,
   * batched together), 1 for a call outside the interval or at w = 0 or 1.
   */
  evaluations(): number;
}

/** Whether guidance applies at σ. */
export function guidanceActive(spec: GuidanceSpec, sigma: number): boolean {
  if (spec.scale === 1) return false;
  return !spec.interval || (sigma >= spec.interval[0] && sigma <= spec.interval[1]);
}

/**
 * Wraps a class-conditional denoiser: sample i of each call is conditioned on labels[i]; `nullLabel`
 * is the model's ∅. Outside the interval (or at w = 1) the sample is denoised conditionally; at w = 0
 * inside it, unconditionally; otherwise both are evaluated in one batch of 2N and mixed.
 */
export function guidedDenoiser(denoiser: Denoiser, labels: Int32Array, nullLabel: number, spec: GuidanceSpec): GuidedDenoiser {
  if (!Number.isFinite(spec.scale)) throw new Error(`guidance: expected a finite scale, got ${spec.scale}`);
  if (spec.interval && !(spec.interval[0] <= spec.interval[1] && spec.interval[0] >= 0)) {
    throw new Error(`guidance interval: expected 0 ≤ lo ≤ hi, got [${spec.interval.join(', ')}]`);
  }
  for (const l of labels) if (!Number.isInteger(l) || l < 0 || l >= nullLabel) throw new Error(`class: expected labels 0…${nullLabel - 1}, got ${l}`);
  let evaluations = 0;
  const D: Denoiser = (x, sigma) => {
    const n = x.shape[0];
    if (labels.length !== n) throw new Error(`guidance: ${labels.length} labels for a batch of ${n}`);
    const s = sigmaValues(sigma, n);
    const active = Array.from(s, (v) => guidanceActive(spec, v));
    if (!active.some(Boolean)) {
      evaluations += 1;
      return tf.tidy(() => denoiser(x, sigma, tf.tensor1d(labels, 'int32')));
    }
    if (spec.scale === 0 && active.every(Boolean)) {
      evaluations += 1;
      return tf.tidy(() => denoiser(x, sigma, tf.fill([n], nullLabel, 'int32') as tf.Tensor1D));
    }
    evaluations += 2;
    return tf.tidy(() => {
      const both = denoiser(tf.concat([x, x], 0), typeof sigma === 'number' ? sigma : tf.concat([sigma, sigma]) as tf.Tensor1D,
        tf.tensor1d(Int32Array.from({ length: 2 * n }, (_, i) => (i < n ? labels[i] : nullLabel)), 'int32'));
      const cond = both.slice(0, n), uncond = both.slice(n, n);
      // w per sample: the spec's inside the interval, 1 (conditional) outside it.
      const w = active.every(Boolean) ? spec.scale : tf.tensor(active.map((a) => (a ? spec.scale : 1)), [n, ...Array(x.rank - 1).fill(1)]);
      return uncond.add(cond.sub(uncond).mul(w));
    });
  };
  return { D, evaluations: () => evaluations };
}
