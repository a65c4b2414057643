// Multistep samplers: PLMS (Liu et al. 2022, as in LDM), LMS (k-diffusion), DPM-Solver++ 1S/2M/3M (Lu et al. 2022).
import { tf } from '../../compute/backend.js';
import { advance, counted, type SampleResult, type SamplerOptions, type Denoiser } from './types.js';

/**
 * PLMS / PNDM's pseudo linear multistep in the form LDM uses: ε̂ is combined with earlier ε̂ by
 * Adams–Bashforth weights (1st step: (ε_t + ε_{t'})/2 with one extra evaluation; then (3, −1)/2,
 * (23, −16, 5)/12, (55, −59, 37, −9)/24) and fed to a deterministic DDIM step x' = x̂0 + σ'·ε'.
 */
export function samplePlms(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas;
  const epsOf = (x: tf.Tensor, sigma: number, den: tf.Tensor) => tf.tidy(() => x.sub(den).div(sigma));
  const hist: tf.Tensor[] = [];
  let x = xT;
  for (let i = 0; i < s.length - 1; i++) {
    const den = D(x, s[i]);
    const e = epsOf(x, s[i], den);
    let ePrime: tf.Tensor;
    if (hist.length === 0) {
      if (s[i + 1] === 0) {
        ePrime = e.clone();
      } else {
        const xPred = tf.tidy(() => x.add(e.mul(s[i + 1] - s[i])));
        const den2 = D(xPred, s[i + 1]);
        const e2 = epsOf(xPred, s[i + 1], den2);
        ePrime = tf.tidy(() => e.add(e2).mul(0.5));
        tf.dispose([xPred, den2, e2]);
      }
    } else if (hist.length === 1) {
      ePrime = tf.tidy(() => e.mul(3).sub(hist[0]).div(2));
    } else if (hist.length === 2) {
      ePrime = tf.tidy(() => e.mul(23).sub(hist[1].mul(16)).add(hist[0].mul(5)).div(12));
    } else {
      ePrime = tf.tidy(() => e.mul(55).sub(hist[2].mul(59)).add(hist[1].mul(37)).sub(hist[0].mul(9)).div(24));
    }
    // x' = x̂0 + σ'·ε' with x̂0 = x − σ·ε', i.e. x + (σ' − σ)·ε'.
    const next = tf.tidy(() => x.add(ePrime.mul(s[i + 1] - s[i])));
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: den, nfe: nfe() });
    hist.push(e);
    if (hist.length > 3) hist.shift()!.dispose();
    tf.dispose([den, ePrime]);
    x = advance(x, next, xT);
  }
  tf.dispose(hist);
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}

/** ∫_{a}^{b} Π_{k≠j} (τ − t_k)/(t_j − t_k) dτ, exactly, by expanding the Lagrange basis polynomial. */
export function lagrangeIntegral(t: number[], j: number, a: number, b: number): number {
  return lagrangeBasis(t, j).reduce((sum, c, p) => sum + (c * (b ** (p + 1) - a ** (p + 1))) / (p + 1), 0);
}

/** Linear multistep on dx/dσ = (x − D)/σ with Lagrange-interpolated slopes (order 4 by default). */
export function sampleLms(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  return sampleEpsMultistep(denoiser, xT, opts, {
    order: opts.order ?? 4, orderAt: (_i, p) => p, weight: (nodes, j, a, b) => lagrangeIntegral(nodes, j, a, b),
  });
}

/**
 * The multistep integrators of dx/dσ = ε̂ = (x − D)/σ: x' = x + Σ_j w_j·ε̂_j over the last p nodes
 * σ_i, σ_{i−1}, …, with w_j = ∫_σ^{σ'} of node j's interpolating basis (in σ for LMS, in log σ for
 * DEIS). `orderAt(i, p)` caps the order p = min(order, nodes so far) of step i; with `toZeroReturnsD`
 * the step to σ = 0 returns D itself.
 */
function sampleEpsMultistep(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions, m: {
  order: number; orderAt: (i: number, p: number) => number; weight: (nodes: number[], j: number, a: number, b: number) => number; toZeroReturnsD?: boolean;
}): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas;
  const eps: tf.Tensor[] = [];
  let x = xT;
  for (let i = 0; i < s.length - 1; i++) {
    const den = D(x, s[i]);
    eps.push(tf.tidy(() => x.sub(den).div(s[i])));
    if (eps.length > m.order) eps.shift()!.dispose();
    const p = m.orderAt(i, eps.length);
    const nodes = Array.from({ length: p }, (_, j) => s[i - j]); // σ_i, σ_{i−1}, …
    const next = m.toZeroReturnsD && s[i + 1] === 0 ? den.clone() : tf.tidy(() => {
      let acc = x;
      for (let j = 0; j < p; j++) acc = acc.add(eps[eps.length - 1 - j].mul(m.weight(nodes, j, s[i], s[i + 1])));
      return acc;
    });
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: den, nfe: nfe() });
    den.dispose();
    x = advance(x, next, xT);
  }
  tf.dispose(eps);
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}

/**
 * DPM-Solver++ (Lu et al. 2022) with data prediction in σ space (α = 1, λ = −log σ). Order 1 is
 * DDIM; order 2 is the 2M multistep update x' = (σ'/σ)x − φ1·(D0 + (D0 − D1)/(2r)), r = h_prev/h;
 * order 3 (3M) adds the second difference with φ2 = φ1/h + 1, φ3 = φ2/h − ½, φ1 = expm1(−h).
 * The first steps use lower orders until enough history exists, and the step to σ = 0 returns D (the
 * first-order update there). lowerOrderFinal (diffusers' default, below 15 steps): the step before it
 * uses order ≤ 2, which changes 3M only.
 */
export function sampleDpmSolverPP(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas, order = opts.order ?? 2, N = s.length - 1;
  const lowerFinal = (opts.lowerOrderFinal ?? false) && N < 15;
  if (![1, 2, 3].includes(order)) throw new Error(`dpm-solver++: order must be 1, 2 or 3, got ${order}`);
  const lam = (sigma: number) => -Math.log(sigma);
  const hist: { den: tf.Tensor; lambda: number }[] = [];
  let x = xT;
  for (let i = 0; i < s.length - 1; i++) {
    const den = D(x, s[i]);
    const next = tf.tidy(() => {
      if (s[i + 1] === 0) return den.clone();
      const h = lam(s[i + 1]) - lam(s[i]);
      const phi1 = Math.expm1(-h);
      const base = x.mul(s[i + 1] / s[i]);
      const k = Math.min(order, hist.length + 1, lowerFinal ? N - i : 3);
      if (k === 1) return base.sub(den.mul(phi1));
      const m1 = hist[hist.length - 1];
      const r0 = (lam(s[i]) - m1.lambda) / h;
      const d10 = den.sub(m1.den).div(r0);
      if (k === 2) return base.sub(den.mul(phi1)).sub(d10.mul(0.5 * phi1));
      const m2 = hist[hist.length - 2];
      const r1 = (m1.lambda - m2.lambda) / h;
      const d11 = m1.den.sub(m2.den).div(r1);
      const d1 = d10.add(d10.sub(d11).mul(r0 / (r0 + r1)));
      const d2 = d10.sub(d11).div(r0 + r1);
      const phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
      return base.sub(den.mul(phi1)).add(d1.mul(phi2)).sub(d2.mul(phi3));
    });
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: den, nfe: nfe() });
    hist.push({ den, lambda: lam(s[i]) });
    if (hist.length > 2) hist.shift()!.den.dispose();
    x = advance(x, next, xT);
  }
  for (const h of hist) h.den.dispose();
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}

/** Coefficients, lowest degree first, of the Lagrange basis polynomial ℓ_j over the nodes t. */
function lagrangeBasis(t: number[], j: number): number[] {
  let poly = [1];
  let denom = 1;
  for (let k = 0; k < t.length; k++) {
    if (k === j) continue;
    const next = new Array(poly.length + 1).fill(0);
    for (let p = 0; p < poly.length; p++) { next[p] -= poly[p] * t[k]; next[p + 1] += poly[p]; }
    poly = next;
    denom *= t[j] - t[k];
  }
  return poly.map((c) => c / denom);
}

/**
 * ∫_{σa}^{σb} ℓ_j(log τ) dτ exactly: with u = log τ it is ∫ e^u P(u) du = [e^u Σ_k (−1)^k P^{(k)}(u)],
 * by parts (σb = 0 contributes 0).
 */
export function logRhoIntegral(logNodes: number[], j: number, sigmaA: number, sigmaB: number): number {
  const F = (sigma: number) => {
    if (sigma === 0) return 0;
    const u = Math.log(sigma);
    let poly = lagrangeBasis(logNodes, j), sum = 0, sign = 1;
    while (poly.length) {
      sum += sign * poly.reduce((acc, c, p) => acc + c * u ** p, 0);
      poly = poly.slice(1).map((c, p) => c * (p + 1)); // derivative
      sign = -sign;
    }
    return Math.exp(u) * sum;
  };
  return F(sigmaB) - F(sigmaA);
}

/**
 * DEIS (Zhang & Chen 2022), the multistep log-ρ variant diffusers ships: in σ space (ρ = σ) the
 * exponential integrator is x' = x + ∫_σ^{σ'} ε̂(τ) dτ, with ε̂ = (x − D)/σ interpolated by a Lagrange
 * polynomial in log σ through the last `order` nodes (order 1 is DDIM). With lowerOrderFinal and
 * fewer than 15 steps the last two steps drop to orders 1 and 2 (diffusers' default); the step to
 * σ = 0 returns D.
 */
export function sampleDeis(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const N = opts.sigmas.length - 1, order = opts.order ?? 2;
  if (![1, 2, 3].includes(order)) throw new Error(`deis: order must be 1, 2 or 3, got ${order}`);
  const lowerFinal = (opts.lowerOrderFinal ?? true) && N < 15;
  return sampleEpsMultistep(denoiser, xT, opts, {
    order, toZeroReturnsD: true,
    orderAt: (i, p) => (lowerFinal ? Math.min(p, N - i) : p),
    weight: (nodes, j, a, b) => logRhoIntegral(nodes.map(Math.log), j, a, b),
  });
}
