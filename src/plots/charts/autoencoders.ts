// The latent models' autoencoders: rFID with its floor and PSNR.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, HEIGHT, heading, backendColors, label } from '../vocabulary.js';

/**
 * The latent models' autoencoders on held-out test images: rFID (95% interval; floor: the same images
 * unreconstructed, as a tick per model) and PSNR, one column per model. A pixel model reconstructs
 * exactly (rFID at its floor, PSNR ∞) and has no column.
 */
export function autoencoderQuality(rows: ResultRow[]): Chart[] {
  // The first feature space's rFID (the results table has every space's).
  const metric = rows.find((r) => /^rfid@/.test(r.metric))?.metric;
  const rf = rows.filter((r) => r.metric === metric);
  if (!rf.length) return [];
  const floorOf = (b: string) => rows.find((r) => r.backend === b && r.metric === metric!.replace('rfid@', 'rfid-floor@'));
  const psnr = rows.filter((r) => r.metric === 'psnr').map((r) => ({ backend: r.backend, value: r.value }));
  const values = rf.map((r) => ({ backend: r.backend, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value, floor: floorOf(r.backend)?.value ?? null }));
  const x = { field: 'backend', type: 'nominal', title: 'model', sort: values.map((v) => v.backend) };
  const color = { field: 'backend', type: 'nominal', legend: null, scale: backendColors(values) };
  return [{
    name: 'autoencoders',
    title: 'autoencoder reconstruction quality',
    spec: {
      $schema: SCHEMA,
      title: heading(`Autoencoder reconstructions of held-out test images (${label(rf[0].metric.slice(1)).replace(/^FID/, 'rFID')})`, `left: rFID, 95% bootstrap interval, grey tick: floor (the same ${rf[0].n} images unreconstructed); right: PSNR (dB, higher is better); a pixel model (f = 1) reconstructs exactly`),
      hconcat: [
        {
          width: 260, height: HEIGHT, data: { values },
          layer: [
            { mark: { type: 'point', filled: true, size: 70 }, encoding: { x, y: { field: 'value', type: 'quantitative', title: 'rFID (lower is better)' }, color, tooltip: [{ field: 'backend' }, { field: 'value', type: 'quantitative', format: '.4g' }, { field: 'floor', type: 'quantitative', format: '.3g' }] } },
            { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'ci_low', type: 'quantitative', title: 'rFID (lower is better)' }, y2: { field: 'ci_high' }, color } },
            { mark: { type: 'tick', strokeDash: [4, 3], color: '#333', thickness: 1.5 }, encoding: { x, y: { field: 'floor', type: 'quantitative' } } },
          ],
        },
        {
          width: 260, height: HEIGHT, data: { values: psnr },
          mark: 'bar',
          encoding: { x, y: { field: 'value', type: 'quantitative', title: 'PSNR (dB)' }, color, tooltip: [{ field: 'backend' }, { field: 'value', type: 'quantitative', format: '.2f' }] },
        },
      ],
    } as TopLevelSpec,
  }];
}
