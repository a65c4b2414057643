// tfjs-backend-wasm kernels that hand convolutions and matrix products to oneDNN, on the tensors in
// the wasm heap (no copies). What they do not cover (NCHW, dilation, negative padding, broadcasts
// between unequal batch shapes, empty tensors) goes to the kernel registered before them: difflab's
// wasm SIMD kernels.
import { backend_util, slice_util, util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { addressOf, type ConvShape, type OneDnn } from './onednn.js';
import { matMulDims } from './wasm-matmul.js';
import { SILU, SILU_GRAD } from './silu.js';
import { CONV_BIAS } from './conv-bias.js';
import { runWasmKernel, wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

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

/** conv2d + bias in one oneDNN primitive; geometries it does not cover run wasm's Conv2D, then Add. */
function conv2DBias(args: { inputs: { x: TensorInfo; filter: TensorInfo; bias: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
  const { inputs: { x, filter, bias }, backend, attrs } = args;
  const s = dnn ? convShape(x.shape, filter.shape, attrs as unknown as ConvAttrs) : undefined;
  if (!s) {
    const y = runWasmKernel('Conv2D', backend, { x, filter }, { ...attrs, dataFormat: 'NHWC', dilations: 1 });
    const out = runWasmKernel('Add', backend, { a: y, b: bias });
    backend.disposeData(y.dataId);
    return out;
  }
  const y = backend.makeOutput([s.n, s.oh, s.ow, s.co], 'float32');
  dnn!.convForward(s, addr(backend, x), addr(backend, filter), addr(backend, y), addr(backend, bias));
  return y;
}

function conv2DBackpropInput(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { dy, filter }, backend, attrs } = args;
    const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
    const s = dy.dtype === 'float32' && dnn ? convShape(a.inputShape, filter.shape, a) : undefined;
    if (!s) return fallback(args as never);
    const dx = backend.makeOutput([s.n, s.h, s.w, s.ci], 'float32');
    dnn!.convBackwardData(s, addr(backend, dy), addr(backend, filter), addr(backend, dx));
    return dx;
  }) as unknown as KernelFunc;
}

function conv2DBackpropFilter(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
    const s = x.dtype === 'float32' && dnn ? convShape(x.shape, a.filterShape, a) : undefined;
    if (!s) return fallback(args as never);
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
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const batchA = util.sizeFromShape(outerA), batchB = util.sizeFromShape(outerB);
    // Equal batch shapes, or one side a single matrix shared by every item of the other.
    const sameBatch = batchA === batchB && (batchA === 1 || util.arraysEqual(outerA, outerB));
    if (!sameBatch && batchA !== 1 && batchB !== 1) return fallback(args as never);
    const { m, k, n } = matMulDims(a, b, transposeA, transposeB);
    if (m === 0 || n === 0 || k === 0) return fallback(args as never);
    const outOuter = backend_util.assertAndGetBroadcastShape(outerA, outerB);
    const out = backend.makeOutput([...outOuter, m, n], 'float32');
    dnn.matmul({ batchA, batchB, m, k, n, transposeA, transposeB }, addr(backend, a), addr(backend, b), addr(backend, out));
    return out;
  }) as unknown as KernelFunc;
}

/**
 * A slice as rows of one contiguous run each, evenly spaced in the source: every axis before the
 * last partial one taken whole. Returns [rows, run, source row stride, source offset] in floats.
 */
function blockOf(shape: number[], begin: number[], size: number[]): [number, number, number, number] | undefined {
  const rank = shape.length;
  let d = rank - 1, run = size[d];
  while (d > 0 && size[d] === shape[d]) { d--; run *= size[d]; }
  for (let k = 0; k < d; k++) if (begin[k] !== 0 || size[k] !== shape[k]) return undefined;
  let inner = 1;
  for (let k = d + 1; k < rank; k++) inner *= shape[k];
  const rows = d === 0 ? 1 : util.sizeFromShape(shape.slice(0, d));
  return [rows, run, shape[d] * inner, begin[d] * inner];
}

const FLOAT_BYTES = 4n;

function slice(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { x }, backend, attrs } = args;
    if (!dnn || x.dtype !== 'float32') return fallback(args as never);
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin as number[], attrs.size as number[]);
    const b = util.sizeFromShape(size) > 0 ? blockOf(x.shape, begin, size) : undefined;
    if (!b) return fallback(args as never);
    const out = backend.makeOutput(size, 'float32');
    dnn.copyBlock(b[0], b[1], b[2], b[1], addr(backend, x) + BigInt(b[3]) * FLOAT_BYTES, addr(backend, out));
    return out;
  }) as unknown as KernelFunc;
}

function splitV(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { x }, backend, attrs } = args;
    if (!dnn || x.dtype !== 'float32' || util.sizeFromShape(x.shape) === 0) return fallback(args as never);
    const axis = util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits as number[] | number, axis);
    const begin = new Array(x.shape.length).fill(0), size = x.shape.slice();
    const blocks = sizes.map((s) => {
      size[axis] = s;
      const bl = s > 0 ? blockOf(x.shape, begin, size) : undefined;
      begin[axis] += s;
      return bl;
    });
    if (blocks.some((bl, i) => !bl && sizes[i] > 0)) return fallback(args as never);
    const outs = sizes.map((s) => backend.makeOutput(x.shape.map((v, k) => (k === axis ? s : v)), 'float32'));
    const px = addr(backend, x);
    outs.forEach((o, i) => {
      const bl = blocks[i];
      if (bl) dnn!.copyBlock(bl[0], bl[1], bl[2], bl[1], px + BigInt(bl[3]) * FLOAT_BYTES, addr(backend, o));
    });
    return outs;
  }) as unknown as KernelFunc;
}

function concat(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: TensorInfo[]; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs, backend, attrs } = args;
    if (!dnn || inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32')) return fallback(args as never);
    const axis = util.parseAxisParam(attrs.axis as number, inputs[0].shape)[0];
    const outShape = backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    if (util.sizeFromShape(outShape) === 0) return fallback(args as never);
    const rows = util.sizeFromShape(outShape.slice(0, axis)), total = util.sizeFromShape(outShape.slice(axis));
    const out = backend.makeOutput(outShape, 'float32');
    const po = addr(backend, out);
    let col = 0;
    for (const t of inputs) {
      const w = util.sizeFromShape(t.shape.slice(axis));
      if (w > 0) dnn.copyBlock(rows, w, w, total, addr(backend, t), po + BigInt(col) * FLOAT_BYTES);
      col += w;
    }
    return out;
  }) as unknown as KernelFunc;
}

/** x·σ(x) in one pass (tfjs computes it as Sigmoid, then Multiply). */
function silu(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike }): TensorInfo {
  const { inputs: { x }, backend } = args;
  const y = backend.makeOutput(x.shape, 'float32');
  const n = util.sizeFromShape(x.shape);
  if (n > 0) dnn!.siluForward(n, addr(backend, x), addr(backend, y));
  return y;
}

/** Its gradient in one pass, where tfjs's tape runs about six kernels (Multiply's and Sigmoid's). */
function siluGrad(args: { inputs: { dy: TensorInfo; x: TensorInfo }; backend: WasmBackendLike }): TensorInfo {
  const { inputs: { dy, x }, backend } = args;
  const dx = backend.makeOutput(x.shape, 'float32');
  const n = util.sizeFromShape(x.shape);
  if (n > 0) dnn!.siluBackward(n, addr(backend, x), addr(backend, dy), addr(backend, dx));
  return dx;
}

/**
 * The gradient of a nearest-neighbour upsampling by integer factors (tfjs's default corners and
 * centres): the sum of dy over each input pixel's block, as oneDNN's resampling backward.
 */
function resizeNearestNeighborGrad(fallback: KernelFunc): KernelFunc {
  return ((args: { inputs: { images: TensorInfo; dy: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }) => {
    const { inputs: { images, dy }, backend, attrs } = args;
    const [n, h, w, c] = images.shape, [, oh, ow] = dy.shape;
    const integral = h > 0 && w > 0 && oh % h === 0 && ow % w === 0;
    if (!dnn || dy.dtype !== 'float32' || attrs.alignCorners || attrs.halfPixelCenters || !integral || n * c === 0) return fallback(args as never);
    const dx = backend.makeOutput(images.shape, 'float32');
    dnn.resizeNearestBackward({ n, h, w, c, oh, ow }, addr(backend, dy), addr(backend, dx));
    return dx;
  }) as unknown as KernelFunc;
}

/** A kernel tfjs does not have, registered on wasm while oneDNN's kernels are in (none to fall back to). */
const own = (name: string, kernelFunc: KernelFunc) => wasmKernelSwap(name, () => kernelFunc);

/** oneDNN's kernel for `name`, falling back to the one registered before it (difflab's wasm kernel). */
const over = (name: string, make: (fallback: KernelFunc) => KernelFunc) => wasmKernelSwap(name, (prev) => {
  if (!prev) throw new Error(`no ${name} kernel registered on wasm to fall back to`);
  return make(prev);
});

const swaps = [
  over('Conv2D', conv2D), over('Conv2DBackpropInput', conv2DBackpropInput), over('Conv2DBackpropFilter', conv2DBackpropFilter),
  over('BatchMatMul', batchMatMul), over('Slice', slice), over('SplitV', splitV), over('Concat', concat),
  over('ResizeNearestNeighborGrad', resizeNearestNeighborGrad),
  own(SILU, silu as unknown as KernelFunc), own(SILU_GRAD, siluGrad as unknown as KernelFunc),
  own(CONV_BIAS, conv2DBias as unknown as KernelFunc),
];

/**
 * Routes Conv2D, both its gradients, BatchMatMul, the trailing-axis Slice, SplitV and Concat
 * (strided copies as oneDNN reorders), the nearest-upsampling gradient and SiLU with its gradient
 * on the wasm backend to `lib` (idempotent). Install
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
