// Picks and initialises the tfjs compute backend; the only place that imports a backend package.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { installWasmKernels } from './wasm-kernels.js';
import { installOneDnnKernels, oneDnnKernelsInstalled, uninstallOneDnnKernels } from './onednn-kernels.js';
import { loadOneDnn, type OneDnn } from './onednn.js';
import { initSimdRuntime } from './wasm-simd.js';

// tfjs's CPU backend greets every Node process on its first tensor with advice to install tfjs-node.
// difflab chooses its backend itself and says why (`difflab info`), so the greeting is switched off —
// only it: tfjs's other warnings still print.
const cpuBackend = tf.findBackend('cpu') as { firstUse?: boolean } | null;
if (cpuBackend && 'firstUse' in cpuBackend) cpuBackend.firstUse = false;

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKEND_NAMES)[number];
export type ComputeBackend = Exclude<BackendRequest, 'auto'>;

/** Order in which `auto` tries backends: fastest first. */
export const AUTO_ORDER: ComputeBackend[] = ['tensorflow-gpu', 'tensorflow', 'onednn', 'wasm', 'cpu'];

export interface BackendAttempt {
  backend: ComputeBackend;
  ok: boolean;
  /** Why it was skipped, or a note on how it runs. */
  reason: string;
}

export interface BackendChoice {
  requested: BackendRequest;
  /** difflab's name for the backend in use. */
  backend: ComputeBackend;
  /** tfjs's registered name ('tensorflow', 'wasm', 'cpu'); 'onednn' is the wasm backend with oneDNN's kernels. */
  tfjsBackend: string;
  /**
   * The kernels the heavy ops (convolutions, matrix products) run on, as recorded with results:
   * e.g. 'oneDNN 2.6.3 avx512_core_bf16 (OpenMP)', 'wasm SIMD (FMA)', 'libtensorflow', 'tfjs cpu'.
   */
  kernels: string;
  attempts: BackendAttempt[];
  /** Threads the backend computes with. */
  threads: number;
}

export class BackendUnavailableError extends Error {
  constructor(readonly backend: ComputeBackend, readonly reason: string, readonly install: string) {
    super(`compute backend '${backend}' is not available: ${reason}. ${install}`);
    this.name = 'BackendUnavailableError';
  }
}

const INSTALL_HINT: Record<ComputeBackend, string> = {
  'tensorflow-gpu': 'Install it with `npm install @tensorflow/tfjs-node-gpu` on a Linux machine with CUDA 11.x/cuDNN 8 and access to storage.googleapis.com (its install step downloads libtensorflow).',
  tensorflow: 'Install it with `npm install @tensorflow/tfjs-node` on a machine with access to storage.googleapis.com (its install step downloads libtensorflow).',
  onednn: 'Install oneDNN 2.x with `apt-get install libdnnl2` (Debian/Ubuntu); without it difflab runs its wasm SIMD kernels (--compute wasm).',
  wasm: 'Reinstall dependencies with `npm ci`: @tensorflow/tfjs-backend-wasm ships with difflab.',
  cpu: 'The cpu backend is part of @tensorflow/tfjs; reinstall dependencies with `npm ci`.',
};

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  return (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** Loads a backend's package and registers it with tfjs; returns a reason string on failure. */
async function load(backend: ComputeBackend): Promise<{ ok: true; tfjsName: string; note: string } | { ok: false; reason: string }> {
  switch (backend) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      const pkg = backend === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      // Both packages register the same 'tensorflow' backend; once one is loaded the other cannot be.
      if (tf.findBackend('tensorflow') && loadedNative !== pkg) {
        return { ok: false, reason: `${loadedNative} is already loaded in this process` };
      }
      try {
        await import(pkg);
        loadedNative = pkg;
        return { ok: true, tfjsName: 'tensorflow', note: `native libtensorflow via ${pkg}` };
      } catch (e) {
        if (isModuleNotFound(e, pkg)) return { ok: false, reason: `${pkg.replace('@tensorflow/', '')} not installed` };
        return { ok: false, reason: `${pkg} is installed but failed to load: ${firstLine(e)}` };
      }
    }
    case 'onednn':
    case 'wasm': {
      try {
        await import('@tensorflow/tfjs-backend-wasm');
      } catch (e) {
        return { ok: false, reason: `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(e)}` };
      }
      if (backend === 'wasm') return { ok: true, tfjsName: 'wasm', note: 'WebAssembly + XNNPACK (SIMD) with difflab conv-gradient and matmul kernels' };
      const dnn = await loadOneDnn();
      if (!dnn.ok) return { ok: false, reason: dnn.reason };
      oneDnn = dnn.dnn;
      const { version, isa, runtime } = dnn.dnn.info;
      return { ok: true, tfjsName: 'wasm', note: `oneDNN ${version} (${isa}, ${runtime}) for convolutions and matrix products, on the wasm backend's tensors; other ops wasm SIMD` };
    }
    case 'cpu':
      return { ok: true, tfjsName: 'cpu', note: 'pure JavaScript reference kernels (slow)' };
  }
}

let loadedNative: string | undefined;
let oneDnn: OneDnn | undefined;
let current: BackendChoice | undefined;

async function activate(tfjsName: string): Promise<string | undefined> {
  try {
    const ok = await tf.setBackend(tfjsName);
    await tf.ready();
    return ok ? undefined : `tf.setBackend('${tfjsName}') failed to initialise`;
  } catch (e) {
    return `initialisation failed: ${firstLine(e)}`;
  }
}

/** tfjs-backend-wasm's linear memory, which difflab's own kernels import to work on tensors in place. */
function wasmMemory(): WebAssembly.Memory {
  const memory = (tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('tfjs-backend-wasm: its WebAssembly memory was not found (unexpected build)');
  return memory;
}

function threadsOf(backend: ComputeBackend, tfjsName: string): number {
  if (backend === 'onednn' && oneDnn) return oneDnn.threads;
  if (tfjsName === 'wasm') {
    // The Node build of tfjs-backend-wasm is single-threaded unless threaded wasm is supported.
    const multi = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    const b = tf.backend() as unknown as { getThreadsCount?: () => number };
    return multi && b.getThreadsCount ? b.getThreadsCount() : 1;
  }
  // libtensorflow's intra-op pool defaults to one thread per core.
  if (tfjsName === 'tensorflow') return Number(process.env.TF_NUM_INTRAOP_THREADS) || os.availableParallelism();
  return 1;
}

/**
 * Selects, loads and activates a compute backend. `auto` takes the first that works of
 * tensorflow-gpu → tensorflow → wasm → cpu and records why each earlier one was skipped.
 */
export async function selectBackend(requested: BackendRequest = 'auto'): Promise<BackendChoice> {
  if (!(BACKEND_NAMES as readonly string[]).includes(requested)) {
    throw new Error(`--backend: unknown backend '${requested}'; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested as ComputeBackend];
  const attempts: BackendAttempt[] = [];
  for (const backend of candidates) {
    const loaded = await load(backend);
    if (!loaded.ok) {
      attempts.push({ backend, ok: false, reason: loaded.reason });
      if (requested !== 'auto') throw new BackendUnavailableError(backend, loaded.reason, INSTALL_HINT[backend]);
      continue;
    }
    const failure = await activate(loaded.tfjsName);
    if (failure) {
      attempts.push({ backend, ok: false, reason: failure });
      if (requested !== 'auto') throw new BackendUnavailableError(backend, failure, INSTALL_HINT[backend]);
      continue;
    }
    // After initialisation, so the shipped kernels' setup has run and they can be restored later.
    let note = loaded.note;
    let kernels = loaded.tfjsName === 'tensorflow' ? 'libtensorflow' : 'tfjs cpu';
    if (loaded.tfjsName === 'wasm') {
      const simd = await initSimdRuntime(wasmMemory());
      installWasmKernels();
      kernels = `wasm SIMD${simd.fma ? ' (FMA)' : ''}`;
      if (backend === 'onednn') {
        installOneDnnKernels(oneDnn!);
        oneDnn!.setThreads(defaultComputeThreads());
        const { version, isa, runtime } = oneDnn!.info;
        kernels = `oneDNN ${version} ${isa} (${runtime})`;
      } else {
        uninstallOneDnnKernels();
        note += simd.fma ? '; conv kernels use FMA (relaxed SIMD)' : `; conv kernels without FMA (${simd.fmaNote})`;
      }
    }
    attempts.push({ backend, ok: true, reason: note });
    current = { requested, backend, tfjsBackend: loaded.tfjsName, kernels, attempts, threads: threadsOf(backend, loaded.tfjsName) };
    return current;
  }
  throw new Error(`no compute backend could be initialised: ${attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`);
}

/** The compute backend tfjs is running on now (for threads that must use the same one). */
export function currentBackend(): ComputeBackend {
  const name = tf.getBackend();
  if (current && current.tfjsBackend === name) return current.backend;
  if (name === 'wasm') return oneDnnKernelsInstalled() ? 'onednn' : 'wasm';
  if (name === 'cpu') return name;
  if (name === 'tensorflow') return loadedNative === '@tensorflow/tfjs-node-gpu' ? 'tensorflow-gpu' : 'tensorflow';
  throw new Error(`the active tfjs backend '${name}' is not one difflab runs on`);
}

/** The kernel set in use (see BackendChoice.kernels), for rows and checkpoints. */
export function currentKernels(): string {
  return current?.kernels ?? tf.getBackend();
}

/**
 * oneDNN's default thread count: one (OMP_NUM_THREADS overrides). The cores are kept busy by
 * data-parallel replicas (`--workers`) and worker processes (`run --jobs`) instead: one thread per
 * replica makes a model's numbers independent of how the work is spread (a reduction split over
 * OpenMP threads sums in another order), and its intra-op threads measured no faster here (README).
 */
export function defaultComputeThreads(): number {
  const omp = Number(process.env.OMP_NUM_THREADS);
  return Number.isInteger(omp) && omp >= 1 ? omp : 1;
}

/**
 * Threads oneDNN computes with when called from this thread (data-parallel replicas take one each);
 * a no-op on other backends. Without an argument: back to defaultComputeThreads().
 */
export function setComputeThreads(n = defaultComputeThreads()): void {
  if (oneDnnKernelsInstalled()) oneDnn?.setThreads(n);
  if (current && current.backend === 'onednn') current.threads = oneDnn?.threads ?? current.threads;
}

/** Backends that load in this process, for benchmarks that compare them. */
export async function availableBackends(): Promise<ComputeBackend[]> {
  const out: ComputeBackend[] = [];
  for (const b of AUTO_ORDER) {
    if ((await load(b)).ok) out.push(b);
  }
  return out;
}

export { tf };
