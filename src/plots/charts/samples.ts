// Sample grids side by side.
import type { TopLevelSpec } from 'vega-lite';
import { type Chart, SCHEMA, heading } from '../vocabulary.js';

export interface GridImage { label: string; dataUri: string; width: number; height: number }

/** Sample grids side by side, labelled by backend, sampler and steps. */
export function sampleGrids(images: GridImage[]): Chart[] {
  if (!images.length) return [];
  const size = 230;
  return [{
    name: 'samples',
    title: 'sample grids',
    spec: {
      $schema: SCHEMA,
      title: heading('Samples', 'same seed and initial noise per backend; one grid per grid point'),
      data: { values: images.map((g, i) => ({ label: g.label, url: g.dataUri, col: i % 3, row: Math.floor(i / 3) })) },
      facet: { field: 'label', type: 'nominal', title: null, header: { labelFontSize: 11, labelLimit: size + 40 } },
      columns: 3,
      spec: {
        width: size, height: size,
        mark: { type: 'image', width: size, height: size },
        encoding: { url: { field: 'url', type: 'nominal' } },
      },
    } as unknown as TopLevelSpec,
  }];
}
