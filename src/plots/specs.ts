// Typed builders of Vega-Lite specs over result rows: the shared vocabulary (vocabulary.ts) and every
// chart family (charts/), in one place for the CLI, notebooks and tests. Each family is registered
// with the measurement that feeds it (src/runner/measurements).
export * from './vocabulary.js';
export * from './charts/quality.js';
export * from './charts/likelihood.js';
export * from './charts/toy.js';
export * from './charts/autoencoders.js';
export * from './charts/ood.js';
export * from './charts/training.js';
export * from './charts/analytic.js';
export * from './charts/samples.js';
export * from './charts/memorization.js';
export type { LossPoint } from '../train/loss-log.js';
