// Training-seed replicas in charts: the rows of a model block with seeds: [...] (backend NAME.s<seed>,
// model NAME) drawn as one series, NAME, at the mean over its seeds, with the t interval across seeds
// as its error bar, so a chart shows how far a retrained model moves and not one seed's luck.
import type { ResultRow } from '../metrics/result-row.js';
import { t975 } from './contrasts.js';

/** Everything that places a row in a chart except the training seed. */
const slot = (r: ResultRow) => JSON.stringify([r.model, r.metric, r.sampler, r.steps, r.seed, r.train_step ?? null, r.ema ?? null, r.guidance ?? null, r.shift ?? null, r.dim ?? null, r.objective ?? null, r.token_dim ?? null]);

/**
 * Rows with one row per model block in place of its replicas: mean over the training seeds, interval
 * mean ± t(k−1)·sd/√k across them (k ≥ 2), the seeds named in a note. Rows of models without seeds
 * pass through unchanged.
 */
export function collapseSeeds(rows: ResultRow[]): ResultRow[] {
  const out: ResultRow[] = [], groups = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (r.model === undefined || r.train_seed === undefined) { out.push(r); continue; }
    const k = slot(r);
    if (!groups.has(k)) { groups.set(k, []); out.push(r); }
    groups.get(k)!.push(r);
  }
  return out.map((r) => {
    const g = r.model !== undefined && r.train_seed !== undefined ? groups.get(slot(r)) : undefined;
    if (!g) return r;
    const k = g.length, mean = g.reduce((s, x) => s + x.value, 0) / k;
    const sd = k > 1 ? Math.sqrt(g.reduce((s, x) => s + (x.value - mean) ** 2, 0) / (k - 1)) : 0;
    const half = k > 1 ? t975(k - 1) * sd / Math.sqrt(k) : undefined;
    const point = r.point.replace(`${r.backend}`, r.model!);
    return {
      ...r, backend: r.model!, point, value: mean, std: k > 1 ? sd : r.std,
      ci_low: half !== undefined ? mean - half : r.ci_low, ci_high: half !== undefined ? mean + half : r.ci_high,
      notes: [`mean over ${k} training seed(s) (${g.map((x) => x.train_seed).join(', ')})${half !== undefined ? `; interval: t(${k - 1}) across seeds` : ''}`],
    };
  });
}
