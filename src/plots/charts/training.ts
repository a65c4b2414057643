// Training charts: the loss curves and the noise schedules.
import type { TopLevelSpec } from 'vega-lite';
import type { DiscreteSchedule } from '../../diffusion/schedules.js';
import type { LossPoint } from '../../train/loss-log.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, heading, backendColors } from '../vocabulary.js';

/** Training loss against step, one line per model and stage (log scale). */
export function lossCurves(points: LossPoint[]): Chart[] {
  if (!points.length) return [];
  return [{
    name: 'loss',
    title: 'training loss',
    spec: {
      $schema: SCHEMA,
      title: heading('Training loss', 'per step, smoothed over 20 steps'),
      width: WIDTH, height: HEIGHT,
      data: { values: points.map((p) => ({ ...p, run: `${p.model} (${p.stage})` })) },
      transform: [{ window: [{ op: 'mean', field: 'loss', as: 'smoothed' }], frame: [-10, 10], groupby: ['run'], sort: [{ field: 'step' }] }],
      mark: { type: 'line' },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'training step' },
        y: { field: 'smoothed', type: 'quantitative', scale: { type: 'log' }, title: 'loss' },
        color: { field: 'model', type: 'nominal', title: 'model', scale: backendColors(points, 'model'), legend: { labelLimit: 400 } },
        strokeDash: { field: 'stage', type: 'nominal', title: 'stage', scale: { domain: ['diffusion', 'vae'], range: [[1, 0], [5, 3]] } },
        detail: { field: 'run' },
      },
    } as TopLevelSpec,
  }];
}

/** ᾱ and log-SNR against t/T for each schedule. */
export function schedulePlots(schedules: DiscreteSchedule[]): Chart[] {
  if (!schedules.length) return [];
  const values: { schedule: string; t: number; alphaBar: number; logSnr: number }[] = [];
  for (const s of schedules) {
    // Every step near both ends, where log-SNR bends sharply (cosine falls to −19.8 in its last steps),
    // and every (T/200)-th step between: the curve at full resolution in ~300 points, not T.
    const every = Math.max(1, Math.floor(s.T / 200)), edge = Math.min(50, Math.floor(s.T / 10));
    for (let t = 0; t < s.T; t++) {
      if (t % every !== 0 && t >= edge && t < s.T - edge) continue;
      const a = s.alphasCumprod[t];
      values.push({ schedule: s.name, t: (t + 1) / s.T, alphaBar: a, logSnr: Math.log(a / (1 - a)) });
    }
  }
  const panel = (field: string, title: string) => ({
    width: 300, height: 220,
    mark: { type: 'line' as const },
    encoding: {
      x: { field: 't', type: 'quantitative' as const, title: 't / T' },
      y: { field, type: 'quantitative' as const, title },
      color: { field: 'schedule', type: 'nominal' as const, title: 'schedule' },
    },
  });
  return [{
    name: 'schedules',
    title: 'noise schedules',
    spec: {
      $schema: SCHEMA,
      title: heading('Noise schedules', 'ᾱ_t (signal fraction) and log-SNR = log(ᾱ/(1 − ᾱ))'),
      data: { values },
      hconcat: [panel('alphaBar', 'ᾱ_t'), panel('logSnr', 'log-SNR')],
    } as TopLevelSpec,
  }];
}
