// Training throughput of the reference pixel UNet and of the latent UNet (+ VAE decoder), through the
// trainer's own loop (the loss, its gradient, the fused update, and data-parallel threads when asked),
// optionally with a per-kernel profile of one step and a PyTorch twin of the same step.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBackends, selectBackend, setComputeThreads, tf, type ComputeBackend } from '../src/compute/backend.js';
import { loadTrainConfig, type TrainConfigT } from '../src/train/config.js';
import { DiffusionModel } from '../src/backends/diffusion-model.js';
import { buildVae, vaeTask } from '../src/backends/latent.js';
import type { Vae } from '../src/models/vae.js';
import { backboneExport, writeTorchExport } from '../src/interop/torch.js';
import { DiT } from '../src/models/dit.js';
import { diffusionTask, REPLICA_MODULE } from '../src/backends/stages.js';
import { train, type TrainTask } from '../src/train/trainer.js';
import { FlatUpdate, readFlat } from '../src/train/fused-update.js';
import { AdamW, clipByGlobalNorm, Ema } from '../src/train/optim.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Rng } from '../src/util/rng.js';
import { median } from '../src/util/timing.js';

export interface TrainBenchRow {
  backend: string;
  model: string;
  batch: number;
  /** Threads computing each step. */
  workers: number;
  /**
   * How they share it: 'data-parallel' = that many replicas with one compute thread each;
   * 'intra-op' = one replica whose kernels (oneDNN's OpenMP) use that many threads.
   */
  threading: 'data-parallel' | 'intra-op';
  msPerStep: number;
  imagesPerSec: number;
  /** images/s relative to one thread in the same run */
  speedup?: number;
  /** Training GFLOP/s, counting a step as 3× the forward FLOPs (forward + backward). */
  gflops: number;
  peakRssMiB: number;
  /** One no-grad evaluation at `sampleBatch`, one thread: the denoiser (the decoder for the VAE). */
  msPerSampleStep?: number;
  sampleBatch?: number;
  /** PyTorch's same evaluation, one thread, and difflab / PyTorch. */
  torchMsPerSampleStep?: number;
  sampleVsTorch?: number;
  msDecode?: number;
  /** The same step in PyTorch at the same thread count, when run with --against torch; medians of interleaved rounds. */
  torchMsPerStep?: number;
  /** difflab's step time / PyTorch's, both one thread, from the same rounds. */
  vsTorch?: number;
}

export interface ProfileRow { kernel: string; calls: number; ms: number; share: number }

interface Subject {
  label: string;
  cfg: TrainConfigT;
  model: DiffusionModel;
  data: tf.Tensor4D;
  size: number;
  channels: number;
  decode?: () => number;
  /** The autoencoder, for the 'vae' subject: its step is timed instead of the denoiser's. */
  vae?: Vae;
  dispose(): void;
}

/** Forward FLOPs per image of the subject's training step. */
function flopsOf(s: Subject): number {
  if (!s.vae) return s.model.net.flopsPerImage();
  const f = s.vae.flopsPerImage();
  return f.encoder + f.decoder;
}

/** One no-grad evaluation as sampling runs it: the denoiser, or (vae) the decoder. */
function sampleOnce(s: Subject, batch: number): number {
  return tf.tidy(() => {
    const x = s.vae ? tf.randomNormal([batch, s.vae.latentSize, s.vae.latentSize, s.vae.config.latentChannels]) as tf.Tensor4D
      : tf.randomNormal([batch, s.size, s.size, s.channels]) as tf.Tensor4D;
    const t0 = performance.now();
    const y = s.vae ? s.vae.decode(x) : s.model.net.forward(x, tf.fill([batch], 500) as tf.Tensor1D);
    y.dataSync();
    return performance.now() - t0;
  });
}

function subject(file: string, kind: 'pixel' | 'latent' | 'vae'): Subject {
  const cfg = loadTrainConfig(file);
  // The side the data arrive at: resized, else padded or cropped, else MNIST's 28.
  const img = cfg.data.resize?.[0] ?? cfg.data.pad?.[0] ?? cfg.data.crop?.[0] ?? 28;
  let size = img, channels = 1, decode: (() => number) | undefined, vaeDispose = () => {};
  if (kind === 'vae') {
    const vae = buildVae(cfg, img, 1);
    const model = new DiffusionModel(cfg.diffusion, { size: vae.latentSize, channels: vae.config.latentChannels }, cfg.seed);
    const data = tf.tensor4d(new Rng(1).normals(512 * img * img).map(Math.tanh), [512, img, img, 1]);
    return { label: `VAE (${file})`, cfg, model, data, size: img, channels: 1, vae, dispose: () => { vae.dispose(); model.dispose(); data.dispose(); } };
  }
  if (kind === 'latent') {
    const vae = buildVae(cfg, img, 1);
    size = vae.latentSize;
    channels = vae.config.latentChannels;
    decode = () => {
      const z = tf.randomNormal([32, size, size, channels]) as tf.Tensor4D;
      const ms = median(Array.from({ length: 3 }, () => { const t0 = performance.now(); const y = vae.decode(z); y.dataSync(); y.dispose(); return performance.now() - t0; }));
      z.dispose();
      return ms;
    };
    vaeDispose = () => vae.dispose();
  }
  const model = new DiffusionModel(cfg.diffusion, { size, channels }, cfg.seed);
  // The step's cost does not depend on the pixel values: 512 random items in [−1, 1].
  const data = tf.tensor4d(new Rng(1).normals(512 * size * size * channels).map(Math.tanh), [512, size, size, channels]);
  const arch = model.net instanceof DiT ? 'DiT' : 'UNet';
  const label = `${kind} ${arch} (${file})`;
  return { label, cfg, model, data, size, channels, decode, dispose: () => { model.dispose(); data.dispose(); vaeDispose(); } };
}

/**
 * Median ms per step of the trainer's loop (after two warm-up steps): `workers` replicas with one
 * compute thread each, or (intra-op) one replica whose kernels use `workers` threads.
 */
function timeTrainer(s: Subject, batch: number, steps: number, workers: number, threading: TrainBenchRow['threading'] = 'data-parallel'): { ms: number; peak: number } {
  setComputeThreads(threading === 'intra-op' ? workers : 1);
  if (threading === 'intra-op') workers = 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-bench-train-'));
  const task: TrainTask = s.vae
    ? { ...vaeTask(s.vae, s.data, s.cfg.vae!.loss), replica: { recipe: { module: REPLICA_MODULE, kind: 'vae', cfg: s.cfg, size: s.size, channels: s.channels }, data: s.data } }
    : { ...diffusionTask(s.model, s.data), replica: { recipe: { module: REPLICA_MODULE, kind: 'diffusion', diffusion: s.cfg.diffusion, size: s.size, channels: s.channels, seed: s.cfg.seed }, data: s.data } };
  const stamps: number[] = [];
  let peak = process.memoryUsage().rss;
  const total = steps + 2;
  try {
    train(task, {
      steps: total, batchSize: batch, seed: 1, lr: { base: 1e-4, warmupSteps: 0, totalSteps: total, decay: 'constant' }, adam: {},
      clipNorm: 1, emaDecay: 0.995, checkpointEvery: 1e6, outDir: dir, config: {}, label: 'bench', workers,
      onStep: () => { stamps.push(performance.now()); peak = Math.max(peak, process.memoryUsage().rss); },
    }).ema.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    setComputeThreads();
  }
  // Step i's time is stamps[i] − stamps[i−1]: the first stamp ends warm-up step 1, so steps 3… are timed.
  return { ms: median(stamps.slice(2).map((t, i) => t - stamps[i + 1])), peak };
}

/** Per-kernel time of one step (forward, backward) from tfjs's profiler, plus the update pass. */
async function profileStep(s: Subject, batch: number): Promise<{ rows: ProfileRow[]; stepMs: number; kernelMs: number; updateMs: number; tensorTailMs: number }> {
  const task = s.vae ? vaeTask(s.vae, s.data, s.cfg.vae!.loss) : diffusionTask(s.model, s.data);
  const vars = [...task.params.values()];
  const idx = Int32Array.from({ length: batch }, (_, i) => i);
  const rng = new Rng(2);
  const once = () => { const { value, grads } = tf.variableGrads(() => task.loss(idx, rng, 1), vars); value.dataSync(); return { value, grads }; };
  for (let i = 0; i < 2; i++) { const r = once(); tf.dispose([r.value, ...Object.values(r.grads)]); }
  const t0 = performance.now();
  let kept: { value: tf.Scalar; grads: Record<string, tf.Tensor> } | undefined;
  const info = await tf.profile(() => { kept = once(); return [kept.value, ...Object.values(kept.grads)]; });
  const stepMs = performance.now() - t0;
  const by = new Map<string, { calls: number; ms: number }>();
  for (const k of info.kernels) {
    const e = by.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    by.set(k.name, e);
  }
  const kernelMs = [...by.values()].reduce((a, e) => a + e.ms, 0);
  // The update pass (clipping + AdamW + EMA) over the flat gradient, and writing the weights back.
  const opt = new AdamW({ lr: 1e-4 }), ema = new Ema(0.995, task.params);
  const flat = new FlatUpdate(task.params, opt, ema);
  const g = readFlat(vars.map((v) => kept!.grads[v.name]), flat.layout, flat.slots[0]);
  const updateMs = median(Array.from({ length: 7 }, () => { const u0 = performance.now(); flat.apply(g, 1, 0); flat.pushParams(); return performance.now() - u0; }));
  // The same tail as tfjs ops, tensor by tensor (how the trainer updated before the fused pass).
  const opt2 = new AdamW({ lr: 1e-4 }), ema2 = new Ema(0.995, task.params);
  const tensorTailMs = median(Array.from({ length: 7 }, () => {
    const grads = Object.fromEntries(vars.map((v) => [v.name, kept!.grads[v.name].clone()]));
    const u0 = performance.now();
    clipByGlobalNorm(grads, 1);
    opt2.apply(task.params, grads, 0);
    ema2.update(task.params);
    const ms = performance.now() - u0;
    tf.dispose(Object.values(grads));
    return ms;
  }));
  tf.dispose([kept!.value, ...Object.values(kept!.grads)]);
  for (const o of [opt, ema, opt2, ema2]) o.dispose();
  const rows = [...by].map(([kernel, e]) => ({ kernel, calls: e.calls, ms: e.ms, share: e.ms / stepMs })).sort((a, b) => b.ms - a.ms);
  return { rows, stepMs, kernelMs, updateMs, tensorTailMs };
}

/** The PyTorch twin's step on the same network (exported weights); undefined with a note when torch is missing. */
function torchStep(s: Subject, batch: number, steps: number, python: string, malloc: 'keep' | 'default' = 'keep', threads = 1, sampleBatch = 0, profile = false): { ms: number; sampleMs?: number; profile?: { op: string; calls: number; ms: number }[]; raw: unknown; blas: string } | { note: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-bench-torch-'));
  try {
    const file = path.join(dir, 'unet.safetensors');
    writeTorchExport(file, { ...backboneExport(s.model.net), ...(s.vae ? { vae: { config: s.vae.config, params: s.vae.params.vars } } : {}), config: s.cfg, weights: 'model', step: 0 });
    const script = new URL('./torch/train_step.py', import.meta.url).pathname;
    // `threads` everywhere: torch's intra-op pool, OpenMP and OpenBLAS's own threads. glibc told to
    // keep freed memory (as PyTorch's CPU performance guide advises, or jemalloc): with its defaults
    // torch returns memory to the OS and page-faults thousands of times a step, ~1.5× slower.
    const keep = 'glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456';
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads), ...(malloc === 'keep' ? { GLIBC_TUNABLES: keep } : {}) };
    // The step the config trains: objective, schedule, learning rate, clipping and EMA.
    const d = s.cfg.diffusion, tr = d.train;
    const vae = s.vae ? ['--vae', '--reconstruction', s.cfg.vae!.loss.reconstruction, '--kl-weight', String(s.cfg.vae!.loss.klWeight)] : [];
    const step = [...vae, ...(profile ? ['--profile'] : []), '--sample-batch', String(sampleBatch), '--objective', d.objective.name, '--weighting', d.weighting.name, '--schedule', d.schedule?.name ?? 'linear', '--T', String(d.schedule?.T ?? 1000), '--lr', String(tr.lr), '--clip', String(tr.clipNorm ?? 1e30), '--ema', String(tr.emaDecay)];
    if (!['eps', 'x0', 'v', 'flow', 'flow-x0', 'flow-eps'].includes(d.objective.name)) return { note: `the PyTorch twin has no ${d.objective.name} step` };
    if (!['simple', 'velocity'].includes(d.weighting.name)) return { note: `the PyTorch twin has no ${d.weighting.name} weighting` };
    const r = spawnSync(python, [script, file, '--size', String(s.size), '--batch', String(batch), '--steps', String(steps), '--threads', String(threads), ...step], { encoding: 'utf8', env });
    if (r.status !== 0) return { note: `${python} ${path.basename(script)} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-1)[0]}` };
    const out = JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]) as { msPerStep: number; sampleMs: number | null; profile: { op: string; calls: number; ms: number }[] | null; blas: string };
    return { ms: out.msPerStep, sampleMs: out.sampleMs ?? undefined, profile: out.profile ?? undefined, raw: out, blas: out.blas };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchTrain(opts: {
  pixel: string; latent: string; batch: number; steps: number; backends?: ComputeBackend[]; outDir: string;
  workers: number[]; profile: boolean; against?: 'torch'; rounds: number; python: string; models: ('pixel' | 'latent' | 'vae')[];
  /** batch of the timed sampling forward pass (the denoiser; the decoder for the VAE) */
  sampleBatch?: number;
  /** torch's allocator: glibc told to keep freed memory (as its users run it), or glibc's defaults */
  torchMalloc?: 'keep' | 'default';
}) {
  const rows: TrainBenchRow[] = [];
  const profiles: { backend: string; model: string; batch: number; stepMs: number; kernelMs: number; updateMs: number; tensorTailMs: number; kernels: ProfileRow[]; torch?: { op: string; calls: number; ms: number }[] }[] = [];
  const notes: string[] = [];
  for (const b of opts.backends ?? (await availableBackends()).filter((x) => x !== 'cpu')) {
    await selectBackend(b);
    for (const kind of opts.models) {
      const s = subject(kind === 'pixel' ? opts.pixel : opts.latent, kind);
      const sampleBatch = opts.sampleBatch ?? 256;
      try {
        const flops = flopsOf(s);
        // Rounds interleave the thread counts (and PyTorch): this machine's speed drifts between runs.
        // Thread designs: replicas with one compute thread each, and (oneDNN) one replica on w threads.
        const designs: { w: number; threading: TrainBenchRow['threading'] }[] = opts.workers.flatMap((w) => [
          { w, threading: 'data-parallel' as const },
          ...(b === 'onednn' && w > 1 ? [{ w, threading: 'intra-op' as const }] : []),
        ]);
        const dkey = (d: { w: number; threading: string }) => `${d.w} ${d.threading}`;
        const times = new Map<string, number[]>(designs.map((d) => [dkey(d), []]));
        // PyTorch at each thread count difflab is timed at (its intra-op threads against difflab's replicas).
        const torchTimes = new Map<number, number[]>(opts.workers.map((w) => [w, []]));
        const torchSample: number[] = [];
        let peak = 0;
        for (let r = 0; r < opts.rounds; r++) {
          for (const d of designs) {
            const t = timeTrainer(s, opts.batch, opts.steps, d.w, d.threading);
            times.get(dkey(d))!.push(t.ms);
            peak = Math.max(peak, t.peak);
          }
          for (const w of opts.against === 'torch' ? opts.workers : []) {
            const t = torchStep(s, opts.batch, opts.steps, opts.python, opts.torchMalloc ?? 'keep', w, w === 1 ? sampleBatch : 0);
            if ('note' in t) { notes.push(t.note); break; }
            torchTimes.get(w)!.push(t.ms);
            if (t.sampleMs !== undefined) torchSample.push(t.sampleMs);
            // The attention's matrix products run on torch's BLAS: Debian's reference libblas makes them
            // several times slower than OpenBLAS (apt-get install libopenblas0-pthread).
            if (t.blas !== 'openblas' && t.blas !== 'mkl') notes.push(`PyTorch runs on the ${t.blas} BLAS: its matrix products are far slower than with OpenBLAS (apt-get install libopenblas0-pthread), which flatters difflab`);
          }
        }
        const one = times.has('1 data-parallel') ? median(times.get('1 data-parallel')!) : undefined;
        // One evaluation at the sampling batch, on one compute thread (as PyTorch's, timed at 1 thread).
        setComputeThreads(1);
        sampleOnce(s, sampleBatch);
        const sampleMs = median(Array.from({ length: 3 }, () => sampleOnce(s, sampleBatch)));
        setComputeThreads();
        const msDecode = s.decode?.();
        for (const { w, threading } of designs) {
          const ms = median(times.get(dkey({ w, threading }))!);
          const row: TrainBenchRow = {
            backend: b, model: s.label, batch: opts.batch, workers: w, threading, msPerStep: ms, imagesPerSec: (1000 * opts.batch) / ms,
            speedup: one !== undefined ? one / ms : undefined, gflops: (3 * flops * opts.batch) / ms / 1e6, peakRssMiB: peak / 2 ** 20,
          };
          if (w === opts.workers[0] && threading === 'data-parallel') {
            row.msPerSampleStep = sampleMs; row.sampleBatch = sampleBatch; row.msDecode = msDecode;
            if (torchSample.length) { row.torchMsPerSampleStep = median(torchSample); row.sampleVsTorch = sampleMs / row.torchMsPerSampleStep; }
          }
          if (torchTimes.get(w)?.length) { row.torchMsPerStep = median(torchTimes.get(w)!); row.vsTorch = ms / row.torchMsPerStep; }
          rows.push(row);
          console.log(`[bench train] ${b} ${s.label}, batch ${opts.batch}, ${w} thread(s)${w > 1 ? ` (${threading})` : ''}: ${ms.toFixed(0)} ms/step, ${row.imagesPerSec.toFixed(1)} img/s` +
            `${row.speedup !== undefined && w !== 1 ? ` (${row.speedup.toFixed(2)}× one thread)` : ''}, ${row.gflops.toFixed(2)} GFLOP/s (3× forward)` +
            `${row.torchMsPerStep !== undefined ? `; PyTorch (${w} thread(s), ${opts.torchMalloc === 'default' ? 'glibc malloc defaults' : 'malloc keeping memory'}) ${row.torchMsPerStep.toFixed(0)} ms/step → difflab/PyTorch ${row.vsTorch!.toFixed(2)}×` : ''}` +
            `${row.msPerSampleStep !== undefined ? `; ${s.vae ? 'decode' : 'sampling step'} b${sampleBatch} ${row.msPerSampleStep.toFixed(0)} ms${row.torchMsPerSampleStep !== undefined ? ` (PyTorch ${row.torchMsPerSampleStep.toFixed(0)} ms → ${row.sampleVsTorch!.toFixed(2)}×)` : ''}` : ''}${row.msDecode !== undefined ? `, VAE decode (32) ${row.msDecode.toFixed(0)} ms` : ''}` +
            ` [medians of ${opts.rounds} round(s) × ${opts.steps} steps]`);
        }
        if (opts.profile) {
          setComputeThreads(1); // one thread, as PyTorch's profile in train_step.py --profile
          const p = await profileStep(s, opts.batch);
          setComputeThreads();
          profiles.push({ backend: b, model: s.label, batch: opts.batch, stepMs: p.stepMs, kernelMs: p.kernelMs, updateMs: p.updateMs, tensorTailMs: p.tensorTailMs, kernels: p.rows });
          console.log(`[bench train --profile] ${b} ${s.label}, batch ${opts.batch}: loss + gradient ${p.stepMs.toFixed(0)} ms under the profiler, ${p.kernelMs.toFixed(0)} ms in kernels, ${(p.stepMs - p.kernelMs).toFixed(0)} ms outside them (JS, tape, allocation); update pass (clip + AdamW + EMA) + weight write-back ${p.updateMs.toFixed(1)} ms, against ${p.tensorTailMs.toFixed(1)} ms for the same tail as tfjs ops tensor by tensor`);
          console.log(`  ${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'ms'.padStart(8)} ${'share'.padStart(6)}`);
          for (const r of p.rows.slice(0, 20)) console.log(`  ${r.kernel.padEnd(28)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(1).padStart(8)} ${(100 * r.share).toFixed(1).padStart(5)}%`);
          if (opts.against === 'torch') {
            // The same step under torch.profiler, one thread: self CPU time per op.
            const t = torchStep(s, opts.batch, 1, opts.python, opts.torchMalloc ?? 'keep', 1, 0, true);
            if (!('note' in t) && t.profile) {
              const total = t.profile.reduce((a, r) => a + r.ms, 0);
              console.log(`[bench train --profile] PyTorch, the same step under torch.profiler (one thread; top ${t.profile.length} ops by self CPU time, ${total.toFixed(0)} ms together)`);
              for (const r of t.profile.slice(0, 20)) console.log(`  ${r.op.padEnd(40)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(1).padStart(8)}`);
              profiles[profiles.length - 1].torch = t.profile;
            }
          }
        }
      } finally {
        s.dispose();
      }
    }
  }
  for (const n of new Set(notes)) console.log(`note: --against torch: ${n}`);
  const file = path.join(opts.outDir, `train-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileAtomic(file, JSON.stringify({ rows, profiles, notes: [...new Set(notes)] }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
