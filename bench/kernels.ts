// Conv2D kernel benchmark: forward, input gradient and filter gradient at the shapes of a small UNet.
import path from 'node:path';
import { availableBackends, selectBackend, tf, type ComputeBackend } from '../src/compute/backend.js';
import { installWasmKernels, uninstallWasmKernels } from '../src/compute/wasm-kernels.js';
import { useSimdConv } from '../src/compute/wasm-simd-conv.js';
import { setWinograd } from '../src/compute/wasm-winograd.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { timeInterleaved } from '../src/util/timing.js';

export interface ConvShape {
  name: string;
  batch: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
}

/**
 * The convolutions of a DDPM-style UNet on 28×28 inputs (levels 28 and 14), batch 64, and of the
 * mnist16 UNets (16×16 pixels, 4×4 latents), batch 32: the shapes the Winograd rule was measured on.
 */
export const UNET_SHAPES: ConvShape[] = [
  { name: '16x16 32->32', batch: 32, h: 16, w: 16, cin: 32, cout: 32, k: 3, stride: 1 },
  { name: '8x8 64->64', batch: 32, h: 8, w: 8, cin: 64, cout: 64, k: 3, stride: 1 },
  { name: '4x4 64->64', batch: 32, h: 4, w: 4, cin: 64, cout: 64, k: 3, stride: 1 },
  { name: '28x28 32->32', batch: 64, h: 28, w: 28, cin: 32, cout: 32, k: 3, stride: 1 },
  { name: '28x28 32->64', batch: 64, h: 28, w: 28, cin: 32, cout: 64, k: 3, stride: 1 },
  { name: '28x28 64->64 s2', batch: 64, h: 28, w: 28, cin: 64, cout: 64, k: 3, stride: 2 },
  { name: '14x14 64->128', batch: 64, h: 14, w: 14, cin: 64, cout: 128, k: 3, stride: 1 },
  { name: '14x14 128->128', batch: 64, h: 14, w: 14, cin: 128, cout: 128, k: 3, stride: 1 },
];

type Op = 'forward' | 'input-grad' | 'filter-grad' | 'maxpool' | 'maxpool-grad';

export interface KernelRow {
  backend: string;
  shape: string;
  op: Op;
  ms: number | null;
  gflops: number | null;
  /** ms relative to the forward op (conv or max-pool) at the same shape and backend. */
  vsForward: number | null;
  note?: string;
}

function convFlops(s: ConvShape): number {
  const oh = Math.ceil(s.h / s.stride), ow = Math.ceil(s.w / s.stride);
  return 2 * s.batch * oh * ow * s.k * s.k * s.cin * s.cout;
}

function benchShape(s: ConvShape, label: string, reps: number, skipFilter: boolean): KernelRow[] {
  label = `${label} (batch ${s.batch})`;
  const oh = Math.ceil(s.h / s.stride), ow = Math.ceil(s.w / s.stride);
  const x = tf.randomNormal([s.batch, s.h, s.w, s.cin]) as tf.Tensor4D;
  const w = tf.randomNormal([s.k, s.k, s.cin, s.cout]) as tf.Tensor4D;
  const dy = tf.randomNormal([s.batch, oh, ow, s.cout]) as tf.Tensor4D;
  const attrs = { strides: s.stride, pad: 'same', dataFormat: 'NHWC' };
  // tfjs-node queues work asynchronously; reading one element forces completion everywhere.
  const finish = (t: tf.Tensor) => { tf.tidy(() => t.flatten().slice(0, 1).dataSync()); t.dispose(); };
  const ops: Record<'forward' | 'input-grad' | 'filter-grad', () => void> = {
    forward: () => finish(tf.conv2d(x, w, s.stride, 'same')),
    'input-grad': () => finish(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor),
    'filter-grad': () => finish(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor),
  };
  if (skipFilter) delete (ops as Partial<typeof ops>)['filter-grad'];
  const flops = convFlops(s);
  const times = timeInterleaved(ops, reps);
  const fwdMs = times.forward.ms;
  const rows: KernelRow[] = (['forward', 'input-grad', 'filter-grad'] as const).map((op) => {
    const t = times[op];
    if (!t) return { backend: label, shape: s.name, op, ms: null, gflops: null, vsForward: null, note: 'no kernel registered' };
    return { backend: label, shape: s.name, op, ms: t.ms, gflops: flops / t.ms / 1e6, vsForward: t.ms / fwdMs };
  });
  tf.dispose([x, w, dy]);
  return rows;
}

/** 2×2 max-pool forward and gradient at the LeNet feature network's shapes (batch 64). */
export const POOL_SHAPES: [number, number, number, number][] = [[64, 28, 28, 16], [64, 14, 14, 32]];

function benchPool(shape: [number, number, number, number], label: string, reps: number): KernelRow[] {
  label = `${label} (batch ${shape[0]})`;
  const x = tf.randomNormal(shape) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  const finish = (t: tf.Tensor) => { tf.tidy(() => t.flatten().slice(0, 1).dataSync()); t.dispose(); };
  const times = timeInterleaved({
    maxpool: () => finish(tf.maxPool(x, 2, 2, 'valid')),
    'maxpool-grad': () => finish(tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor),
  }, reps);
  const name = `${shape[1]}x${shape[2]}x${shape[3]} maxpool 2`;
  const rows = (['maxpool', 'maxpool-grad'] as Op[]).map((op) => ({
    backend: label, shape: name, op, ms: times[op].ms, gflops: null, vsForward: times[op].ms / times.maxpool.ms,
  }));
  tf.dispose([x, y, dy]);
  return rows;
}

function fmt(v: number | null, digits: number): string {
  return v == null ? '—' : v.toFixed(digits);
}

export function printTable(rows: KernelRow[]): void {
  const header = ['backend', 'shape', 'op', 'ms', 'GFLOP/s', 'x fwd'];
  const body = rows.map((r) => [r.backend, r.shape, r.op, fmt(r.ms, 1), fmt(r.gflops, 2), r.ms == null ? (r.note ?? '—') : fmt(r.vsForward, 2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

export interface KernelBenchOptions {
  backends?: ComputeBackend[];
  reps?: number;
  /** Also time tfjs-backend-wasm's shipped kernels, for a before/after comparison. */
  shipped?: boolean;
  outDir?: string;
}

export async function benchKernels(opts: KernelBenchOptions = {}): Promise<KernelRow[]> {
  const backends = opts.backends ?? (await availableBackends());
  const rows: KernelRow[] = [];
  for (const b of backends) {
    await selectBackend(b);
    // On wasm: difflab's kernels; the same with every conv routed through XNNPACK (the gradient
    // kernels as they were before the SIMD conv kernels); and tfjs-backend-wasm as shipped.
    // Also Winograd F(2×2, 3×3) alone and the direct SIMD kernels, where the rule takes F(4×4, 3×3).
    const variants: { label: string; shipped: boolean; simd?: boolean; winograd?: (2 | 4)[] }[] = b === 'wasm'
      ? [{ label: 'wasm', shipped: false, simd: true, winograd: [2, 4] }, { label: 'wasm (Winograd F(2x2) only)', shipped: false, simd: true, winograd: [2] },
        { label: 'wasm (direct, no Winograd)', shipped: false, simd: true, winograd: [] },
        { label: 'wasm (XNNPACK convs)', shipped: false, simd: false },
        ...(opts.shipped !== false ? [{ label: 'wasm (as shipped)', shipped: true }] : [])]
      : [{ label: b, shipped: false }];
    for (const v of variants) {
      if (b === 'wasm') (v.shipped ? uninstallWasmKernels : installWasmKernels)();
      if (v.simd !== undefined) useSimdConv(v.simd);
      if (v.winograd !== undefined) setWinograd(v.winograd);
      // The pure-JS backend is ~50x slower (its filter gradient took 120 s per call at batch 64 here):
      // batch 8 and one timed run per op keep it to minutes; GFLOP/s stay comparable.
      const reps = b === 'cpu' ? 1 : (opts.reps ?? 5);
      const shapes = b === 'cpu' ? UNET_SHAPES.map((s) => ({ ...s, batch: 8 })) : UNET_SHAPES;
      for (const s of shapes) {
        const r = benchShape(s, v.label, reps, v.shipped);
        rows.push(...r);
        console.log(`[bench kernels] ${v.label} ${s.name}: ` + r.map((x) => `${x.op} ${fmt(x.ms, 1)} ms`).join(', '));
      }
      for (const shape of b === 'cpu' ? [] : POOL_SHAPES) {
        const r = benchPool(shape, v.label, reps);
        rows.push(...r);
        console.log(`[bench kernels] ${v.label} ${r[0].shape}: ` + r.map((x) => `${x.op} ${fmt(x.ms, 1)} ms`).join(', '));
      }
    }
    if (b === 'wasm') {
      installWasmKernels();
      useSimdConv(true);
      setWinograd([2, 4]);
    }
  }
  printTable(rows);
  const outDir = opts.outDir ?? path.join('results', 'bench');
  const file = path.join(outDir, `kernels-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileAtomic(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
  return rows;
}
