// Training and sampling throughput of the reference pixel UNet and of the latent UNet + VAE decoder.
import path from 'node:path';
import { availableBackends, selectBackend, tf, type ComputeBackend } from '../src/compute/backend.js';
import { loadTrainConfig } from '../src/train/config.js';
import { DiffusionModel } from '../src/backends/diffusion-model.js';
import { buildVae } from '../src/backends/latent.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Rng } from '../src/util/rng.js';
import { AdamW } from '../src/train/optim.js';
import { median } from '../src/util/timing.js';

export interface TrainBenchRow {
  backend: string;
  model: string;
  batch: number;
  msPerStep: number;
  imagesPerSec: number;
  /** Training GFLOP/s, counting a step as 3× the forward FLOPs (forward + backward). */
  gflops: number;
  peakRssMiB: number;
  /** One denoiser evaluation at this batch (plus the VAE decode, for latent, reported separately). */
  msPerSampleStep: number;
  msDecode?: number;
}

/**
 * The training step as the trainer takes it: the config's loss through the denoiser (noise levels,
 * preconditioning, weighting), its gradient and an AdamW update.
 */
function timeSteps(dm: DiffusionModel, batch: number, steps: number): { ms: number; sampleMs: number; peak: number } {
  const model = dm.unet, c = model.config, r = new Rng(1);
  const x = tf.tensor4d(r.normals(batch * c.imageSize ** 2 * c.inChannels), [batch, c.imageSize, c.imageSize, c.inChannels]);
  const t = tf.tensor1d(Array.from({ length: batch }, () => r.int(1000)));
  const vars = [...model.params.vars.values()];
  const opt = new AdamW({ lr: 1e-4 });
  let peak = process.memoryUsage().rss;
  const step = () => {
    const { value, grads } = tf.variableGrads(() => dm.loss(x, r, 1), vars);
    value.dataSync();
    opt.apply(model.params.vars, grads, 1e-4);
    tf.dispose([value, ...Object.values(grads)]);
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  // Two warm-up steps: operator creation, first allocations, kernel compilation. Then the median
  // step, since this shared machine's timings vary by ±20% from one step to the next.
  step();
  step();
  const ms = median(Array.from({ length: steps }, () => { const t0 = performance.now(); step(); return performance.now() - t0; }));
  const sampleMs = median(Array.from({ length: 3 }, () => {
    const s0 = performance.now();
    const y = model.forward(x, t);
    y.dataSync();
    y.dispose();
    return performance.now() - s0;
  }));
  tf.dispose([x, t]);
  opt.dispose();
  return { ms, sampleMs, peak };
}

export async function benchTrain(opts: { pixel: string; latent: string; batch: number; steps: number; backends?: ComputeBackend[]; outDir: string }) {
  const rows: TrainBenchRow[] = [];
  for (const b of opts.backends ?? (await availableBackends()).filter((x) => x !== 'cpu')) {
    await selectBackend(b);
    const pcfg = loadTrainConfig(opts.pixel);
    const pm = new DiffusionModel(pcfg.diffusion, { size: pcfg.data.resize?.[0] ?? 28, channels: 1 }, pcfg.seed);
    const unet = pm.unet;
    const p = timeSteps(pm, opts.batch, opts.steps);
    rows.push({
      backend: b, model: `pixel UNet (${opts.pixel})`, batch: opts.batch, msPerStep: p.ms, imagesPerSec: (1000 * opts.batch) / p.ms,
      gflops: (3 * unet.flopsPerImage() * opts.batch) / p.ms / 1e6, peakRssMiB: p.peak / 2 ** 20, msPerSampleStep: p.sampleMs,
    });
    unet.dispose();
    const lcfg = loadTrainConfig(opts.latent);
    const size = lcfg.data.resize?.[0] ?? 28;
    const vae = buildVae(lcfg, size, 1);
    const lm = new DiffusionModel(lcfg.diffusion, { size: vae.latentSize, channels: vae.config.latentChannels }, lcfg.seed);
    const lunet = lm.unet;
    const l = timeSteps(lm, opts.batch, opts.steps);
    const z = tf.randomNormal([opts.batch, vae.latentSize, vae.latentSize, vae.config.latentChannels]) as tf.Tensor4D;
    const d0 = performance.now();
    for (let i = 0; i < 3; i++) { const y = vae.decode(z); y.dataSync(); y.dispose(); }
    const msDecode = (performance.now() - d0) / 3;
    rows.push({
      backend: b, model: `latent UNet + VAE decoder (${opts.latent})`, batch: opts.batch, msPerStep: l.ms, imagesPerSec: (1000 * opts.batch) / l.ms,
      gflops: (3 * lunet.flopsPerImage() * opts.batch) / l.ms / 1e6, peakRssMiB: l.peak / 2 ** 20, msPerSampleStep: l.sampleMs, msDecode,
    });
    tf.dispose(z);
    vae.dispose();
    lunet.dispose();
    for (const r of rows.slice(-2)) {
      console.log(`[bench train] ${r.backend} ${r.model}: ${r.msPerStep.toFixed(0)} ms/step, ${r.imagesPerSec.toFixed(1)} img/s, ${r.gflops.toFixed(2)} GFLOP/s (3× forward), peak RSS ${r.peakRssMiB.toFixed(0)} MiB, ${r.msPerSampleStep.toFixed(0)} ms per sampling step${r.msDecode !== undefined ? `, VAE decode ${r.msDecode.toFixed(0)} ms` : ''} (batch ${r.batch})`);
    }
  }
  const file = path.join(opts.outDir, `train-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileAtomic(file, JSON.stringify({ rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
