// tfjs-backend-wasm kernels that hand convolutions and matrix products to oneDNN, on the tensors in
// the wasm heap (no copies). What they do not cover (NCHW, dilation, negative padding, broadcasts
// between unequal batch shapes, empty tensors) goes to the kernel registered before them: difflab's
// wasm SIMD kernels.
import { backend_util, util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { addressOf, type ConvShape, type OneDnn } from './onednn.js';
import { wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;
interface ConvAttrs {
  strides: number | [number, number]; pad: Pad; dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

let dnn: OneDnn | undefined;

const addr = (backend: WasmBackendLike, t: TensorInfo): bigint => addressOf(backend.typedArrayFromHeap(t));

/** The oneDNN geometry of a tfjs NHWC conv, or undefined where these kernels do not apply. */
function convShape(xShape: number[], filterShape: number[], attrs: ConvAttrs): ConvShape | undefined {
  const dil = attrs.dilations ?? 1;
  const undilated = typeof dil === 'number' ? dil === 1 : dil[0] === 1 && dil[1] === 1;
  if (!undilated || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return undefined;
  const info = backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const p = info.padInfo;
  if (p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0) return undefined;
  const s: ConvShape = {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels, co: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth,
    padTop: p.top, padLeft: p.left, oh: info.outHeight, ow: info.outWidth,
  };
  if ([s.n, s.h, s.w, s.ci, s.co, s.oh, s.ow].some((v) => v <= 0)) return undefined;
  return s;
}

function conv2D(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { x: TensorInfo; filter: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { x, filter }, backend, attrs } = args;
    const s = x.dtype === 'float32' && dnn ? convShape(x.shape, filter.shape, attrs as unknown as ConvAttrs) : undefined;
    if (!s) return fallback(args as never);
    const y = backend.makeOutput([s.n, s.oh, s.ow, s.co], 'float32');
    // Addresses after the allocation (the heap does not move in V8, but stay with the rule).
    dnn!.convForward(s, addr(backend, x), addr(backend, filter), addr(backend, y));
    return y;
  }) as unknown as KernelFunc;
}

function conv2DBackpropInput(fallback: KernelFunc | undefined): KernelFunc {
  return ((args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { dy, filter }, backend, attrs } = args;
    const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
    const s = dy.dtype === 'float32' && dnn ? convShape(a.inputShape, filter.shape, a) : undefined;
    if (!s) {
      if (!fallback) throw new Error('Conv2DBackpropInput: no kernel for this case');
      return fallback(args as never);
    }
    const dx = backend.makeOutput([s.n, s.h, s.w, s.ci], 'float32');
    dnn!.convBackwardData(s, addr(backend, dy), addr(backend, filter), addr(backend, dx));
    return dx;
  }) as unknown as KernelFunc;
}

function conv2DBackpropFilter(fallback: KernelFunc | undefined): KernelFunc {
  return ((args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
    const s = x.dtype === 'float32' && dnn ? convShape(x.shape, a.filterShape, a) : undefined;
    if (!s) {
      if (!fallback) throw new Error('Conv2DBackpropFilter: no kernel for this case');
      return fallback(args as never);
    }
    const dw = backend.makeOutput([s.kh, s.kw, s.ci, s.co], 'float32');
    dnn!.convBackwardWeights(s, addr(backend, x), addr(backend, dy), addr(backend, dw));
    return dw;
  }) as unknown as KernelFunc;
}

function batchMatMul(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { a, b }, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!dnn || a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args as never);
    const ra = a.shape.length, rb = b.shape.length;
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const batchA = util.sizeFromShape(outerA), batchB = util.sizeFromShape(outerB);
    // Equal batch shapes, or one side a single matrix shared by every item of the other.
    const sameBatch = batchA === batchB && (batchA === 1 || util.arraysEqual(outerA, outerB));
    if (!sameBatch && batchA !== 1 && batchB !== 1) return fallback(args as never);
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    util.assert(k === kb, () => `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    if (m === 0 || n === 0 || k === 0) return fallback(args as never);
    const outOuter = backend_util.assertAndGetBroadcastShape(outerA, outerB);
    const out = backend.makeOutput([...outOuter, m, n], 'float32');
    dnn.matmul({ batchA, batchB, m, k, n, transposeA, transposeB }, addr(backend, a), addr(backend, b), addr(backend, out));
    return out;
  }) as unknown as KernelFunc;
}

const swaps = [
  wasmKernelSwap('Conv2D', (prev) => {
    if (!prev) throw new Error('no Conv2D kernel registered on wasm to fall back to');
    return conv2D(prev);
  }),
  wasmKernelSwap('Conv2DBackpropInput', (prev) => conv2DBackpropInput(prev)),
  wasmKernelSwap('Conv2DBackpropFilter', (prev) => conv2DBackpropFilter(prev)),
  wasmKernelSwap('BatchMatMul', (prev) => {
    if (!prev) throw new Error('no BatchMatMul kernel registered on wasm to fall back to');
    return batchMatMul(prev);
  }),
];

/**
 * Routes Conv2D, both its gradients and BatchMatMul on the wasm backend to `lib` (idempotent). Install
 * after difflab's wasm kernels: those are what unsupported cases fall back to.
 */
export function installOneDnnKernels(lib: OneDnn): void {
  dnn = lib;
  for (const s of swaps) s.install();
}

/** Puts back the kernels registered before (difflab's wasm kernels). */
export function uninstallOneDnnKernels(): void {
  for (const s of [...swaps].reverse()) s.uninstall();
}

export function oneDnnKernelsInstalled(): boolean {
  return dnn !== undefined && swaps.every((s) => s.installed);
}
