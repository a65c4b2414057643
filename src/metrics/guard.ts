// The under-training guard: a comparison between models is only read when each model has finished
// learning what its budget allows. Two stated checks: the training loss has flattened over the last
// 20% of steps, and the model's best FID is within a stated factor of the metric's real-data floor.
export interface LossPoint {
  step: number;
  loss: number;
}

export interface LossTrend {
  /** OLS slope of the loss per step over the window */
  slope: number;
  /** its standard error */
  se: number;
  /** the loss change the slope predicts across the window */
  change: number;
  window: [number, number];
  /** not significantly falling: slope ≥ −1.96·se */
  flat: boolean;
}

/**
 * Whether the loss still falls over the last `fraction` of the logged steps: the least-squares slope
 * of loss on step and its standard error (the per-step loss is noisy, so only a slope beyond its
 * noise counts as falling).
 */
export function lossTrend(points: LossPoint[], fraction = 0.2): LossTrend | undefined {
  const finite = points.filter((p) => Number.isFinite(p.loss));
  // The last `fraction` of the steps, but at least 10 points where the run logged that many.
  const w = finite.slice(-Math.max(Math.ceil(fraction * finite.length), Math.min(finite.length, 10)));
  if (w.length < 5) return undefined;
  const n = w.length, mx = w.reduce((a, p) => a + p.step, 0) / n, my = w.reduce((a, p) => a + p.loss, 0) / n;
  let sxx = 0, sxy = 0;
  for (const p of w) { sxx += (p.step - mx) ** 2; sxy += (p.step - mx) * (p.loss - my); }
  const slope = sxy / sxx, icpt = my - slope * mx;
  const rss = w.reduce((a, p) => a + (p.loss - icpt - slope * p.step) ** 2, 0);
  const se = Math.sqrt(rss / (n - 2) / sxx);
  return { slope, se, change: slope * (w[n - 1].step - w[0].step), window: [w[0].step, w[n - 1].step], flat: slope >= -1.96 * se };
}

export interface GuardResult {
  model: string;
  passed: boolean;
  bestFid?: number;
  floor?: number;
  factor: number;
  trend?: LossTrend;
  /** why it failed, in words, or what it passed on */
  reason: string;
}

/** The guard for one model: its diffusion-stage loss log, its best FID (final weights) and the floor. */
export function trainingGuard(model: string, loss: LossPoint[], bestFid: number | undefined, floor: number | undefined, factor: number): GuardResult {
  const trend = lossTrend(loss);
  const why: string[] = [];
  // Nothing to judge quality against is a failure, not a pass.
  if (bestFid === undefined || floor === undefined || !Number.isFinite(bestFid) || !Number.isFinite(floor)) why.push(`no ${bestFid === undefined || !Number.isFinite(bestFid) ? 'FID' : 'real-data floor'} to judge its quality against`);
  else if (bestFid > factor * floor) why.push(`FID ${bestFid.toPrecision(3)} vs floor ${floor.toPrecision(3)}, more than ${factor}×`);
  if (trend && !trend.flat) why.push(`loss still falling (${trend.change.toPrecision(2)} over steps ${trend.window[0]}–${trend.window[1]}, slope ${(trend.slope / trend.se).toFixed(1)} standard errors)`);
  if (!trend) why.push('too few logged steps (under 5) to tell whether the loss has flattened');
  const passed = why.length === 0;
  const reason = passed
    ? `FID ${bestFid!.toPrecision(3)} within ${factor}× the floor ${floor!.toPrecision(3)}; loss not significantly falling over steps ${trend!.window[0]}–${trend!.window[1]}`
    : `${model} under-trained (${why.join('; ')})`;
  return { model, passed, bestFid, floor, factor, trend, reason };
}
