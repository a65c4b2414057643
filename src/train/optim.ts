// Adam/AdamW, learning-rate schedules, global-norm gradient clipping, and an EMA of the weights.
import { tf } from '../compute/backend.js';

export interface AdamConfig {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter 2019); 0 gives Adam. */
  weightDecay?: number;
}

/**
 * Adam (Kingma & Ba 2015, Alg. 1) with AdamW's decoupled decay:
 * m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; θ ← θ − lr·(m̂/(√v̂ + ε) + λθ) with bias-corrected m̂, v̂.
 * Its moments are plain named tensors, so they go into a checkpoint as they are.
 */
export class AdamW {
  step = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  constructor(readonly cfg: AdamConfig) {
    this.b1 = cfg.beta1 ?? 0.9;
    this.b2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.wd = cfg.weightDecay ?? 0;
  }

  /**
   * Applies one update with learning rate `lr` to each parameter. `grads` is keyed as tf.variableGrads
   * keys it, by each variable's tfjs name; a trainable parameter without a gradient is an error, not a
   * silent skip.
   */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.step++;
    const bc1 = 1 - this.b1 ** this.step, bc2 = 1 - this.b2 ** this.step;
    for (const [name, p] of params) {
      if (!p.trainable) continue;
      const g = grads[p.name];
      if (!g) throw new Error(`AdamW: no gradient for parameter ${name} (variable ${p.name})`);
      if (!this.m.has(name)) {
        this.m.set(name, tf.variable(tf.zerosLike(p), false));
        this.v.set(name, tf.variable(tf.zerosLike(p), false));
      }
      const m = this.m.get(name)!, v = this.v.get(name)!;
      tf.tidy(() => {
        m.assign(m.mul(this.b1).add(g.mul(1 - this.b1)));
        v.assign(v.mul(this.b2).add(g.square().mul(1 - this.b2)));
        let update = m.div(bc1).div(v.div(bc2).sqrt().add(this.eps));
        if (this.wd > 0) update = update.add(p.mul(this.wd));
        p.assign(p.sub(update.mul(lr)));
      });
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

export interface LrSchedule {
  base: number;
  warmupSteps: number;
  totalSteps: number;
  decay: 'cosine' | 'linear' | 'constant';
  /** The rate at the end of the decay, as a fraction of `base`. */
  minFactor?: number;
}

/**
 * Linear warm-up from 0 over `warmupSteps` (lr·(s+1)/warmup), then cosine, linear or no decay to
 * base·minFactor at `totalSteps`. `step` counts from 0.
 */
export function learningRate(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.base * (step + 1)) / s.warmupSteps;
  const min = s.base * (s.minFactor ?? 0);
  if (s.decay === 'constant') return s.base;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const frac = Math.min(1, (step - s.warmupSteps) / span);
  if (s.decay === 'linear') return s.base + (min - s.base) * frac;
  return min + 0.5 * (s.base - min) * (1 + Math.cos(Math.PI * frac));
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (as torch.nn.utils.clip_grad_norm_);
 * returns the norm before clipping. The gradients are replaced in place (old tensors disposed).
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): number {
  const norm = Math.sqrt(tf.tidy(() => tf.addN(Object.values(grads).map((g) => g.square().sum())).dataSync()[0]));
  if (norm > maxNorm && Number.isFinite(norm)) {
    const scale = maxNorm / (norm + 1e-6);
    for (const k of Object.keys(grads)) {
      const old = grads[k];
      grads[k] = old.mul(scale);
      old.dispose();
    }
  }
  return norm;
}

/** Exponential moving average of the weights: θ_ema ← d·θ_ema + (1 − d)·θ. */
/** One averaging step of every shadow variable: s ← d·s + (1 − d)·θ (classic and post-hoc EMAs). */
export function averageInto(shadow: Map<string, tf.Variable>, params: Map<string, tf.Variable>, d: number): void {
  tf.tidy(() => {
    for (const [name, p] of params) {
      const s = shadow.get(name)!;
      s.assign(s.mul(d).add(p.mul(1 - d)));
    }
  });
}

export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  /**
   * `warmup`: the decay of update t (1-based) is min(decay, (1 + t)/(10 + t)), as LDM's LitEma, so that
   * early on the average follows the weights instead of keeping the initialisation (at decay 0.99 a
   * plain EMA still holds 37% of the initial weights after 100 steps).
   */
  constructor(readonly decay: number, params: Map<string, tf.Variable>, readonly warmup = false) {
    for (const [name, p] of params) this.shadow.set(name, tf.variable(p.clone(), false));
  }

  /** The decay applied at update `t` (1-based). */
  decayAt(t: number): number {
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /** Update `t` (1-based: the optimizer step just taken). */
  update(params: Map<string, tf.Variable>, t = Infinity): void {
    averageInto(this.shadow, params, this.decayAt(t));
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
    this.shadow.clear();
  }
}
