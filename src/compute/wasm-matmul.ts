// BatchMatMul for the wasm backend that always reaches XNNPACK.
//
// tfjs-backend-wasm 4.22 sends a matmul to XNNPACK only when both operands have batch 1 and neither
// is transposed; everything else (attention's batched q·kᵀ, and both gradients of every matmul, which
// are transposed products) runs a scalar blocked loop, measured here at 1.6 GFLOP/s against 12 GFLOP/s
// through XNNPACK. This kernel makes transposes explicit with the backend's fast [0, 2, 1] transpose,
// folds a batch-shared right operand into one big product, and otherwise loops the XNNPACK path over
// the batch.
import { util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdRuntime } from './wasm-simd.js';
import { convKernel, convSpec, simdConvSupports } from './wasm-simd-conv.js';
import { heapAddress, runWasmKernel as run, wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

/**
 * Batch item i of a [B, R, C] tensor as a new [1, R, C] tensor. The item is contiguous, so a heap copy
 * does it; the wasm Slice kernel took ~2.5 ms for each 196×64 item here.
 */
function batchItem(backend: WasmBackendLike, t: TensorInfo, i: number): TensorInfo {
  const [, r, c] = t.shape;
  const out = backend.makeOutput([1, r, c], 'float32');
  // Both views after the allocation, which may have grown (and so moved) the wasm heap.
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(t).subarray(i * r * c, (i + 1) * r * c));
  return out;
}

/** M, K, N of op(A) · op(B) for tfjs's BatchMatMul operands, checking that the inner sizes agree. */
export function matMulDims(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { m: number; k: number; n: number } {
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  util.assert(k === kb, () => `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  return { m, k, n };
}

export function makeBatchMatMulWasm(shipped: KernelFunc) {
  /** The shipped kernel on [1, M, K] × [1, K, N] without transposes: its XNNPACK path. */
  const xnn = (backend: WasmBackendLike, a: TensorInfo, b: TensorInfo) =>
    shipped({ inputs: { a, b } as never, backend: backend as never, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;

  return function batchMatMulWasm(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
    const { inputs: { a, b }, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return shipped(args as never) as TensorInfo;
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const batchA = util.sizeFromShape(outerA), batchB = util.sizeFromShape(outerB);
    // Broadcasting between unequal batch shapes other than 1 is left to the shipped kernel.
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return shipped(args as never) as TensorInfo;
    if (batchA === batchB && batchA > 1 && !util.arraysEqual(outerA, outerB)) return shipped(args as never) as TensorInfo;
    const { m, k, n } = matMulDims(a, b, transposeA, transposeB);
    const outOuter = batchA >= batchB ? outerA : outerB;
    const batch = Math.max(batchA, batchB);

    const temps: TensorInfo[] = [];
    const as3 = (t: TensorInfo, bt: number, r: number, c: number, tr: boolean): TensorInfo => {
      const t3 = run('Reshape', backend, { x: t }, { shape: [bt, r, c] });
      temps.push(t3);
      if (!tr) return t3;
      const tt = run('Transpose', backend, { x: t3 }, { perm: [0, 2, 1] });
      temps.push(tt);
      return tt;
    };
    const rt = simdRuntime();
    if (rt && m > 0 && n > 0 && k > 0 && simdConvSupports(n)) {
      // difflab's SIMD kernels as 1×1 convolutions, batch item by batch item, in place: A·B is a
      // forward conv of A's rows with filter B; Aᵀ·B is the filter gradient with A's rows as pixels.
      // Only a transposed B is made explicit.
      const b3 = transposeB ? as3(b, batchB, n, k, true) : b;
      const out = backend.makeOutput([...outOuter, m, n], 'float32');
      if (transposeA) backend.typedArrayFromHeap(out).fill(0);
      // Addresses after the last allocation.
      const pa = heapAddress(backend, a), pb = heapAddress(backend, b3), po = heapAddress(backend, out);
      const sa = batchA === 1 ? 0 : 4 * m * k, sb = batchB === 1 ? 0 : 4 * k * n, so = 4 * m * n;
      if (!transposeA) {
        const kernel = convKernel(rt, 'forward', convSpec(k, n, 1, 1, 1, 1, 1, m));
        if (batchB === 1) kernel(pa, pb, po, batch); // B shared: the batch is the image axis
        else for (let i = 0; i < batch; i++) kernel(pa + i * sa, pb + i * sb, po + i * so, 1);
      } else {
        // The filter kernel sums over "pixels" (here the K rows), image by image. Rows in chunks of
        // at most 128 keep a tile's operands in cache: one 4096-row pass per tile ran at 11 GFLOP/s.
        const chunk = Math.min(k, 128), full = Math.floor(k / chunk), rest = k - full * chunk;
        const spec = (rows: number) => convSpec(m, n, 1, 1, 1, 1, 1, rows);
        const main = convKernel(rt, 'filter', spec(chunk)), tail = rest > 0 ? convKernel(rt, 'filter', spec(rest)) : undefined;
        for (let i = 0; i < batch; i++) {
          main(pa + i * sa, pb + i * sb, po + i * so, full);
          tail?.(pa + i * sa + 4 * full * chunk * m, pb + i * sb + 4 * full * chunk * n, po + i * so, 1);
        }
      }
      for (const t of temps) backend.disposeData(t.dataId);
      return out;
    }

    // Operands as [batch, M, K] and [batch, K, N], transposes made explicit.
    const a3 = transposeA ? as3(a, batchA, k, m, true) : as3(a, batchA, m, k, false);
    const b3 = transposeB ? as3(b, batchB, n, k, true) : as3(b, batchB, k, n, false);

    let out: TensorInfo;
    if (batchB === 1) {
      // One right operand for every batch item: a single [batch·M, K] × [K, N] product.
      const aFlat = run('Reshape', backend, { x: a3 }, { shape: [1, batch * m, k] });
      temps.push(aFlat);
      const prod = xnn(backend, aFlat, b3);
      out = run('Reshape', backend, { x: prod }, { shape: [...outOuter, m, n] });
      backend.disposeData(prod.dataId);
    } else {
      out = backend.makeOutput([...outOuter, m, n], 'float32');
      for (let i = 0; i < batch; i++) {
        const ai = batchA === 1 ? a3 : batchItem(backend, a3, i);
        const bi = batchItem(backend, b3, i);
        const pi = xnn(backend, ai, bi);
        // Views taken after the product: an allocation may have grown (and so moved) the wasm heap.
        backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(pi), i * m * n);
        for (const t of [pi, bi, ...(ai === a3 ? [] : [ai])]) backend.disposeData(t.dataId);
      }
    }
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };
}

const swap = wasmKernelSwap('BatchMatMul', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no BatchMatMul to route through XNNPACK');
  return makeBatchMatMulWasm(shipped) as unknown as KernelFunc;
});

/** Registers the XNNPACK-routed BatchMatMul on wasm (idempotent); call after the backend initialises. */
export const installWasmMatMul = (): void => swap.install();
export const uninstallWasmMatMul = (): void => swap.uninstall();
