// UniPC (Zhao et al. 2023): a multistep predictor (UniP) and a corrector (UniC) that reuses the model
// evaluation of the next step, in the data-prediction form with B(h) = h (bh1) or e^h − 1 (bh2), as in
// diffusers' UniPCMultistepScheduler. Written in σ space (α = 1, λ = −log σ), where the diffusers
// update x_t = (σ_t/σ_s)·x − α_t·(e^{−h} − 1)·m0 − α_t·B(h)·Σρ_k·D1_k reads with α = 1.
import { tf } from '../../compute/backend.js';
import { solveLinear } from '../../util/linalg.js';
import { advance, counted, type Denoiser, type SampleResult, type SamplerOptions } from './types.js';

export type UniPcVariant = 'bh1' | 'bh2';

/**
 * The B(h) system of an order-p update over a step of h in λ: R (rows r_k^{j−1}, r including the
 * final 1), b_j = j!·hφ_{j+1}(h)/B(h) and the constants h·φ_1 and B(h), with hh = −h (data prediction).
 */
function bhSystem(rks: number[], h: number, variant: UniPcVariant): { R: number[][]; b: number[]; hPhi1: number; Bh: number } {
  const hh = -h, hPhi1 = Math.expm1(hh), Bh = variant === 'bh1' ? hh : Math.expm1(hh);
  const p = rks.length;
  const R: number[][] = [], b: number[] = [];
  let hPhiK = hPhi1 / hh - 1, factorial = 1;
  for (let j = 1; j <= p; j++) {
    R.push(rks.map((r) => r ** (j - 1)));
    b.push((hPhiK * factorial) / Bh);
    factorial *= j + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { R, b, hPhi1, Bh };
}

interface Hist { m: tf.Tensor; lambda: number }

/**
 * x at λ_t from x at λ_s0 = hist's last node, with the order-p history (hist[-1] = m0, earlier
 * entries m_k); `corrector`: also the new model output mT at λ_t (UniC), else the predictor UniP.
 */
function uniUpdate(x: tf.Tensor, sigmaS: number, sigmaT: number, hist: Hist[], p: number, variant: UniPcVariant, mT?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const m0 = hist[hist.length - 1].m, l0 = hist[hist.length - 1].lambda;
    const h = -Math.log(sigmaT) - l0;
    const rks: number[] = [], D1s: tf.Tensor[] = [];
    for (let k = 1; k < p; k++) {
      const e = hist[hist.length - 1 - k];
      const rk = (e.lambda - l0) / h;
      rks.push(rk);
      D1s.push(e.m.sub(m0).div(rk));
    }
    rks.push(1);
    const { R, b, hPhi1, Bh } = bhSystem(rks, h, variant);
    let out = x.mul(sigmaT / sigmaS).sub(m0.mul(hPhi1));
    if (mT) {
      const rho = p === 1 ? [0.5] : solveLinear(R, b);
      let res = mT.sub(m0).mul(rho[p - 1]);
      D1s.forEach((d, k) => { res = res.add(d.mul(rho[k])); });
      out = out.sub(res.mul(Bh));
    } else if (D1s.length) {
      const rho = p === 2 ? [0.5] : solveLinear(R.slice(0, -1).map((row) => row.slice(0, -1)), b.slice(0, -1));
      let res = D1s[0].mul(rho[0]);
      for (let k = 1; k < D1s.length; k++) res = res.add(D1s[k].mul(rho[k]));
      out = out.sub(res.mul(Bh));
    }
    return out;
  });
}

/**
 * UniPC-p: at step i the model output m_i = D(x_i, σ_i) first corrects x_i with UniC (of the order the
 * previous predictor used), then UniP of order min(p, steps so far + 1) — and, with lowerOrderFinal,
 * min(p, steps left) — moves to σ_{i+1}. One evaluation per step; the step to σ = 0 returns m_i (the
 * first-order update there). corrector = false gives plain UniP.
 */
export function sampleUniPc(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas, N = s.length - 1, order = opts.order ?? 2, variant = opts.variant ?? 'bh2';
  if (![1, 2, 3].includes(order)) throw new Error(`unipc: order must be 1, 2 or 3, got ${order}`);
  const useCorrector = opts.corrector ?? true, lowerFinal = opts.lowerOrderFinal ?? true;
  const hist: Hist[] = [];
  let x = xT, lastX: tf.Tensor | undefined, lastOrder = 1;
  for (let i = 0; i < N; i++) {
    const m = D(x, s[i]);
    if (useCorrector && lastX) {
      const corrected = uniUpdate(lastX, s[i - 1], s[i], hist, lastOrder, variant, m);
      x = advance(x, corrected, xT);
    }
    hist.push({ m, lambda: -Math.log(s[i]) });
    if (hist.length > order) hist.shift()!.m.dispose();
    let p = lowerFinal ? Math.min(order, N - i) : order;
    p = Math.min(p, hist.length);
    const next = s[i + 1] === 0 ? m.clone() : uniUpdate(x, s[i], s[i + 1], hist, p, variant);
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: m, nfe: nfe() });
    if (lastX && lastX !== xT) lastX.dispose();
    lastX = x; // x_i after correction: the corrector of the next step starts from it
    lastOrder = p;
    x = next;
  }
  if (lastX && lastX !== xT) lastX.dispose();
  for (const e of hist) e.m.dispose();
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}
