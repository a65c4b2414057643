// Options shared by every CLI command.
import type { Argv } from 'yargs';
import { BACKEND_NAMES, type BackendRequest } from '../compute/backend.js';

export interface ComputeArgs {
  compute: BackendRequest;
  /** a model backend name where the command takes one ('analytic'), or a deprecated compute name */
  backend?: string;
}

/**
 * Adds `--compute` (where tensors live) and `--backend`, which names where the diffusion happens
 * (`modelBackends`, e.g. 'analytic'). `--backend wasm` and the other compute names are the old spelling
 * of `--compute` and still work, with a note.
 */
export function withCompute<T>(y: Argv<T>, modelBackends: readonly string[] = []): Argv<T & ComputeArgs> {
  return y
    .option('compute', {
      choices: BACKEND_NAMES,
      default: 'auto' as BackendRequest,
      describe: 'tfjs compute device: auto tries tensorflow-gpu → tensorflow → wasm → cpu',
    })
    .option('backend', {
      choices: [...modelBackends, ...BACKEND_NAMES],
      describe: modelBackends.length
        ? `model backend: ${modelBackends.join(', ')} (a compute name here is the deprecated spelling of --compute)`
        : 'deprecated: use --compute',
    }) as unknown as Argv<T & ComputeArgs>;
}

/** The compute request, taking a deprecated `--backend <compute name>` with a one-line note. */
export function computeOf(a: ComputeArgs, modelBackends: readonly string[] = []): BackendRequest {
  if (a.backend === undefined || modelBackends.includes(a.backend)) return a.compute;
  process.stderr.write(`note: --backend ${a.backend} is deprecated: use --compute ${a.backend} (--backend names pixel, latent or analytic now)\n`);
  return a.backend as BackendRequest;
}
