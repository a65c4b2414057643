// Options shared by every CLI command.
import type { Argv } from 'yargs';
import { BACKEND_NAMES, type BackendRequest } from '../compute/backend.js';

export interface ComputeArgs {
  backend: BackendRequest;
}

/** Adds `--backend` to a command. */
export function withCompute<T>(y: Argv<T>): Argv<T & ComputeArgs> {
  return y.option('backend', {
    choices: BACKEND_NAMES,
    default: 'auto' as BackendRequest,
    describe: 'tfjs compute backend; auto tries tensorflow-gpu → tensorflow → wasm → cpu',
  }) as unknown as Argv<T & ComputeArgs>;
}
