// Adaptive Dormand–Prince RK45 on the probability-flow ODE dx/dσ = (x − D(x, σ))/σ (Song et al. 2021).
import { tf } from '../../compute/backend.js';
import { advance, counted, type SampleResult, type SamplerOptions, type Denoiser } from './types.js';

// Dormand & Prince (1980) RK5(4)7M tableau.
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
const B5 = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0];
const B4 = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40];
const E = B5.map((b, i) => b - B4[i]);

export interface OdeSolveOptions {
  rtol?: number;
  atol?: number;
  /** First trial step size, as a fraction of the σ range. */
  firstStep?: number;
  maxSteps?: number;
}

export interface OdeSolution {
  x: tf.Tensor;
  nfe: number;
  accepted: number;
  rejected: number;
}

/**
 * Integrates dx/dσ = f(x, σ) from σ0 to σ1 with error control as scipy's RK45 does: the error of the
 * embedded 4th-order solution, scaled by atol + rtol·max(|x|, |x_new|), in RMS norm, must be ≤ 1.
 * The 7th stage is the next step's first (FSAL), so an accepted step costs 6 evaluations.
 */
export function solveRk45(f: (x: tf.Tensor, sigma: number) => tf.Tensor, x0: tf.Tensor, sigma0: number, sigma1: number, opts: OdeSolveOptions = {}): OdeSolution {
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-5, maxSteps = opts.maxSteps ?? 10_000;
  const dir = Math.sign(sigma1 - sigma0), span = Math.abs(sigma1 - sigma0);
  let h = (opts.firstStep ?? 0.01) * span;
  let sig = sigma0, x = x0, nfe = 0, accepted = 0, rejected = 0;
  let k1 = f(x, sig); nfe++;
  while (dir * (sigma1 - sig) > 1e-12 * span) {
    if (accepted + rejected > maxSteps) throw new Error(`RK45: more than ${maxSteps} steps between σ=${sigma0} and σ=${sigma1}`);
    h = Math.min(h, Math.abs(sigma1 - sig));
    const hs = dir * h;
    const ks: tf.Tensor[] = [k1];
    for (let st = 1; st < 7; st++) {
      const xi = tf.tidy(() => ks.reduce((acc, k, j) => (A[st][j] ? acc.add(k.mul(hs * A[st][j])) : acc), x));
      ks.push(f(xi, sig + C[st] * hs)); nfe++;
      xi.dispose();
    }
    const xNew = tf.tidy(() => ks.reduce((acc, k, j) => (B5[j] ? acc.add(k.mul(hs * B5[j])) : acc), x));
    const errNorm = tf.tidy(() => {
      const err = ks.reduce((acc: tf.Tensor, k, j) => (E[j] ? acc.add(k.mul(hs * E[j])) : acc), tf.zerosLike(x));
      const scale = tf.maximum(x.abs(), xNew.abs()).mul(rtol).add(atol);
      return err.div(scale).square().mean().sqrt().dataSync()[0];
    });
    if (errNorm <= 1) {
      sig += hs;
      x = advance(x, xNew, x0);
      tf.dispose(ks.slice(0, 6));
      k1 = ks[6];
      accepted++;
    } else {
      xNew.dispose();
      tf.dispose(ks.slice(1));
      rejected++;
    }
    // Standard step-size controller with safety 0.9, bounded growth/shrink.
    const factor = errNorm === 0 ? 5 : Math.min(5, Math.max(0.2, 0.9 * errNorm ** -0.2));
    h *= errNorm <= 1 ? factor : Math.min(1, factor);
  }
  k1.dispose();
  return { x: x === x0 ? x0.clone() : x, nfe, accepted, rejected };
}

/**
 * Samples by solving the probability-flow ODE from σ_0 to the last positive σ of the grid with RK45
 * (rtol/atol), then takes the denoiser's x̂0 there (one more evaluation) as the σ = 0 endpoint.
 */
export function sampleProbabilityFlow(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas;
  const sigmaEnd = s[s.length - 1] > 0 ? s[s.length - 1] : s[s.length - 2];
  const f = (x: tf.Tensor, sigma: number) => {
    const den = D(x, sigma);
    const d = tf.tidy(() => x.sub(den).div(sigma));
    den.dispose();
    return d;
  };
  const sol = solveRk45(f, xT, s[0], sigmaEnd, { rtol: opts.rtol, atol: opts.atol });
  if (s[s.length - 1] > 0) return { x: sol.x, nfe: nfe() };
  const den = D(sol.x, sigmaEnd);
  opts.onStep?.({ i: 0, sigma: s[0], sigmaNext: 0, x: den, denoised: den, nfe: nfe() });
  sol.x.dispose();
  return { x: den, nfe: nfe() };
}
