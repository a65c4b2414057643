// Reading the loss log the trainer writes (<stage>/loss.jsonl, one line per step) back as points.
import fs from 'node:fs';
import path from 'node:path';
import { readJsonLines } from '../util/fs.js';

export interface LossPoint { model: string; stage: string; step: number; loss: number; lr?: number }

/** The loss log of every stage a run directory has (vae, diffusion), labelled with `model`. */
export function lossLog(dir: string, model: string): LossPoint[] {
  const out: LossPoint[] = [];
  for (const stage of ['vae', 'diffusion']) {
    const f = path.join(dir, stage, 'loss.jsonl');
    if (fs.existsSync(f)) for (const r of readJsonLines<{ step: number; loss: number; lr?: number }>(f).rows) out.push({ model, stage, step: r.step, loss: r.loss, ...(r.lr !== undefined ? { lr: r.lr } : {}) });
  }
  return out;
}
