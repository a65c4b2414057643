// Runtime for difflab's own WebAssembly SIMD kernels on the wasm backend.
//
// Kernels are written as WebAssembly text generated in TypeScript (shape constants baked in as
// immediates), assembled with wabt, and instantiated against tfjs-backend-wasm's own linear memory,
// so they read and write tensors in place: no copies in or out.
//
// Fused multiply-add: XNNPACK in tfjs-backend-wasm 4.22 uses plain 128-bit SIMD, a multiply and an
// add per lane, which caps one x86 core at about half of its FMA peak. `f32x4.relaxed_madd` (the
// relaxed-SIMD proposal) compiles to vfmadd where the CPU has FMA3. V8 ships it on by default from
// Node 22; on Node 20 it sits behind `--experimental-wasm-relaxed-simd`, which is set here at run
// time if needed (it only affects modules compiled afterwards). Without it the kernels use mul + add.
import v8 from 'node:v8';
import initWabt from 'wabt';

type WabtModule = Awaited<ReturnType<typeof initWabt>>;

export interface SimdRuntime {
  /** Whether kernels use relaxed-SIMD fused multiply-add. */
  fma: boolean;
  /** Why FMA is off (when it is). */
  fmaNote: string;
  /** Assembles WebAssembly text that imports `env.memory` and instantiates it on the shared memory. */
  instantiate(wat: string): WebAssembly.Exports;
}

let wabtModule: WabtModule | undefined;
let runtime: SimdRuntime | undefined;

/** Fused multiply-add `c + a·b` in WebAssembly text: relaxed_madd with FMA, else mul then add. */
export function madd(fma: boolean, a: string, b: string, c: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;
}

function assemble(wabt: WabtModule, wat: string, relaxed: boolean, threads = false): Uint8Array {
  const mod = wabt.parseWat('difflab-kernel.wat', wat, { simd: true, relaxed_simd: relaxed, threads });
  try {
    mod.resolveNames();
    // wabt.js's validator rejects shared memories whatever the features; V8 validates the binary anyway.
    if (!threads) mod.validate();
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}

function relaxedSimdWorks(wabt: WabtModule): boolean {
  const probe = `(module (func (export "f") (param f32) (result f32)
    (f32x4.extract_lane 0 (f32x4.relaxed_madd (f32x4.splat (local.get 0)) (f32x4.splat (local.get 0)) (f32x4.splat (local.get 0))))))`;
  const bytes = assemble(wabt, probe, true);
  if (WebAssembly.validate(bytes)) return true;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

/**
 * Compiles straight to V8's optimising tier. By default V8 compiles wasm lazily with its baseline
 * compiler and tiers hot functions up in the background; a kernel's driver is entered once per
 * convolution, so it ran baseline code for the first training steps (bench train: 2683 ms/step
 * as is, 2125 ms/step with all wasm optimised from the start under `node --no-liftoff`). The
 * flags are put back afterwards.
 */
function compileOptimised(bytes: Uint8Array): WebAssembly.Module {
  v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    v8.setFlagsFromString('--wasm-lazy-compilation');
    v8.setFlagsFromString('--liftoff');
  }
}

/**
 * Initialises the kernel runtime on tfjs-backend-wasm's memory (idempotent; the memory is the one
 * the backend was created with). `DIFFLAB_WASM_FMA=0` forces plain mul + add.
 */
export async function initSimdRuntime(memory: WebAssembly.Memory): Promise<SimdRuntime> {
  if (runtime) return runtime;
  const wabt = (wabtModule ??= await initWabt());
  let fma = false, fmaNote = '';
  if (process.env.DIFFLAB_WASM_FMA === '0') fmaNote = 'DIFFLAB_WASM_FMA=0';
  else if (relaxedSimdWorks(wabt)) fma = true;
  else fmaNote = 'this V8 has no relaxed SIMD';
  runtime = {
    fma,
    fmaNote,
    instantiate(wat: string): WebAssembly.Exports {
      const bytes = assemble(wabt, wat, fma);
      return new WebAssembly.Instance(compileOptimised(bytes), { env: { memory } }).exports;
    },
  };
  return runtime;
}

/**
 * Assembles kernel text into a module binary (for tests that instantiate a kernel on their own
 * memory, with or without FMA). Relaxed SIMD needs a V8 that has it (see initSimdRuntime).
 */
export async function assembleKernel(wat: string, fma: boolean): Promise<Uint8Array> {
  const wabt = (wabtModule ??= await initWabt());
  if (fma && !relaxedSimdWorks(wabt)) throw new Error('relaxed SIMD is not available in this V8');
  return assemble(wabt, wat, fma);
}

/**
 * Instantiates kernel text on a memory of its own (e.g. a shared one, for buffers other threads read),
 * without relaxed SIMD; undefined until the assembler has been loaded by initSimdRuntime (that is, on
 * backends other than wasm), so callers keep a JavaScript path.
 */
export function instantiateOwn(wat: string, memory: WebAssembly.Memory): WebAssembly.Exports | undefined {
  if (!wabtModule) return undefined;
  return new WebAssembly.Instance(compileOptimised(assemble(wabtModule, wat, false, true)), { env: { memory } }).exports;
}

/** The runtime, once initialised by the wasm backend's setup. */
export function simdRuntime(): SimdRuntime | undefined {
  return runtime;
}
