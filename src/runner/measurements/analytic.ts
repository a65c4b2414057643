// Sampler error on the exact Gaussian mixture (the analytic backend): distance to the exact
// probability-flow solution from the same noise, and SW₂ to exact samples with its floor.
import path from 'node:path';
import { analyticPoint } from '../../backends/analytic.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { loadGmm } from '../../models/gmm.js';
import { samplerError } from '../../plots/charts/analytic.js';
import { samplingPoint, wanted } from './common.js';
import type { Measurement } from './types.js';

export const analyticMixture: Measurement = {
  kind: 'analytic',
  metrics: ['sw2', 'path-rms', 'cost'],
  points(exp, backend, slot) {
    return slot.scope === 'setting' && backend === 'analytic' && wanted(exp, this) ? [samplingPoint(backend, 'analytic', slot)] : [];
  },
  describe: (p) => `${p.sampler} ${p.steps} steps`,
  evaluate(p, ctx, base) {
    const { exp } = ctx, g = exp.grid!;
    const rows: ResultRow[] = [];
    const gmm = loadGmm(path.resolve(path.dirname(exp.file), exp.analytic!.gmm));
    // Guidance w = 1 without an interval is plain conditional sampling; on the exact mixture with
    // classes drawn from its weights that is the mixture itself, whose exact denoiser is the
    // unconditional one: such a setting (shared with class-conditional models in one grid) runs
    // unguided here, with a note.
    const st = ctx.settings.get(p.sampler!)!;
    const plain = st.guidance?.scale === 1 && !st.guidance.interval;
    const r = analyticPoint(gmm, { sampler: plain ? { ...st, guidance: undefined } : st, steps: p.steps!, n: exp.eval.n, seed: p.seed });
    const notes = plain ? ['guidance w = 1 on the exact mixture: sampled from the mixture itself (classes drawn from its weights), unguided'] : undefined;
    const row = (metric: string, value: number) => rows.push({ ...base, nfe: r.nfe, metric, value, std: null, n: r.n, seconds: r.seconds / r.n, gflop: null, ...(notes ? { notes } : {}) });
    if (g.metrics.includes('sw2')) { row('sw2', r.sw2); row('sw2-floor', r.sw2Floor); }
    if (g.metrics.includes('path-rms') && r.path) {
      row('path-rms', r.path.rms);
      row('path-median', r.path.median);
      row('path-p90', r.path.p90);
      row('mode-switches', r.path.switched);
    }
    if (g.metrics.includes('cost')) row('nfe', r.nfe);
    return rows;
  },
  charts: [{ name: 'sampler-error', byDefault: true, draw: (c) => samplerError(c.rows) }],
};
