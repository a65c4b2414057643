// The registry of measurements, one file per kind of grid point. Its order is the report's order of
// their charts and, within each slot of the grid, the order of their points (see grid.ts).
import { analyticMixture } from './analytic.js';
import { bitsPerDimMeasurement } from './bits-per-dim.js';
import { memorizationMeasurement } from './memorization.js';
import { outOfDistribution } from './ood.js';
import { reconstruction } from './reconstruction.js';
import { sampleQuality } from './sample-quality.js';
import { embeddedToy } from './toy.js';
import type { Measurement, PointKind } from './types.js';

export const MEASUREMENTS: readonly Measurement[] = [sampleQuality, bitsPerDimMeasurement, memorizationMeasurement, embeddedToy, reconstruction, outOfDistribution, analyticMixture];

export function measurementOf(kind: PointKind): Measurement {
  const m = MEASUREMENTS.find((x) => x.kind === kind);
  if (!m) throw new Error(`grid point kind '${kind}': no measurement evaluates it; expected one of ${MEASUREMENTS.map((x) => x.kind).join(', ')}`);
  return m;
}
