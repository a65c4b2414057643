// Euler, Euler-ancestral and Heun (Karras et al. 2022, Alg. 1/2) samplers for dx/dσ = (x − D(x, σ))/σ.
import { tf } from '../../compute/backend.js';
import { advance, counted, noiseLike, requireRng, runSingleEvalSteps, type SampleResult, type SamplerOptions, type Denoiser } from './types.js';

/** First-order Euler on the probability-flow ODE; with D from an ε-model this is DDIM with η = 0. */
export function sampleEuler(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const s = opts.sigmas;
  return runSingleEvalSteps(denoiser, xT, opts, (x, den, i) => x.add(x.sub(den).div(s[i]).mul(s[i + 1] - s[i])));
}

/** σ_down, σ_up for an ancestral step from σ to σ' (k-diffusion's get_ancestral_step). */
export function ancestralStep(sigma: number, sigmaNext: number, eta: number): { down: number; up: number } {
  if (eta === 0 || sigmaNext === 0) return { down: sigmaNext, up: 0 };
  const up = Math.min(sigmaNext, eta * Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2));
  return { down: Math.sqrt(sigmaNext ** 2 - up ** 2), up };
}

/** Euler step to σ_down, then fresh noise of scale σ_up (η = 1 by default). */
export function sampleEulerAncestral(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const rng = requireRng(opts, 'euler-ancestral');
  const s = opts.sigmas, eta = opts.eta ?? 1;
  return runSingleEvalSteps(denoiser, xT, opts, (x, den, i) => {
    const { down, up } = ancestralStep(s[i], s[i + 1], eta);
    const stepped = x.add(x.sub(den).div(s[i]).mul(down - s[i]));
    return up > 0 ? stepped.add(noiseLike(rng, x).mul(up)) : stepped;
  });
}

/**
 * Heun's second-order method (Karras et al. 2022, Alg. 2): optional churn raises σ_i to
 * σ̂ = σ_i(1+γ) by adding noise, then an Euler step is corrected by the slope at its end, except on the
 * final step to σ = 0. NFE = 2N − 1 for N steps.
 */
export function sampleHeun(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas, n = s.length - 1;
  const ch = opts.churn;
  const rng = ch && ch.sChurn > 0 ? requireRng(opts, 'heun with churn') : undefined;
  let x = xT;
  for (let i = 0; i < n; i++) {
    const inRange = ch && s[i] >= (ch.sTmin ?? 0) && s[i] <= (ch.sTmax ?? Infinity);
    const gamma = ch && inRange ? Math.min(ch.sChurn / n, Math.SQRT2 - 1) : 0;
    const sigmaHat = s[i] * (1 + gamma);
    const xHat = gamma > 0
      ? tf.tidy(() => x.add(noiseLike(rng!, x).mul((ch!.sNoise ?? 1) * Math.sqrt(sigmaHat ** 2 - s[i] ** 2))))
      : x;
    const den = D(xHat, sigmaHat);
    const d = tf.tidy(() => xHat.sub(den).div(sigmaHat));
    let next: tf.Tensor;
    if (s[i + 1] === 0) {
      next = den.clone();
    } else {
      const xEuler = tf.tidy(() => xHat.add(d.mul(s[i + 1] - sigmaHat)));
      const den2 = D(xEuler, s[i + 1]);
      next = tf.tidy(() => xHat.add(d.add(xEuler.sub(den2).div(s[i + 1])).mul(0.5 * (s[i + 1] - sigmaHat))));
      tf.dispose([xEuler, den2]);
    }
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: den, nfe: nfe() });
    tf.dispose([den, d]);
    if (xHat !== x) xHat.dispose();
    x = advance(x, next, xT);
  }
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}
