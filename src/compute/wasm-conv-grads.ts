// Conv2D gradient kernels for the wasm backend, built from its own XNNPACK-backed conv2d.
//
// tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter (so tf.grad through a conv throws) and
// its Conv2DBackpropInput is a scalar loop roughly 10x slower than its conv2d. Both gradients are
// convolutions in disguise; expressing them as such puts all their FLOPs through XNNPACK.
//
// Covered: NHWC, dilation 1 (tfjs-core's conv gradients reject dilation > 1 anyway), any stride,
// any kernel size, 'same' / 'valid' / explicit padding. Anything else (NCHW) falls back to the
// shipped Conv2DBackpropInput; there is no shipped filter gradient to fall back to, so NCHW throws.
import { backend_util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdRuntime } from './wasm-simd.js';
import { convKernel, convSpec, simdConvSupports, type ConvSpec } from './wasm-simd-conv.js';
import { filterGradTransform, filterTransform, winogradConv, winogradFilterGrad, winogradFilterGradTile, winogradScratch, winogradTile } from './wasm-winograd.js';
import { freeAll as free, heapAddress as address, runWasmKernel as run, wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

function reshape(backend: WasmBackendLike, x: TensorInfo, shape: number[]): TensorInfo {
  return run('Reshape', backend, { x }, { shape });
}

function transpose(backend: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo {
  return run('Transpose', backend, { x }, { perm });
}

/**
 * [A, B, C, D] -> [D, B, C, A]. The wasm Transpose is a plain loop whose inner stride here would be
 * the whole tensor; two transposes with short inner strides are cache-friendly and ~2x faster.
 */
function swapOuterInner(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  const [a, b, c, d] = x.shape;
  const x3 = reshape(backend, x, [a, b * c, d]);
  const t1 = transpose(backend, x3, [0, 2, 1]); // [A, D, BC]
  const t2 = transpose(backend, t1, [1, 2, 0]); // [D, BC, A]
  const out = reshape(backend, t2, [d, b, c, a]);
  free(backend, x3, t1, t2);
  return out;
}

/** Slice rows/cols off (negative amounts) so that only non-negative padding remains. */
function cropNegative(backend: WasmBackendLike, x: TensorInfo, top: number, bottom: number, left: number, right: number): {
  x: TensorInfo; pads: [number, number, number, number]; owned: boolean;
} {
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return { x, pads: [top, bottom, left, right], owned: false };
  const [n, h, w, c] = x.shape;
  const t0 = Math.max(0, -top), b0 = Math.max(0, -bottom), l0 = Math.max(0, -left), r0 = Math.max(0, -right);
  const sliced = run('Slice', backend, { x }, { begin: [0, t0, l0, 0], size: [n, h - t0 - b0, w - l0 - r0, c] });
  return { x: sliced, pads: [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)], owned: true };
}

/**
 * x[n, h, w, c] placed at (top, left) in a zero [n, hp, wp, c] tensor: rows and columns that fall
 * outside are dropped (negative top/left or a short hp/wp crop). Returns x itself when nothing moves.
 */
function placed(backend: WasmBackendLike, x: TensorInfo, top: number, left: number, hp: number, wp: number): { t: TensorInfo; owned: boolean } {
  const [n, h, w, c] = x.shape;
  if (top === 0 && left === 0 && hp === h && wp === w) return { t: x, owned: false };
  const t = backend.makeOutput([n, hp, wp, c], 'float32');
  const src = backend.typedArrayFromHeap(x), dst = backend.typedArrayFromHeap(t);
  dst.fill(0);
  const i0 = Math.max(0, -top), i1 = Math.min(h, hp - top), j0 = Math.max(0, -left), j1 = Math.min(w, wp - left);
  if (i1 <= i0 || j1 <= j0) return { t, owned: true };
  for (let b = 0; b < n; b++) {
    if (j0 === 0 && j1 === w && w === wp) {
      // Whole rows line up: one copy per image.
      dst.set(src.subarray((b * h + i0) * w * c, (b * h + i1) * w * c), ((b * hp + i0 + top) * wp) * c);
      continue;
    }
    for (let i = i0; i < i1; i++) {
      dst.set(src.subarray(((b * h + i) * w + j0) * c, ((b * h + i) * w + j1) * c), ((b * hp + i + top) * wp + j0 + left) * c);
    }
  }
  return { t, owned: true };
}

/**
 * The tensors of one Winograd call: x padded as the kernels read it, the transform scratch (v, u, m;
 * see winogradScratch) and the output; `free` releases all but the output.
 */
function winogradBuffers(backend: WasmBackendLike, x: TensorInfo, top: number, left: number, spec: ConvSpec, tile: 2 | 4, outShape: number[]) {
  const xp = placed(backend, x, top, left, spec.hp, spec.wp);
  const size = winogradScratch(spec, tile, x.shape[0]);
  const v = backend.makeOutput([size.v], 'float32'), u = backend.makeOutput([size.u], 'float32'), m = backend.makeOutput([size.m], 'float32');
  const out = backend.makeOutput(outShape, 'float32');
  return { xp: xp.t, v, u, m, out, free: () => { free(backend, v, u, m); if (xp.owned) free(backend, xp.t); } };
}

/**
 * Convolution through difflab's SIMD kernel (wasm-simd-conv.ts), undefined where it does not apply
 * (runtime not initialised, output channels not a multiple of 4): the caller falls back to XNNPACK.
 * The input is read from row −top, column −left; out-of-range rows and columns are zeros.
 */
function simdConv(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, sh: number, sw: number, top: number, left: number, oh: number, ow: number): TensorInfo | undefined {
  const rt = simdRuntime();
  const [n, , , cin] = x.shape;
  const [kh, kw, , cout] = filter.shape;
  if (!rt || !simdConvSupports(cout)) return undefined;
  const spec = convSpec(cin, cout, kh, kw, sh, sw, oh, ow);
  const tile = n > 0 ? winogradTile(spec) : 0;
  if (tile) {
    const w = winogradBuffers(backend, x, top, left, spec, tile, [n, oh, ow, cout]);
    // Views and addresses after the last allocation (it may have moved the heap).
    filterTransform(tile, backend.typedArrayFromHeap(filter), cin, cout, backend.typedArrayFromHeap(w.u));
    winogradConv(rt, spec, tile, n, address(backend, w.xp), address(backend, w.u), address(backend, w.v), address(backend, w.m), address(backend, w.out));
    w.free();
    return w.out;
  }
  const kernel = convKernel(rt, 'forward', spec);
  const xp = placed(backend, x, top, left, spec.hp, spec.wp);
  const out = backend.makeOutput([n, oh, ow, cout], 'float32');
  if (n > 0 && oh > 0 && ow > 0) kernel(address(backend, xp.t), address(backend, filter), address(backend, out), n);
  if (xp.owned) free(backend, xp.t);
  return out;
}

/** A stride-1 conv (dilated for the strided filter gradient) through the registered Conv2D: difflab's SIMD kernel where it applies, else XNNPACK. */
function conv(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, pads: [number, number, number, number], dilation: [number, number]): TensorInfo {
  const [t, b, l, r] = pads;
  return run('Conv2D', backend, { x, filter }, {
    strides: [1, 1], pad: [[0, 0], [t, b], [l, r], [0, 0]], dilations: dilation, dataFormat: 'NHWC', dimRoundingMode: undefined,
  });
}

function convInfoOf(xShape: number[], filterShape: number[], attrs: NamedAttrMap): backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as {
    strides: number | [number, number]; pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat ?? 'NHWC'));
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x_pad[n, oh·s+kh, ow·s+kw, ci] · dy[n,oh,ow,co] is itself a convolution
 * in which the batch N becomes the reduced channel axis. Two arrangements exist:
 *  - "x as input": xᵀ = [ci, H, W, N] convolved with dyᵀ = [OH, OW, N, co] as a filter of dilation s,
 *    giving [ci, KH, KW, co];
 *  - "dy as input" (stride 1 only): dyᵀ = [co, OH, OW, N] convolved with x as a filter [H, W, N, ci],
 *    giving [co, KH, KW, ci] with the kernel taps reversed.
 * XNNPACK runs the one with more output rows (a larger leading batch) faster: measured on 64×28×28,
 * 32→64 channels, 104 ms against 166 ms. Both put every FLOP through its conv.
 */
export function conv2DBackpropFilterWasm(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
  const { inputs: { x, dy }, backend, attrs } = args;
  const filterShape = attrs.filterShape as unknown as number[];
  const info = convInfoOf(x.shape, filterShape, attrs);
  if (info.dataFormat !== 'channelsLast') {
    throw new Error(`Conv2DBackpropFilter on wasm supports only NHWC data (got ${attrs.dataFormat}); use dataFormat 'NHWC'.`);
  }
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow,
    inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const rt = simdRuntime();
  if (rt && simdConvSupports(co)) {
    const spec = convSpec(ci, co, kh, kw, sh, sw, oh, ow);
    const n = x.shape[0];
    const tile = n > 0 ? winogradFilterGradTile(spec) : 0;
    if (tile) {
      // Scratch m holds Z (the transformed dy), u the filter gradient's a² products.
      const w = winogradBuffers(backend, x, top, left, spec, tile, [kh, kw, ci, co]);
      backend.typedArrayFromHeap(w.u).fill(0);
      winogradFilterGrad(rt, spec, tile, n, address(backend, w.xp), address(backend, dy), address(backend, w.v), address(backend, w.m), address(backend, w.u));
      filterGradTransform(tile, backend.typedArrayFromHeap(w.u), ci, co, backend.typedArrayFromHeap(w.out));
      w.free();
      return w.out;
    }
    // Direct SIMD kernel: dW[tap] = Σ x_pad[tap-shifted pixels]ᵀ · dy, no transposes.
    const kernel = convKernel(rt, 'filter', spec);
    const xp = placed(backend, x, top, left, spec.hp, spec.wp);
    const out = backend.makeOutput([kh, kw, ci, co], 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    if (n > 0 && oh > 0 && ow > 0) kernel(address(backend, xp.t), address(backend, dy), address(backend, out), n);
    if (xp.owned) free(backend, xp.t);
    return out;
  }
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');

  if (sh === 1 && sw === 1 && co > ci) {
    // out'[co, a, b, ci] = Σ_{n,i,j} dy_pad[n, a+i, b+j, co] · x[n, i, j, ci] with dy padded by K−1−pad
    // in front, so a = K−1−kh: dW[kh, kw] = out'[:, K−1−kh, K−1−kw, :]ᵀ.
    const crop = cropNegative(backend, dy, kh - 1 - top, h - oh + top, kw - 1 - left, w - ow + left);
    const dyT = swapOuterInner(backend, crop.x); // [co, OH', OW', N]
    const xT = transpose(backend, x, [1, 2, 0, 3]); // [H, W, N, ci]
    const g = conv(backend, dyT, xT, crop.pads, [1, 1]); // [co, KH, KW, ci]
    reorderFilterGrad(backend.typedArrayFromHeap(g), backend.typedArrayFromHeap(out), kh, kw, ci, co, true);
    free(backend, dyT, xT, g);
    if (crop.owned) free(backend, crop.x);
    return out;
  }
  // Rows of the padded input that the forward conv actually reads: exactly (OH−1)·s + K of them.
  const bottom = (oh - 1) * sh + kh - h - top;
  const right = (ow - 1) * sw + kw - w - left;
  const crop = cropNegative(backend, x, top, bottom, left, right);
  const xT = swapOuterInner(backend, crop.x); // [ci, H', W', N]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, N, co]
  const g = conv(backend, xT, dyT, crop.pads, [sh, sw]); // [ci, KH, KW, co]
  reorderFilterGrad(backend.typedArrayFromHeap(g), backend.typedArrayFromHeap(out), kh, kw, ci, co, false);
  free(backend, xT, dyT, g);
  if (crop.owned) free(backend, crop.x);
  return out;
}

/**
 * Writes dW[kh, kw, ci, co] from g = [ci, KH, KW, co] or, when `reversed`, from g = [co, KH, KW, ci]
 * with taps reversed. The filter is small, so one JS pass beats wasm's scalar Reverse + Transpose.
 */
function reorderFilterGrad(g: Float32Array, dst: Float32Array, kh: number, kw: number, ci: number, co: number, reversed: boolean): void {
  let o = 0;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let c = 0; c < ci; c++) {
        if (reversed) {
          const base = ((kh - 1 - a) * kw + (kw - 1 - b)) * ci + c;
          const stride = kh * kw * ci;
          for (let d = 0; d < co; d++) dst[o++] = g[d * stride + base];
        } else {
          const src = ((c * kh + a) * kw + b) * co;
          dst.set(g.subarray(src, src + co), o);
          o += co;
        }
      }
    }
  }
}

/**
 * dx = Σ over taps of dy scattered back through the filter. With stride s the input rows split into
 * s phases (row i receives only taps kh ≡ i+pad (mod s)), and each phase is a stride-1 convolution of
 * dy with the reversed, channel-swapped sub-filter W[r::s]. So dx costs the same FLOPs as the forward
 * conv, with no multiplications by inserted zeros; the phases are interleaved into dx afterwards.
 */
export function makeConv2DBackpropInputWasm(fallback: KernelFunc | undefined) {
  return function conv2DBackpropInputWasm(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
    const { inputs: { dy, filter }, backend, attrs } = args;
    const inputShape = attrs.inputShape as unknown as number[];
    const info = convInfoOf(inputShape, filter.shape, attrs);
    if (info.dataFormat !== 'channelsLast') {
      if (fallback == null) throw new Error(`Conv2DBackpropInput on wasm: dataFormat ${attrs.dataFormat} is not supported`);
      return fallback(args as never) as TensorInfo;
    }
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow,
      inHeight: h, inWidth: w, inChannels: ci, batchSize: n } = info;
    const { top: pt, left: pl } = info.padInfo;

    // Rows in padded coordinates i' = i + pad are q·s + r; q0..q1 covers every i in [0, H).
    const q0h = Math.floor(pt / sh), q1h = Math.ceil((pt + h) / sh), qh = q1h - q0h;
    const q0w = Math.floor(pl / sw), q1w = Math.ceil((pl + w) / sw), qw = q1w - q0w;

    if (sh === 1 && sw === 1) {
      const wr = flippedSubFilter(backend, filter, 0, 1, kh, 0, 1, kw);
      const crop = cropNegative(backend, dy, kh - 1 - q0h, q1h - oh, kw - 1 - q0w, q1w - ow);
      const out = conv(backend, crop.x, wr, crop.pads, [1, 1]);
      free(backend, wr);
      if (crop.owned) free(backend, crop.x);
      return out;
    }

    const out = backend.makeOutput([n, h, w, ci], 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    for (let rh = 0; rh < sh; rh++) {
      const mh = Math.max(0, Math.ceil((kh - rh) / sh));
      for (let rw = 0; rw < sw; rw++) {
        const mw = Math.max(0, Math.ceil((kw - rw) / sw));
        if (mh === 0 || mw === 0) continue; // no tap lands on this phase: its rows stay zero
        // Taps kh = rh + s·m, reversed: flipped-filter rows from KH−1−rh−s·(M−1), stride s.
        const sub = flippedSubFilter(backend, filter, kh - 1 - rh - sh * (mh - 1), sh, mh, kw - 1 - rw - sw * (mw - 1), sw, mw);
        const crop = cropNegative(backend, dy, mh - 1 - q0h, q1h - oh, mw - 1 - q0w, q1w - ow);
        const phase = conv(backend, crop.x, sub, crop.pads, [1, 1]); // [N, qh, qw, ci]
        // Views are taken after the conv: an allocation may have grown (and so moved) the wasm heap.
        interleavePhase(backend.typedArrayFromHeap(phase), backend.typedArrayFromHeap(out), { n, qh, qw, ci, h, w, sh, sw, rh, rw, offH: q0h * sh - pt, offW: q0w * sw - pl });
        free(backend, sub, phase);
        if (crop.owned) free(backend, crop.x);
      }
    }
    return out;
  };
}

/**
 * The reversed, channel-swapped (sub-)filter wr[j, l, co, ci] = W[KH−1−(a0 + sa·j), KW−1−(b0 + sb·l), ci, co]
 * for j < na, l < nb, built in one JS pass: the filter is small, and wasm's Reverse and StridedSlice
 * kernels are scalar loops with a high per-element cost.
 */
function flippedSubFilter(backend: WasmBackendLike, filter: TensorInfo, a0: number, sa: number, na: number, b0: number, sb: number, nb: number): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const out = backend.makeOutput([na, nb, co, ci], 'float32');
  const src = backend.typedArrayFromHeap(filter), dst = backend.typedArrayFromHeap(out);
  let o = 0;
  for (let j = 0; j < na; j++) {
    const row = kh - 1 - (a0 + sa * j);
    for (let l = 0; l < nb; l++) {
      const base = (row * kw + (kw - 1 - (b0 + sb * l))) * ci * co;
      for (let c = 0; c < co; c++) {
        for (let i = 0; i < ci; i++) dst[o++] = src[base + i * co + c];
      }
    }
  }
  return out;
}

/** Writes phase (rh, rw) of a strided input gradient into its rows/cols of dx, dropping padding rows. */
function interleavePhase(src: Float32Array, dst: Float32Array, g: {
  n: number; qh: number; qw: number; ci: number; h: number; w: number; sh: number; sw: number; rh: number; rw: number; offH: number; offW: number;
}): void {
  const { n, qh, qw, ci, h, w, sh, sw, rh, rw, offH, offW } = g;
  for (let b = 0; b < n; b++) {
    for (let q = 0; q < qh; q++) {
      const i = q * sh + rh + offH;
      if (i < 0 || i >= h) continue;
      for (let p = 0; p < qw; p++) {
        const j = p * sw + rw + offW;
        if (j < 0 || j >= w) continue;
        const s = ((b * qh + q) * qw + p) * ci;
        dst.set(src.subarray(s, s + ci), ((b * h + i) * w + j) * ci);
      }
    }
  }
}

/**
 * Conv2D through the SIMD kernel (FMA where V8 has relaxed SIMD), which outruns XNNPACK's
 * multiply-then-add conv here; dilated, NCHW, or output channels not a multiple of 4 go to the
 * shipped XNNPACK kernel.
 */
export function makeConv2DWasm(shipped: KernelFunc) {
  return function conv2DWasm(args: { inputs: { x: TensorInfo; filter: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
    const { inputs: { x, filter }, backend, attrs } = args;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as {
      strides: number | [number, number]; pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
      dataFormat: 'NHWC' | 'NCHW'; dilations?: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const dil = dilations ?? 1;
    const undilated = typeof dil === 'number' ? dil === 1 : dil[0] === 1 && dil[1] === 1;
    if (undilated && (dataFormat ?? 'NHWC') === 'NHWC' && x.dtype === 'float32') {
      const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
        strides, 1, pad, dimRoundingMode, false, 'channelsLast');
      const out = simdConv(backend, x, filter, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
      if (out) return out;
    }
    return shipped(args as never) as TensorInfo;
  };
}

const forward = wasmKernelSwap('Conv2D', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no Conv2D to fall back to');
  return makeConv2DWasm(shipped) as unknown as KernelFunc;
});
const inputGrad = wasmKernelSwap('Conv2DBackpropInput', (shipped) => makeConv2DBackpropInputWasm(shipped) as unknown as KernelFunc);
// tfjs-backend-wasm ships no Conv2DBackpropFilter: there is nothing to fall back to or restore.
const filterGrad = wasmKernelSwap('Conv2DBackpropFilter', () => conv2DBackpropFilterWasm as unknown as KernelFunc);

/** Registers difflab's conv gradient kernels on the wasm backend (idempotent). */
export function installWasmConvGradients(): void {
  forward.install();
  inputGrad.install();
  filterGrad.install();
}

/** Restores the kernels tfjs-backend-wasm ships with (for benchmarks that compare against them). */
export function uninstallWasmConvGradients(): void {
  forward.uninstall();
  inputGrad.uninstall();
  filterGrad.uninstall();
}
