// What the grid's evaluations share, prepared once per run: the sampler settings, loaded models, and —
// where a measurement needs them — the feature networks, the real images' statistics and each
// metric's real-data floor (floors.json, floors-by-data.json).
import path from 'node:path';
import { loadRun, type LoadedRun } from '../backends/index.js';
import { parseSamplerSetting, type SamplerSetting } from '../diffusion/sampling.js';
import { imagesOf, isQualityGroup, realReference, testImages, type RealReference } from '../metrics/evaluate.js';
import { resolveFeatureNet, type FeatureNet } from '../metrics/features.js';
import { qualityFloor } from '../metrics/floors.js';
import type { Floors } from '../plots/specs.js';
import { writeFileAtomic } from '../util/fs.js';
import { writeNpy } from '../util/npy.js';
import type { ResolvedExperiment } from './config.js';
import { measurementOf } from './measurements/index.js';
import type { EvalContext, GridPoint, Need } from './measurements/types.js';
import { modelBackends, resolveModelDir } from './models.js';

/** A feature network's name with its recorded test accuracy, for logs. */
export const netLabel = (net: FeatureNet) => `${net.name}${net.testAccuracy !== undefined ? ` (test accuracy ${(100 * net.testAccuracy).toFixed(2)}%)` : ''}`;

export function fmtSeconds(s: number): string {
  return s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

export interface PreparedContext extends EvalContext {
  /** frees the loaded models and feature networks */
  dispose(): void;
}

/** What the measurements of these points need prepared. */
function needsOf(exp: ResolvedExperiment, points: GridPoint[]): Set<Need> {
  return new Set([...new Set(points.map((p) => p.kind))].flatMap((k) => measurementOf(k).needs?.(exp) ?? []));
}

/**
 * The evaluation context of a run. The feature network and real-image statistics come first (the
 * LeNet trains once per dataset and cache), so that the grid's ETA counts only grid points; then each
 * metric's floor (real training images against the same reference, at the grid's n), which every
 * chart and claim is read against, cached per dataset, network, n and seed.
 */
export async function evaluationContext(exp: ResolvedExperiment, dir: string, root: string, points: GridPoint[], log: (l: string) => void): Promise<PreparedContext> {
  const runs = new Map<string, LoadedRun>();
  const refs = new Map<string, RealReference[]>();
  const cache = new Map<string, unknown>();
  const quality = (exp.grid?.metrics ?? []).filter(isQualityGroup);
  const ctx: PreparedContext = {
    exp, dir, root, quality,
    settings: new Map<string, SamplerSetting>((exp.grid?.samplers ?? []).map((x) => { const st = parseSamplerSetting(x); return [st.label, st]; })),
    run(name, checkpoint = null, ema = null) {
      const k = `${name}@${checkpoint}~${ema}`;
      if (!runs.has(k)) runs.set(k, loadRun(resolveModelDir(exp, name, root), ema === null ? 'ema' : `ema:${ema}`, checkpoint ?? undefined));
      return runs.get(k)!;
    },
    reference(data) {
      return ctx.references(data)[0];
    },
    references(data) {
      const r = refs.get(JSON.stringify(data));
      if (!r) throw new Error(`no real reference was prepared for data ${JSON.stringify(data)}: the measurement must declare needs: ['references']`);
      return r;
    },
    shared(key, make) {
      if (!cache.has(key)) cache.set(key, make());
      return cache.get(key) as ReturnType<typeof make>;
    },
    dispose() {
      for (const r of runs.values()) r.dispose();
      for (const rs of refs.values()) for (const r of rs) r.net.dispose();
    },
  };
  if (needsOf(exp, points).has('references')) await prepareReferences(exp, dir, quality, refs, log);
  return ctx;
}

async function prepareReferences(exp: ResolvedExperiment, dir: string, quality: EvalContext['quality'], refs: Map<string, RealReference[]>, log: (l: string) => void): Promise<void> {
  const floors: Floors = {}, floorsByData: Record<string, Floors> = {};
  for (const name of modelBackends(exp)) {
    const data = exp.models[name].data, dataKey = JSON.stringify(data);
    if (refs.has(dataKey)) continue;
    const test = testImages(data, exp.eval.realN, 0), real = imagesOf(test), list: RealReference[] = [];
    // Every feature space of eval.features (the LeNet and the MLP by default): each metric is
    // computed, and its floor taken, in each, and a verdict needs them to agree.
    for (const spec of featureSpecs(exp)) {
      const tf0 = performance.now();
      const net = await resolveFeatureNet(spec, { dataset: data.name });
      const ref = realReference(net, real, quality.includes('class') ? test.labels : undefined);
      list.push(ref);
      log(`[features] ${netLabel(net)}: statistics of ${ref.n} real images, ${fmtSeconds((performance.now() - tf0) / 1000)}`);
      writeNpy(path.join(dir, 'features', `real-${net.name}.npy`), Float32Array.from(ref.features.data), [ref.features.rows, ref.features.cols]);
      if (!quality.length) continue;
      const floor = qualityFloor(ref, data, exp.eval.n, { groups: quality, seed: exp.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap }, log);
      for (const v of floor.values) floors[v.metric] = { value: v.value, low: v.low, high: v.high, n: floor.n };
      // Per dataset too: models on other data (another resolution) have other floors.
      for (const v of floor.values) floorsByData[dataKey] = { ...floorsByData[dataKey], [v.metric]: { value: v.value, low: v.low, high: v.high, n: floor.n } };
    }
    refs.set(dataKey, list);
    real.dispose();
  }
  if (!quality.length) return;
  writeFileAtomic(path.join(dir, 'floors.json'), JSON.stringify(floors, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'floors-by-data.json'), JSON.stringify(floorsByData, null, 2) + '\n');
}

/** The feature networks of eval.features, as a list. */
export function featureSpecs(exp: ResolvedExperiment): string[] {
  return Array.isArray(exp.eval.features) ? exp.eval.features : [exp.eval.features];
}
