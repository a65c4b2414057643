// Small diffusion models for tests, built as training configs build them.
import { DiffusionModel } from '../../src/backends/diffusion-model.js';
import { DiffusionConfig } from '../../src/train/config.js';

/**
 * A DiffusionModel from a partial `diffusion` block (objective, schedule, noise, weighting, model).
 * The UNet is initialised from `unetSeed` (the config path adds 23 to a run's seed).
 */
export function diffusionModel(block: Record<string, unknown>, shape: { size: number; channels: number }, unetSeed: number): DiffusionModel {
  const given = block.model as { arch?: string } | undefined;
  // A DiT block is taken as written; a UNet gets small defaults under whatever it sets.
  const model = given?.arch === 'dit' ? given : { channels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], ...given };
  const cfg = DiffusionConfig.parse({ train: { steps: 1 }, ...block, model });
  return new DiffusionModel(cfg, shape, unetSeed - 23);
}
