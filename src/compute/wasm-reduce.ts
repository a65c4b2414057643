// Sum over a run of axes that ends just before the last one, for the wasm backend: every axis but
// the last (a bias gradient: Σ over N, H, W of dy), or the middle ones (Σ over H, W per sample: the
// gradient of a per-sample, per-channel scale or shift broadcast over the pixels).
//
// tfjs-backend-wasm 4.22 reduces over such axes by transposing the reduced axes to the end and
// summing rows: for a [64, 16, 16, 32] gradient that took ~3 ms, against well under 1 ms for one
// sweep of per-channel SIMD sums (wasm-sweeps.ts). Sums run in float32 over chunks of 256 rows and
// in float64 across chunks. Other reductions go to the shipped kernel.
import { util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdRuntime } from './wasm-simd.js';
import { heapOffsets, sweeps } from './wasm-sweeps.js';
import { wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

const CHUNK = 256;

export function makeSumWasm(shipped: KernelFunc) {
  return function sumWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
    const { inputs: { x }, backend, attrs } = args;
    const rank = x.shape.length, c = x.shape[rank - 1];
    const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
    // The reduced axes: first..rank−2, consecutive.
    const first = axes[0];
    const run = axes.length > 0 && axes[axes.length - 1] === rank - 2 && axes.every((a, i) => a === first + i);
    if (x.dtype !== 'float32' || rank < 2 || !run || c % 4 !== 0 || !simdRuntime()) return shipped(args as never) as TensorInfo;
    const kept = x.shape.slice(0, first);
    const outer = util.sizeFromShape(kept), rows = util.sizeFromShape(x.shape.slice(first, -1));
    const out = backend.makeOutput(attrs.keepDims ? [...kept, ...axes.map(() => 1), c] : [...kept, c], 'float32');
    const scratch = backend.makeOutput([c], 'float32');
    const { H, at: [ox, oo, os] } = heapOffsets(backend, x, out, scratch);
    const sw = sweeps(H, c), acc = new Float64Array(c);
    for (let o = 0; o < outer; o++) {
      acc.fill(0);
      const base = ox + o * rows * c;
      for (let r = 0; r < rows; r += CHUNK) {
        sw.sum(base + r * c, Math.min(CHUNK, rows - r), c, os);
        for (let k = 0; k < c; k++) acc[k] += H[os + k];
      }
      H.set(acc, oo + o * c);
    }
    backend.disposeData(scratch.dataId);
    return out;
  };
}

const swap = wasmKernelSwap('Sum', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no Sum to fall back to');
  return makeSumWasm(shipped) as unknown as KernelFunc;
});

/** Registers the Sum kernel on wasm (idempotent); call after the backend initialises. */
export const installWasmSum = (): void => swap.install();
export const uninstallWasmSum = (): void => swap.uninstall();
