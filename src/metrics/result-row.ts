// One evaluated (grid point, metric) as metrics.jsonl stores it: the type the runner writes and the
// charts, claims and report read.
export interface ResultRow {
  experiment: string;
  run_id: string;
  /** grid point key: backend[@checkpoint]|sampler|steps|seed (sampler and steps '-' for per-model metrics such as bits/dim) */
  point: string;
  backend: string;
  sampler: string | null;
  steps: number | null;
  nfe: number | null;
  metric: string;
  value: number;
  std: number | null;
  /** 95% bootstrap interval of the value (FID, KID), where one is computed */
  ci_low?: number | null;
  ci_high?: number | null;
  /** samples (or test images) the value is computed from */
  n: number;
  /** sampling points: wall-clock seconds per sample; per-model metrics: seconds the evaluation took */
  seconds: number | null;
  /** GFLOP per sample (denoiser FLOPs × NFE + VAE decoder), where counted */
  gflop: number | null;
  seed: number;
  config_hash: string;
  git_commit: string;
  unit?: string;
  notes?: string[];
  /**
   * the kernels the point's networks ran on (e.g. 'oneDNN 2.6.3 avx512_core_bf16 (OpenMP)', 'wasm SIMD
   * (FMA)'): timings, and values to float32 rounding, depend on it
   */
  kernels?: string;
  /** sampling points with a grid shift: SD3's α, every σ of the sampling grid multiplied by it */
  shift?: number;
  /** toy points: the ambient dimension and the objective of the MLP denoiser; DiT models: their objective */
  dim?: number;
  objective?: string;
  /** DiT models: the patch side p and the token dimension p²·C (pixels, or latent channels) it gives, and the token width */
  patch?: number;
  token_dim?: number;
  width?: number;
  /** FID∞ rows: tr Σ of the real reference's features, the scale the under-training guard reads FID∞ against */
  reference_variance?: number;
  /** training-seed replicas (a model block with seeds: [...]): the block's name and this replica's seed */
  model?: string;
  train_seed?: number;
  /** model backends: the diffusion-stage training step of the evaluated checkpoint */
  train_step?: number | null;
  /**
   * model backends: training compute spent to reach that checkpoint, in GFLOP (3 × forward FLOPs per
   * image × batch × steps for each network trained; latent adds its VAE stage and the encoding pass)
   */
  train_gflop?: number | null;
  /** post-hoc EMA length σ_rel of the evaluated weights (grid.ema); absent: the classic EMA */
  ema?: number | null;
  /** classifier-free guidance scale of the sampler setting, where one was given */
  guidance?: number | null;
  /**
   * how many rows its grid point wrote: a point is complete when a file holds that many rows of it,
   * so a point cut short by a kill is recomputed on resume (rows written before this field existed
   * count as complete)
   */
  point_rows?: number;
}
