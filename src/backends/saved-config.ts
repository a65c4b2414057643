// Configs as checkpoints store them: validated and brought to the current schema when a run is loaded.
import { parseTrainConfig } from '../train/config.js';
import type { SavedConfig } from './types.js';

/** A checkpoint's stored config, validated and brought to the current schema (older objective blocks too). */
export function savedConfig(raw: SavedConfig, file: string): SavedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: config: expected the training config (an object), got ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}; the sidecar is damaged`);
  const { scaleFactor, dataShape, trainImages, ...cfg } = raw;
  // Runs saved before diffusion.model.scaleShiftNorm existed added the embedding before the norm.
  const model = (cfg as { diffusion?: { model?: Record<string, unknown> } }).diffusion?.model;
  if (model && model.arch !== 'dit' && !('scaleShiftNorm' in model)) model.scaleShiftNorm = false;
  // ... and their EMA had no warm-up.
  for (const stage of ['vae', 'diffusion'] as const) {
    const train = (cfg as unknown as Record<string, { train?: Record<string, unknown> } | undefined>)[stage]?.train;
    if (train && !('emaWarmup' in train)) train.emaWarmup = false;
  }
  return { ...parseTrainConfig(cfg, `${file}: config`, true), scaleFactor, dataShape, trainImages };
}
