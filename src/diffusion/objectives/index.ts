// The objective registry: a config's `objective` name → its preconditioning, target and defaults.
// Adding an objective is one file in this folder and one line here.
import { edm } from './edm.js';
import { eps } from './eps.js';
import { flow, flowEps, flowX0 } from './flow.js';
import type { Objective } from './types.js';
import { v } from './v.js';
import { x0 } from './x0.js';

export * from './types.js';

export const OBJECTIVES = { eps, x0, v, edm, flow, 'flow-x0': flowX0, 'flow-eps': flowEps } satisfies Record<string, Objective>;

export type ObjectiveName = keyof typeof OBJECTIVES;
export const OBJECTIVE_NAMES = Object.keys(OBJECTIVES) as [ObjectiveName, ...ObjectiveName[]];

export function getObjective(name: string): Objective {
  const o = (OBJECTIVES as Record<string, Objective>)[name];
  if (!o) throw new Error(`objective: unknown '${name}'; expected one of ${OBJECTIVE_NAMES.join(', ')}`);
  return o;
}
