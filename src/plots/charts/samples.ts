// Sample grids side by side.
import type { TopLevelSpec } from 'vega-lite';
import { type Chart, SCHEMA, heading } from '../vocabulary.js';

export interface GridImage { label: string; dataUri: string; width: number; height: number }

/** Sample grids side by side, labelled by backend, sampler and steps. */
export function sampleGrids(images: GridImage[], subtitle = 'same seed and initial noise per backend; one grid per grid point'): Chart[] {
  if (!images.length) return [];
  const size = 230;
  return [{
    name: 'samples',
    title: 'sample grids',
    spec: {
      $schema: SCHEMA,
      title: heading('Samples', subtitle),
      data: { values: images.map((g, i) => ({ label: g.label, url: g.dataUri, col: i % 3, row: Math.floor(i / 3) })) },
      facet: { field: 'label', type: 'nominal', title: null, sort: images.map((g) => g.label), header: { labelFontSize: 11, labelLimit: size + 40, labelAnchor: 'start', labelPadding: 4 } },
      columns: Math.min(3, images.length),
      spec: {
        width: size, height: size,
        // Anchored at the cell's top-left corner and filling it (the grids are square).
        mark: { type: 'image', width: size, height: size, align: 'left', baseline: 'top', aspect: false },
        encoding: { url: { field: 'url', type: 'nominal' }, x: { value: 0 }, y: { value: 0 } },
      },
    } as unknown as TopLevelSpec,
  }];
}
