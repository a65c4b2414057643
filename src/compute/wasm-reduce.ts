// Sum over every axis but the last (a bias gradient: Σ over N, H, W of dy) for the wasm backend.
//
// tfjs-backend-wasm 4.22 reduces over leading axes by transposing the reduced axes to the end and
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
    const leading = axes.length === rank - 1 && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || rank < 2 || !leading || c % 4 !== 0 || !simdRuntime()) return shipped(args as never) as TensorInfo;
    const rows = util.sizeFromShape(x.shape) / c;
    const out = backend.makeOutput(attrs.keepDims ? [...x.shape.slice(0, -1).map(() => 1), c] : [c], 'float32');
    const scratch = backend.makeOutput([c], 'float32');
    const { H, at: [ox, oo, os] } = heapOffsets(backend, x, out, scratch);
    const sw = sweeps(H, c), acc = new Float64Array(c);
    for (let r = 0; r < rows; r += CHUNK) {
      sw.sum(ox + r * c, Math.min(CHUNK, rows - r), c, os);
      for (let k = 0; k < c; k++) acc[k] += H[os + k];
    }
    H.set(acc, oo);
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
