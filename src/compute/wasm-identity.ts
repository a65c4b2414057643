// Identity, and Cast to the dtype a tensor already has, on the wasm backend without a copy.
//
// tfjs-backend-wasm 4.22 copies the data on Identity, which autodiff and clone() call often: 466
// times (~70 ms) in a training step of the mnist16 pixel UNet. Tensor data is immutable, so the
// output can share the input's buffer by reference count, as the cpu backend's Identity and the
// wasm backend's own Reshape do. Its Cast copies too when the dtype does not change, which every
// Multiply's gradient asks for (float32 → float32): 74 copies in a step of the same UNet.
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmKernelSwap } from './wasm-util.js';

interface RefCounted { incRef(dataId: object): void }

const swap = wasmKernelSwap('Identity', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no Identity to fall back to');
  return ((args: { inputs: { x: TensorInfo }; backend: RefCounted }) => {
    const { x } = args.inputs;
    if (x.dtype === 'string') return shipped(args as never);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as unknown as KernelFunc;
});

const castSwap = wasmKernelSwap('Cast', (shipped) => {
  if (!shipped) throw new Error('tfjs-backend-wasm registers no Cast to fall back to');
  return ((args: { inputs: { x: TensorInfo }; attrs: { dtype: string }; backend: RefCounted }) => {
    const { x } = args.inputs;
    if (x.dtype === 'string' || x.dtype !== args.attrs.dtype) return shipped(args as never);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as unknown as KernelFunc;
});

export const installWasmIdentity = (): void => { swap.install(); castSwap.install(); };
export const uninstallWasmIdentity = (): void => { castSwap.uninstall(); swap.uninstall(); };
