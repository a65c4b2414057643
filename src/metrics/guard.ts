// The under-training guard: a comparison between models is only read when each model has finished
// learning what its budget allows. Two stated checks, both of which must be shown, not merely not
// refuted:
//   1. the training loss is flat: an equivalence test (two one-sided tests at 5%), passed when the 90%
//      interval of the loss's relative change over the last window lies inside ±margin. The trend is
//      Theil–Sen's median of pairwise slopes over block medians, with Sen's distribution-free interval,
//      so heavy-tailed losses (vlb, sigmoid weighting) do not move it. A log too noisy or too short to
//      show ±margin fails ("cannot tell"), as does one still falling. Where the learning rate decays
//      (cosine, linear) the loss flattens because the rate falls, not because the model has converged:
//      the window is then the last fifth of the steps trained at ≥ half the peak rate.
//   2. the quality is near the data: the upper end of the model's FID∞ interval (an estimate of the
//      population FID, free of the 1/n bias) is within a stated share of the real features' total
//      variance tr Σ. (Not a ratio to the floor's FID∞: between real training and test images it is 0
//      within its interval, so the ratio has no scale.)
import { normalQuantile } from './bootstrap.js';

export interface LossPoint {
  step: number;
  loss: number;
  /** learning rate at this step, where the log records it */
  lr?: number;
}

export interface LossTrend {
  /** steps of the window judged */
  window: [number, number];
  /** points in the window */
  points: number;
  /** Theil–Sen estimate of the loss's change over the window, relative to its median loss */
  change: number;
  /** its 90% interval (Sen's, from Kendall's S) */
  low: number;
  high: number;
  margin: number;
  /** flat: interval inside ±margin; falling/rising: interval beyond 0 and not inside; undetermined: neither */
  state: 'flat' | 'falling' | 'rising' | 'undetermined';
  /** why the window is where it is, when the learning rate decayed */
  lrNote?: string;
}

export interface TrendOptions {
  /** share of the (full-rate) steps judged (default 0.2) */
  fraction?: number;
  /** equivalence margin on the relative change over the window (default 0.05) */
  margin?: number;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * The steps the guard judges: the last `fraction` of the log, or, where the learning rate ends below
 * half its peak, the last `fraction` of the steps up to the last one still at ≥ half the peak.
 */
function judgedWindow(points: LossPoint[], fraction: number): { w: LossPoint[]; lrNote?: string } {
  let usable = points;
  let lrNote: string | undefined;
  const lrs = points.map((p) => p.lr).filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (lrs.length === points.length && lrs.length) {
    const peak = Math.max(...lrs), last = lrs[lrs.length - 1];
    if (last < 0.5 * peak) {
      const lastFull = points.reduce((k, p, i) => (p.lr! >= 0.5 * peak ? i : k), -1);
      usable = points.slice(0, lastFull + 1);
      lrNote = `the learning rate decays to ${last.toPrecision(2)} (peak ${peak.toPrecision(2)}), so the loss is judged where it was still ≥ half the peak, up to step ${points[lastFull].step}`;
    }
  }
  return { w: usable.slice(-Math.max(Math.ceil(fraction * usable.length), Math.min(usable.length, 10))), lrNote };
}

/** Theil–Sen slope with Sen's (1968) interval at `level` from Kendall's S (no ties assumed). */
export function theilSen(x: number[], y: number[], level: number): { slope: number; low: number; high: number } {
  const slopes: number[] = [];
  for (let i = 0; i < x.length; i++) for (let j = i + 1; j < x.length; j++) if (x[j] !== x[i]) slopes.push((y[j] - y[i]) / (x[j] - x[i]));
  slopes.sort((a, b) => a - b);
  const N = slopes.length, n = x.length;
  const c = normalQuantile((1 + level) / 2) * Math.sqrt((n * (n - 1) * (2 * n + 5)) / 18);
  const lo = Math.max(0, Math.floor((N - c) / 2) - 1), hi = Math.min(N - 1, Math.ceil((N + c) / 2));
  return { slope: median(slopes), low: slopes[lo], high: slopes[hi] };
}

/**
 * The loss's relative change over the judged window with its 90% interval, and what it shows at
 * ±margin. Up to 100 blocks of consecutive steps, each summarised by its median step and loss.
 */
export function lossTrend(points: LossPoint[], opts: TrendOptions = {}): LossTrend | undefined {
  const fraction = opts.fraction ?? 0.2, margin = opts.margin ?? 0.05;
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const { w, lrNote } = judgedWindow(finite, fraction);
  if (w.length < 5) return undefined;
  const blocks = Math.min(w.length, 100), xs: number[] = [], ys: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const part = w.slice(Math.floor((b * w.length) / blocks), Math.floor(((b + 1) * w.length) / blocks));
    xs.push(median(part.map((p) => p.step))); ys.push(median(part.map((p) => p.loss)));
  }
  const ts = theilSen(xs, ys, 0.9), span = w[w.length - 1].step - w[0].step, scale = Math.abs(median(w.map((p) => p.loss))) || 1;
  const change = (ts.slope * span) / scale, low = (ts.low * span) / scale, high = (ts.high * span) / scale;
  const state = low > -margin && high < margin ? 'flat' : high < 0 ? 'falling' : low > 0 ? 'rising' : 'undetermined';
  return { window: [w[0].step, w[w.length - 1].step], points: w.length, change, low, high, margin, state, ...(lrNote ? { lrNote } : {}) };
}

/** The model's best FID∞ on its final checkpoint, and the scale it is judged against. */
export interface GuardQuality {
  metric: string;
  value: number;
  low: number;
  high: number;
  /** tr Σ of the real reference's features */
  scale: number;
}

export interface GuardOptions {
  /** equivalence margin of the loss check (relative change over the window) */
  margin: number;
  /** the largest FID∞ (its interval's upper end) as a share of tr Σ that counts as near the data */
  quality: number;
}

export interface GuardResult {
  model: string;
  passed: boolean;
  quality?: GuardQuality;
  trend?: LossTrend;
  /** why it failed, in words, or what it passed on */
  reason: string;
}

const pct = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(1)}%`;

/** The loss check's finding, in words. */
export function trendText(t: LossTrend): string {
  const what = { flat: 'flat', falling: 'still falling', rising: 'rising', undetermined: 'cannot tell whether it is flat' }[t.state];
  return `loss ${what}: ${pct(t.change)} [${pct(t.low)}, ${pct(t.high)}] (90%, Theil–Sen) over steps ${t.window[0]}–${t.window[1]} (${t.points} logged steps), margin ±${(100 * t.margin).toFixed(0)}%${t.lrNote ? `; ${t.lrNote}` : ''}`;
}

/**
 * The guard for one model: its diffusion-stage loss log, its best final-checkpoint FID∞ (undefined
 * where none was computed, with `missing` saying why, or null where the grid scores no FID) and the
 * two bars.
 */
export function trainingGuard(model: string, loss: LossPoint[], quality: GuardQuality | undefined, opts: GuardOptions, missing: string | null = 'no FID∞ to judge its quality against'): GuardResult {
  const trend = lossTrend(loss, { margin: opts.margin });
  const why: string[] = [], ok: string[] = [];
  // missing = null: the grid scores no sample quality, so only the loss is checked (and said so).
  if (missing === null && !quality) ok.push('no sample-quality check (the grid scores no FID)');
  else if (!quality || !Number.isFinite(quality.high) || !(quality.scale > 0)) why.push(missing ?? 'no FID∞');
  else {
    const share = quality.high / quality.scale;
    const text = `${quality.metric} ${quality.value.toPrecision(3)} [${quality.low.toPrecision(3)}, ${quality.high.toPrecision(3)}], upper end ${(100 * share).toFixed(1)}% of the real features' variance tr Σ = ${quality.scale.toPrecision(3)} (bar ${(100 * opts.quality).toFixed(0)}%)`;
    (share <= opts.quality ? ok : why).push(text);
  }
  if (!trend) why.push('too few logged steps (under 5) to tell whether the loss is flat');
  else (trend.state === 'flat' ? ok : why).push(trendText(trend));
  const passed = why.length === 0;
  return { model, passed, quality, trend, reason: passed ? ok.join('; ') : `${model} not shown to be trained out (${why.join('; ')})` };
}
