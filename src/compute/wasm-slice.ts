// Slice for the wasm backend at any rank, copying contiguous runs between heap views.
//
// The shipped kernel has loops for ranks 2–4 and an element-by-element generic path above that:
// a rank-5 slice of 100k values (multi-head attention's q/k/v split) took 84–150 ms here.
import { backend_util, slice_util, util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { wasmKernelSwap, type WasmBackendLike } from './wasm-util.js';

export function makeSliceWasm(shipped: KernelFunc) {
  return function sliceWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
    const { inputs: { x }, backend, attrs } = args;
    if (x.dtype === 'string') return shipped(args as never) as TensorInfo;
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin as number[], attrs.size as number[]);
    const out = backend.makeOutput(size, x.dtype);
    if (util.sizeFromShape(size) === 0) return out;
    const src = backend.typedArrayFromHeap(x), dst = backend.typedArrayFromHeap(out);
    const shape = x.shape, rank = shape.length, strides = util.computeStrides(shape);
    // Trailing dimensions taken whole, plus the last partial one, form one contiguous run.
    let d = rank - 1;
    let run = size[d];
    while (d > 0 && size[d] === shape[d]) { d--; run *= size[d]; }
    const outer = size.slice(0, d);
    const stride = (k: number) => (k < rank - 1 ? strides[k] : 1);
    const idx = new Array(outer.length).fill(0);
    const total = util.sizeFromShape(outer);
    let o = 0;
    for (let r = 0; r < total; r++) {
      let off = begin[d] * stride(d);
      for (let k = 0; k < outer.length; k++) off += (begin[k] + idx[k]) * stride(k);
      dst.set(src.subarray(off, off + run), o);
      o += run;
      for (let k = outer.length - 1; k >= 0; k--) { if (++idx[k] < outer[k]) break; idx[k] = 0; }
    }
    return out;
  };
}

const swap = wasmKernelSwap('Slice', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no Slice to replace');
  return makeSliceWasm(shipped) as unknown as KernelFunc;
});

/**
 * SplitV (tf.split, and the gradient of concat) as slices through the kernel above. The shipped SplitV
 * calls the shipped slice function directly, so every piece of a channel split (the UNet's skip
 * concatenations) went through its element-by-element path.
 */
function makeSplitVWasm(shipped: KernelFunc) {
  // Strings never reach this slice: they go to the shipped SplitV.
  const slice = makeSliceWasm(shipped);
  return function splitVWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo[] {
    const { inputs: { x }, backend, attrs } = args;
    if (x.dtype === 'string') return shipped(args as never) as TensorInfo[];
    const axis = util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits as number[] | number, axis);
    const begin = new Array(x.shape.length).fill(0), size = x.shape.slice();
    return sizes.map((s) => {
      size[axis] = s;
      const out = slice({ inputs: { x }, backend, attrs: { begin: begin.slice(), size: size.slice() } });
      begin[axis] += s;
      return out;
    });
  };
}

const splitSwap = wasmKernelSwap('SplitV', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no SplitV to replace');
  return makeSplitVWasm(shipped) as unknown as KernelFunc;
});

export const installWasmSlice = (): void => { swap.install(); splitSwap.install(); };
export const uninstallWasmSlice = (): void => { swap.uninstall(); splitSwap.uninstall(); };
