// The backend registry: where the diffusion happens. `pixel` and `latent` are built from a training
// config and loaded from a run directory through their entries; `analytic` (analytic.ts) is built from
// a Gaussian mixture. Callers go through these and never branch on a backend's name.
import fs from 'node:fs';
import path from 'node:path';
import { checkpointAt, type WeightsChoice } from '../train/checkpoint.js';
import { readJsonFile } from '../util/fs.js';
import { latent } from './latent.js';
import { pixel } from './pixel.js';
import { savedConfig } from './saved-config.js';
import type { BackendEntry, LoadedRun, SavedConfig } from './types.js';

export * from './types.js';
export { savedConfig };

export const BACKENDS = { pixel, latent } satisfies Record<string, BackendEntry>;
export const BACKEND_KINDS = Object.keys(BACKENDS) as [keyof typeof BACKENDS, ...(keyof typeof BACKENDS)[]];

export function backendEntry(name: string): BackendEntry {
  const e = (BACKENDS as Record<string, BackendEntry>)[name];
  if (!e) throw new Error(`backend: unknown '${name}'; expected one of ${BACKEND_KINDS.join(', ')}`);
  return e;
}

/**
 * Rebuilds a run's backend from its newest checkpoints (or the diffusion stage's checkpoint at
 * `step`), with EMA (or raw) weights. The VAE of a latent run is always its final one: the diffusion
 * stage trained on its latents.
 */
export function loadRun(dir: string, weights: WeightsChoice = 'ema', step?: number): LoadedRun {
  // An experiment's run directory holds results, not weights: point to its models.
  if (fs.existsSync(path.join(dir, 'points.json')) && !fs.existsSync(path.join(dir, 'diffusion'))) {
    const models = path.join(path.dirname(dir), 'models');
    const list = fs.existsSync(models) ? fs.readdirSync(models).sort().map((m) => path.join(models, m)) : [];
    throw new Error(`${dir} is an experiment's run directory (results and report), not a model's: ${list.length ? `its models are ${list.join(', ')}; pass one of them` : `its models are under ${models}`}`);
  }
  const base = checkpointAt(path.join(dir, 'diffusion'), step);
  const meta = readJsonFile<{ config: SavedConfig; step: number }>(`${base}.json`, 'a checkpoint sidecar');
  const config = savedConfig(meta.config, `${base}.json`);
  return backendEntry(config.backend).load(dir, base, { ...meta, config }, weights);
}

