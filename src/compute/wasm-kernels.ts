// difflab's replacement and added kernels for tfjs-backend-wasm, installed together.
import { installWasmConvGradients, uninstallWasmConvGradients } from './wasm-conv-grads.js';
import { installWasmIdentity, uninstallWasmIdentity } from './wasm-identity.js';
import { installWasmGroupNorm, uninstallWasmGroupNorm } from './wasm-groupnorm.js';
import { installWasmMatMul, uninstallWasmMatMul } from './wasm-matmul.js';
import { installWasmMaxPoolGrad, uninstallWasmMaxPoolGrad } from './wasm-pool.js';
import { installWasmSlice, uninstallWasmSlice } from './wasm-slice.js';
import { installWasmSum, uninstallWasmSum } from './wasm-reduce.js';

/** Registers every difflab wasm kernel; call after the wasm backend has initialised. */
export function installWasmKernels(): void {
  installWasmConvGradients();
  installWasmMatMul();
  installWasmSlice();
  installWasmMaxPoolGrad();
  installWasmGroupNorm();
  installWasmSum();
  installWasmIdentity();
}

/** Restores the kernels tfjs-backend-wasm ships with (for before/after benchmarks). */
export function uninstallWasmKernels(): void {
  uninstallWasmConvGradients();
  uninstallWasmMatMul();
  uninstallWasmSlice();
  uninstallWasmMaxPoolGrad();
  uninstallWasmSum();
  uninstallWasmGroupNorm();
  uninstallWasmIdentity();
}
