// Shared plumbing for difflab's wasm kernels: calling other wasm kernels, and swapping kernels in and out.
import { getKernel, registerKernel, unregisterKernel, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

/** The slice of tfjs-backend-wasm's BackendWasm that difflab's kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object): boolean;
  makeOutput(shape: number[], dtype: TensorInfo['dtype']): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/** Calls a registered wasm kernel directly (no tape, no engine bookkeeping), as kernels call each other. */
export function runWasmKernel(name: string, backend: WasmBackendLike, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: object = {}): TensorInfo {
  const k = getKernel(name, 'wasm');
  if (k == null) throw new Error(`wasm kernel ${name} is not registered`);
  return k.kernelFunc({ inputs: inputs as never, backend: backend as never, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

/** Byte address of a tensor in the wasm heap; take it after the last allocation of a kernel call. */
export function heapAddress(backend: WasmBackendLike, t: TensorInfo): number {
  return backend.typedArrayFromHeap(t).byteOffset;
}

export function freeAll(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/**
 * Registers `make(shipped)` as the wasm kernel `name`, keeping the shipped kernel (if any) for
 * fallbacks and for `uninstall`, which puts it back. Install after the backend has initialised, so
 * the shipped kernel's setup has run.
 */
export function wasmKernelSwap(name: string, make: (shipped: KernelFunc | undefined) => KernelFunc) {
  let shipped: ReturnType<typeof getKernel> | undefined;
  let installed = false;
  return {
    get installed(): boolean { return installed; },
    install(): void {
      if (installed) return;
      shipped = getKernel(name, 'wasm');
      if (shipped) unregisterKernel(name, 'wasm');
      registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: make(shipped?.kernelFunc) });
      installed = true;
    },
    uninstall(): void {
      if (!installed) return;
      unregisterKernel(name, 'wasm');
      if (shipped) registerKernel(shipped);
      installed = false;
    },
  };
}
