// What a measurement declares: the grid points it contributes, how the progress line names one, what
// it needs prepared once per run, how it evaluates a point into result rows, and the charts its rows
// feed. One file per measurement beside this one; index.ts lists them.
import type { LoadedRun } from '../../backends/types.js';
import type { SamplerSetting } from '../../diffusion/sampling.js';
import type { QualityGroup, RealReference } from '../../metrics/evaluate.js';
import type { ResultRow } from '../../metrics/result-row.js';
import type { Chart, Floors, GridImage } from '../../plots/specs.js';
import type { LossPoint } from '../../train/loss-log.js';
import type { ResolvedExperiment } from '../config.js';

export interface GridPoint {
  index: number;
  key: string;
  /** the measurement that evaluates it (its registry entry's kind: sample, nll, recon, …) */
  kind: string;
  /** toy points: the ambient dimension and the objective of the MLP denoiser */
  dim?: number;
  objective?: string;
  backend: string;
  /** diffusion-stage step of the checkpoint to evaluate; null: the final one */
  checkpoint: number | null;
  /** post-hoc EMA length of the weights; null: the classic EMA */
  ema: number | null;
  sampler: string | null;
  steps: number | null;
  seed: number;
}

export type PointKind = GridPoint['kind'];
export type NewPoint = Omit<GridPoint, 'index'>;

/**
 * Where in the grid's order a measurement's points sit: once per grid backend (before its
 * checkpoints); once per checkpoint × EMA length × seed of a backend (per-model evaluations such as
 * bits/dim); or, after those, once per sampler setting × step count there. `model` is the label
 * (`backend[@checkpoint][~ema:σ]`) that point keys start with.
 */
export type Slot =
  | { scope: 'backend' }
  | { scope: 'checkpoint'; checkpoint: number | null; ema: number | null; seed: number; model: string }
  | { scope: 'setting'; checkpoint: number | null; ema: number | null; seed: number; model: string; sampler: string; steps: number };

/** What a measurement needs prepared once per run, before the grid. */
export type Need =
  /** feature networks and the real images' statistics, per dataset of the grid's models */
  | 'references';

/** The row fields every point shares (grid coordinates, run identity), in the order rows store them. */
export type RowBase = Pick<ResultRow, 'experiment' | 'run_id' | 'point' | 'backend' | 'sampler' | 'steps' | 'seed' | 'config_hash' | 'git_commit'> & Partial<ResultRow>;

/** What the runner prepares once and every evaluation reads. */
export interface EvalContext {
  exp: ResolvedExperiment;
  /** the run directory (features/, samples/, … are written below it) */
  dir: string;
  /** the results root (toy models train under <root>/<experiment>/toy) */
  root: string;
  /** the grid's sampler settings by label */
  settings: Map<string, SamplerSetting>;
  /** the grid's metric groups computed on a feature network */
  quality: QualityGroup[];
  /** a trained model's weights at a checkpoint (null: the final one) and EMA (null: the classic one), loaded once */
  run(backend: string, checkpoint?: number | null, ema?: number | null): LoadedRun;
  /** the real reference of a model's dataset on the first feature network (prepared when a measurement needs 'references') */
  reference(data: LoadedRun['config']['data']): RealReference;
  /** the real references of a model's dataset on every feature network of eval.features, in order */
  references(data: LoadedRun['config']['data']): RealReference[];
  /** a value computed once per run under `key` (e.g. a dataset several points read); plain data only */
  shared<T>(key: string, make: () => T): T;
}

/** What chart families read: the run's rows and the files beside them. */
export interface ChartInput {
  dir: string;
  exp: ResolvedExperiment;
  /** every row, all checkpoints */
  allRows: ResultRow[];
  /** the rows of each model's final checkpoint */
  rows: ResultRow[];
  floors?: Floors;
  losses: LossPoint[];
  grids: GridImage[];
}

/**
 * A chart family: `name` is what an experiment's `charts:` list selects (several families may share
 * one name); `byDefault` families are drawn when the experiment lists none.
 */
export interface ChartFamily {
  name: string;
  byDefault: boolean;
  draw(input: ChartInput): Chart[];
}

export interface Measurement {
  kind: PointKind;
  /** the grid metrics it computes: it adds points when the grid lists one of them */
  metrics: readonly string[];
  /** the points it adds for one entry of grid.backends at one slot of the grid's order */
  points(exp: ResolvedExperiment, backend: string, slot: Slot): NewPoint[];
  /** the point in the progress line, between the model and the seed */
  describe(p: GridPoint): string;
  /** points with one unit go to one shard (default: each point is its own) */
  shardUnit?(p: GridPoint): string;
  /** what it needs prepared once per run for this experiment */
  needs?(exp: ResolvedExperiment): Need[];
  /** the point's rows, each starting with `base` */
  evaluate(p: GridPoint, ctx: EvalContext, base: RowBase): ResultRow[] | Promise<ResultRow[]>;
  /** the charts its rows feed, in report order */
  charts: ChartFamily[];
}
