// The backend registry: where the diffusion happens. `pixel` and `latent` are built from a training
// config and loaded from a run directory through their entries; `analytic` (analytic.ts) is built from
// a Gaussian mixture. Callers go through these and never branch on a backend's name.
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
  const base = checkpointAt(path.join(dir, 'diffusion'), step);
  const meta = readJsonFile<{ config: SavedConfig; step: number }>(`${base}.json`, 'a checkpoint sidecar');
  const config = savedConfig(meta.config, `${base}.json`);
  return backendEntry(config.backend).load(dir, base, { ...meta, config }, weights);
}

