// The usual claims about pixel-space vs latent diffusion, each set next to what a run measured.
import type { Interval } from '../metrics/bootstrap.js';
import type { GuardResult } from '../metrics/guard.js';
import type { TrainConfigT } from '../train/config.js';
import type { ResultRow } from '../metrics/result-row.js';
import type { Claim } from './report.js';
import { family, finalCheckpointRows, type Floors } from './specs.js';

/** What claims read of the experiment: its models' configs by grid backend name. */
export interface ClaimExperiment { models: Record<string, TrainConfigT> }

/** What claims read besides the rows: floors, the under-training guard, paired comparisons. */
export interface ClaimContext {
  floors?: Floors;
  guards?: GuardResult[];
  /**
   * A paired bootstrap over grid points generated from the same seeds and noise: `stat` of their
   * FIDs, with its 95% interval; undefined where the points' features were not kept.
   */
  paired?: (points: string[], stat: (fids: number[]) => number, net?: string) => (Interval & { value: number }) | undefined;
}

const ci = (i: { value: number; low: number; high: number }) => `${f3(i.value)} [${f3(i.low)}, ${f3(i.high)}]`;

/**
 * A verdict from intervals of differences where > 0 favours the claim: supported or contradicted only
 * when every interval excludes 0 on that side; mixed when some exclude it on each side; otherwise (an
 * interval holds 0) inconclusive.
 */
export function verdictOf(intervals: { low: number; high: number }[]): Claim['verdict'] {
  if (!intervals.length) return 'not measured';
  const pro = intervals.filter((i) => i.low > 0).length, con = intervals.filter((i) => i.high < 0).length;
  if (pro && con) return 'mixed';
  if (pro + con < intervals.length) return 'inconclusive';
  return pro ? 'supported' : 'contradicted';
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const f3 = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** The model backend ('pixel'/'latent') of each grid backend name, from the experiment's models. */
function kindOf(exp: ClaimExperiment, backend: string): string {
  return exp.models[backend]?.backend ?? backend;
}

/**
 * Linear interpolation of (log GFLOP, value) points at log C; undefined outside their range.
 */
function interpAt(points: { gflop: number; value: number }[], c: number): number | undefined {
  const p = [...points].sort((a, b) => a.gflop - b.gflop);
  if (!p.length || c < p[0].gflop * (1 - 1e-9) || c > p[p.length - 1].gflop * (1 + 1e-9)) return undefined;
  for (let i = 0; i < p.length; i++) {
    if (Math.abs(p[i].gflop - c) <= 1e-9 * c) return p[i].value;
    if (i + 1 < p.length && p[i + 1].gflop >= c) {
      const w = (Math.log(c) - Math.log(p[i].gflop)) / (Math.log(p[i + 1].gflop) - Math.log(p[i].gflop));
      return p[i].value + w * (p[i + 1].value - p[i].value);
    }
  }
  return undefined;
}

/**
 * The compute-matched comparison: for each sampler setting both backends were evaluated at, FID at
 * the largest training compute both reached, interpolated in log-GFLOP between checkpoints.
 */
function computeMatched(rows: ResultRow[], exp: ClaimExperiment): Claim {
  const claim = 'At equal training compute, latent diffusion reaches better sample quality than pixel diffusion (the autoencoder makes each diffusion step cheaper).';
  const topic = 'compute-matched quality';
  // The first feature space's FID (the claims read one; contrasts read every one).
  const first = rows.find((r) => family(r.metric) === 'fid')?.metric;
  const fid = rows.filter((r) => r.metric === first && r.train_gflop != null && r.sampler !== null);
  const settings = [...new Set(fid.map((r) => `${r.sampler} ${r.steps}`))];
  const found: string[] = [];
  const diffs: { value: number; low: number; high: number }[] = [];
  let latentWins = 0, total = 0;
  for (const s of settings) {
    const at = (kind: string, field: 'value' | 'ci_low' | 'ci_high') => fid.filter((r) => kindOf(exp, r.backend) === kind && `${r.sampler} ${r.steps}` === s).map((r) => ({ gflop: r.train_gflop!, value: (field === 'value' ? r.value : r[field]) ?? NaN }));
    const p = at('pixel', 'value'), l = at('latent', 'value');
    if (p.length < 1 || l.length < 1 || p.length + l.length < 3) continue;
    const c = Math.min(Math.max(...p.map((x) => x.gflop)), Math.max(...l.map((x) => x.gflop)));
    const vp = interpAt(p, c), vl = interpAt(l, c);
    if (vp === undefined || vl === undefined) continue;
    total++;
    if (vl < vp) latentWins++;
    // The checkpoints' interval half-widths, interpolated like the values, combined as independent
    // normal errors (different checkpoints share no samples, so no pairing applies).
    const half = (kind: string) => {
      const lo = interpAt(at(kind, 'ci_low'), c), hi = interpAt(at(kind, 'ci_high'), c);
      return lo === undefined || hi === undefined || !Number.isFinite(lo + hi) ? undefined : (hi - lo) / 2;
    };
    const hp = half('pixel'), hl = half('latent');
    if (hp !== undefined && hl !== undefined) {
      const d = { value: vp - vl, low: vp - vl - Math.hypot(hp, hl), high: vp - vl + Math.hypot(hp, hl) };
      diffs.push(d);
      found.push(`${s} steps: pixel ${f3(vp)} − latent ${f3(vl)} = ${ci(d)} at ${f3(c)} GFLOP`);
    } else found.push(`${s} steps: pixel ${f3(vp)} vs latent ${f3(vl)} at ${f3(c)} GFLOP`);
  }
  if (!total) return { topic, claim, evidence: 'needs FID at several checkpoints (grid.checkpoints) of a pixel and a latent model whose training compute ranges overlap', verdict: 'not measured' };
  return {
    topic, claim,
    evidence: `FID interpolated between checkpoints (${fid[0].metric})${diffs.length ? ', difference with a 95% interval from the checkpoints\' intervals (> 0: latent better)' : ''}: ${found.join('; ')}`,
    // Without intervals (rows written before they were kept) only the direction can be reported.
    verdict: diffs.length === total ? verdictOf(diffs) : latentWins === total ? 'supported' : latentWins === 0 ? 'contradicted' : 'mixed',
  };
}

export function buildClaims(allRows: ResultRow[], exp: ClaimExperiment, ctx: ClaimContext = {}): Claim[] {
  // The claims about finished models read each model's final checkpoint.
  const rows = finalCheckpointRows(allRows);
  // The claims compare the grid's models one by one: their intervals cover sampling noise only, and
  // each comparison says so (a retrained model moves by more than that; contrasts over seeds: [...]
  // model blocks cover it).
  const claims = buildRawClaims(allRows, rows, exp, ctx).map((c) => (c.verdict === 'design fact' || c.topic === 'speed' ? c : { ...c, evidence: `${c.evidence}; one training seed per model: sampling noise only` }));
  // A comparison of models is read only when every model in it passed the under-training guard.
  const failed = (ctx.guards ?? []).filter((g) => !g.passed);
  if (!failed.length) return claims;
  const guarded = new Set(['best use: generation quality', 'best use: density estimation', 'noise handling', 'sampling strategy', 'compute-matched quality']);
  return claims.map((c) => (guarded.has(c.topic) && c.verdict !== 'not measured'
    ? { ...c, verdict: `not measured: ${failed.map((g) => g.reason).join('; ')}` as Claim['verdict'], evidence: `${c.evidence} (shown, but not judged)` }
    : c));
}

/** The rows a claim reads (each model's final checkpoint) by backend kind, with the run's floors and paired bootstrap. */
interface ClaimRows {
  rows: ResultRow[];
  ctx: ClaimContext;
  byKind(kind: string, pred: (r: ResultRow) => boolean): ResultRow[];
  fidRows(kind: string): ResultRow[];
}

function buildRawClaims(allRows: ResultRow[], rows: ResultRow[], exp: ClaimExperiment, ctx: ClaimContext): Claim[] {
  const byKind = (kind: string, pred: (r: ResultRow) => boolean) => rows.filter((r) => kindOf(exp, r.backend) === kind && pred(r));
  // The claims read the first feature space's FID (eval.features' first network); contrasts read every one.
  const first = rows.find((r) => family(r.metric) === 'fid')?.metric;
  const c: ClaimRows = { rows, ctx, byKind, fidRows: (kind) => byKind(kind, (r) => r.metric === first) };
  const sampling = samplerClaim(c);
  return [generationClaim(c), densityClaim(c), speedClaim(c), ...(sampling ? [sampling] : []), noiseClaim(c), computeMatched(allRows, exp), modellingClaim(exp)];
}

function generationClaim(c: ClaimRows): Claim {
  const { fidRows, ctx } = c;
  const pf = fidRows('pixel'), lf = fidRows('latent');
  const floorOf = (metric: string) => { const f = ctx.floors?.[metric]; return f ? `; real-data floor ${f3(f.value)} [${f3(f.low ?? f.value)}, ${f3(f.high ?? f.value)}] at n = ${f.n}` : ''; };
  // Generation quality at each sampler setting both backends ran, from the same seeds and noise:
  // the paired bootstrap interval of FID(pixel) − FID(latent).
  if (pf.length && lf.length) {
    const gflop = (r: ResultRow[]) => (r[0].train_gflop != null ? `${f3(r[0].train_gflop)}` : '?');
    const settingOf = (r: ResultRow) => `${r.sampler}|${r.steps}|${r.seed}`;
    const diffs: (Interval & { value: number })[] = [], shown: string[] = [];
    for (const p of pf) {
      const l = lf.find((x) => settingOf(x) === settingOf(p) && x.metric === p.metric);
      if (!l) continue;
      const d = ctx.paired?.([p.point, l.point], (f) => f[0] - f[1], p.metric.split('@')[1]);
      if (d) { diffs.push(d); shown.push(`${p.sampler} ${p.steps} steps: pixel ${f3(p.value)} − latent ${f3(l.value)} = ${ci(d)}`); }
      else shown.push(`${p.sampler} ${p.steps} steps: pixel ${f3(p.value)} vs latent ${f3(l.value)} (no per-sample features kept: no interval)`);
    }
    return {
      topic: 'best use: generation quality', claim: 'Latent diffusion gives better samples than pixel diffusion for the same training budget.',
      evidence: `${pf[0].metric}, n = ${pf[0].n}, difference with its 95% paired-bootstrap interval (> 0: latent better): ${shown.join('; ') || 'no sampler setting in common'}${floorOf(pf[0].metric)}; training compute: latent ${gflop(lf)} vs pixel ${gflop(pf)} GFLOP, so the budgets are only as equal as these numbers (see the compute-matched row)`,
      verdict: diffs.length ? verdictOf(diffs) : 'not measured',
    };
  }
  return { topic: 'best use: generation quality', claim: 'Latent diffusion gives better samples than pixel diffusion for the same training budget.', evidence: 'no FID for both backends in this run', verdict: 'not measured' };
}

function densityClaim(c: ClaimRows): Claim {
  const { byKind } = c;
  // Density estimation.
  const pb = byKind('pixel', (r) => r.metric === 'bits_per_dim'), lb = byKind('latent', (r) => r.metric === 'bits_per_dim');
  // Latent − pixel bits/dim with a normal interval from the two standard errors (over images).
  const bpdDiff = () => {
    const p = pb[0], l = lb[0], value = l.value - p.value, se = Math.hypot(p.std ?? 0, l.std ?? 0);
    return { value, low: value - 1.96 * se, high: value + 1.96 * se };
  };
  return pb.length && lb.length ? {
    topic: 'best use: density estimation', claim: 'Pixel-space diffusion gives better likelihoods (lower bits/dim) than latent diffusion, whose autoencoder discards detail.',
    evidence: `bits/dim on the same test images: pixel ${f3(pb[0].value)} ± ${f3(pb[0].std ?? 0)} vs latent ${f3(lb[0].value)} ± ${f3(lb[0].std ?? 0)} (s.e.); latent − pixel = ${ci(bpdDiff())} (95%, > 0: pixel better)`,
    verdict: verdictOf([bpdDiff()]),
  } : { topic: 'best use: density estimation', claim: 'Pixel-space diffusion gives better likelihoods than latent diffusion.', evidence: 'bits/dim not measured for both backends', verdict: 'not measured' };
}

function speedClaim(c: ClaimRows): Claim {
  const { byKind } = c;
  // Speed.
  const gp = byKind('pixel', (r) => r.metric === 'gflop_per_sample'), gl = byKind('latent', (r) => r.metric === 'gflop_per_sample');
  const sp = byKind('pixel', (r) => r.metric === 'seconds_per_sample'), sl = byKind('latent', (r) => r.metric === 'seconds_per_sample');
  if (gp.length && gl.length) {
    const faster = mean(sl.map((r) => r.value)) < mean(sp.map((r) => r.value)) && mean(gl.map((r) => r.value)) < mean(gp.map((r) => r.value));
    return {
      topic: 'speed', claim: 'Latent diffusion is cheaper per sample: the UNet runs on a smaller tensor, and the decoder runs once.',
      evidence: `mean over the grid: pixel ${f3(mean(gp.map((r) => r.value)))} GFLOP, ${f3(mean(sp.map((r) => r.value)) * 1000)} ms per sample; latent ${f3(mean(gl.map((r) => r.value)))} GFLOP, ${f3(mean(sl.map((r) => r.value)) * 1000)} ms per sample (incl. VAE decode)`,
      verdict: faster ? 'supported' : 'contradicted',
    };
  }
  return { topic: 'speed', claim: 'Latent diffusion is cheaper per sample.', evidence: 'cost not measured for both backends', verdict: 'not measured' };
}

function samplerClaim(c: ClaimRows): Claim | undefined {
  const { rows } = c;
  // Sampling strategy: at the fewest steps, the best higher-order ODE solver against the best
  // ancestral (DDPM-style) sampler; both kinds must be in the grid.
  const first = rows.find((r) => family(r.metric) === 'fid')?.metric;
  const allFid = rows.filter((r) => r.metric === first && r.steps !== null);
  const samplingClaim = 'Higher-order ODE solvers (DPM-Solver++, Heun) reach good quality in far fewer steps than DDPM-style ancestral sampling.';
  if (allFid.length) {
    const minSteps = Math.min(...allFid.map((r) => r.steps!));
    const bySampler = new Map<string, number[]>();
    for (const r of allFid.filter((x) => x.steps === minSteps)) bySampler.set(r.sampler!, [...(bySampler.get(r.sampler!) ?? []), r.value]);
    const ranked = [...bySampler.entries()].map(([s, v]) => [s, mean(v)] as const).sort((a, b) => a[1] - b[1]);
    const higher = ranked.filter(([s]) => /dpm|heun/.test(s)), ancestral = ranked.filter(([s]) => /^ddpm$|ancestral/.test(s));
    const listing = `FID at ${minSteps} steps, mean over backends: ${ranked.map(([s, v]) => `${s} ${f3(v)}`).join(', ')}`;
    return higher.length && ancestral.length
      ? { topic: 'sampling strategy', claim: samplingClaim, evidence: listing, verdict: higher[0][1] < ancestral[0][1] ? 'supported' : 'contradicted' }
      : { topic: 'sampling strategy', claim: samplingClaim, evidence: `${listing}; needs both a higher-order solver and an ancestral sampler (ddpm, euler-ancestral) in the grid`, verdict: 'not measured' };
  }
  return undefined;
}

function noiseClaim(c: ClaimRows): Claim {
  const { fidRows, ctx } = c;
  // Noise handling: degradation from most to fewest steps, per backend.
  const degr = (kind: string) => {
    const r = fidRows(kind).filter((x) => x.steps !== null);
    if (!r.length) return undefined;
    const lo = Math.min(...r.map((x) => x.steps!)), hi = Math.max(...r.map((x) => x.steps!));
    if (lo === hi) return undefined;
    return mean(r.filter((x) => x.steps === lo).map((x) => x.value)) / mean(r.filter((x) => x.steps === hi).map((x) => x.value));
  };
  const dp = degr('pixel'), dl = degr('latent');
  // Paired over the four generated sets of one sampler (both backends, fewest and most steps).
  const degrIntervals: string[] = [], degrCi: (Interval & { value: number })[] = [];
  if (dp !== undefined && dl !== undefined) {
    const pr = fidRows('pixel').filter((x) => x.steps !== null), lr = fidRows('latent').filter((x) => x.steps !== null);
    const lo = Math.min(...pr.map((x) => x.steps!)), hi = Math.max(...pr.map((x) => x.steps!));
    for (const s of new Set(pr.map((x) => `${x.sampler}|${x.seed}`))) {
      const pick = (rs: ResultRow[], steps: number) => rs.find((x) => `${x.sampler}|${x.seed}` === s && x.steps === steps)?.point;
      const pts = [pick(pr, lo), pick(pr, hi), pick(lr, lo), pick(lr, hi)];
      if (pts.some((x) => !x)) continue;
      const d = ctx.paired?.(pts as string[], (f) => f[0] / f[1] - f[2] / f[3], pr[0].metric.split('@')[1]);
      if (d) { degrCi.push(d); degrIntervals.push(`${s.split('|')[0]}: ${ci(d)}`); }
    }
  }
  return dp !== undefined && dl !== undefined ? {
    topic: 'noise handling', claim: 'Latent spaces are smoother and lower-dimensional, so few-step sampling degrades less there than in pixel space.',
    evidence: `FID(fewest steps)/FID(most steps): pixel ${f3(dp)}, latent ${f3(dl)}${degrIntervals.length ? `; pixel − latent ratio with its 95% paired-bootstrap interval (> 0: latent degrades less): ${degrIntervals.join('; ')}` : ' (no per-sample features kept: no interval)'}`,
    verdict: degrCi.length ? verdictOf(degrCi) : 'not measured',
  } : { topic: 'noise handling', claim: 'Few-step sampling degrades less in latent space.', evidence: 'needs FID at two step counts for both backends', verdict: 'not measured' };
}

function modellingClaim(exp: ClaimExperiment): Claim {
  // Objective and modelling strategy: what differs is where the diffusion runs.
  return {
    topic: 'objective and modelling strategy', claim: 'Both optimise the same denoising objective; latent diffusion adds a separately trained autoencoder and models its latents instead of pixels.',
    evidence: `in this toolkit both share one loss, schedule and sampler code; models: ${Object.entries(exp.models).map(([k, m]) => `${k} = ${m.backend} (${m.diffusion.objective.name}, ${m.diffusion.weighting.name}${m.backend === 'latent' ? `, VAE ${m.vae!.train.steps} steps + diffusion ${m.diffusion.train.steps}` : `, ${m.diffusion.train.steps} steps`})`).join('; ')}`,
    // What the toolkit does by construction is no measurement: it gets no verdict.
    verdict: 'design fact',
  };
}
