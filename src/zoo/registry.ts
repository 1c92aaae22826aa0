/**
 * The zoo: every native architecture by name, and the planner that dispatches on it (a model and a mode
 * in, a backend-neutral plan out). Typed by Architecture: an architecture without an entry, or an entry
 * missing a part, does not compile.
 */
import type { Model } from '../model/spec.js';
import type { Architecture, ModelSpec } from '../model/spec.js';
import type { Plan, PlanMode } from '../plan/ir.js';
import { PlanBuilder } from '../plan/builder.js';
import type { ArchDef } from './arch.js';
import { autoint } from './autoint/index.js';
import { dcnv2 } from './dcnv2/index.js';
import { deepfm } from './deepfm/index.js';
import { dlrm } from './dlrm/index.js';
import { rankAttention } from './rank-attention/index.js';
import { rdcn } from './rdcn/index.js';

export const ZOO: { readonly [A in Architecture]: ArchDef<A> } = {
  dlrm,
  deepfm,
  dcnv2,
  rdcn,
  autoint,
  'rank-attention': rankAttention,
};

/** The definition of a spec's architecture (its methods take any spec; each reads its own kind). */
export function archOf(spec: ModelSpec): ArchDef<Architecture> {
  return ZOO[spec.architecture] as ArchDef<Architecture>;
}

export function planModel(model: Model, mode: PlanMode): Plan {
  const b = new PlanBuilder(model, mode);
  return b.build(archOf(model.spec).plan(b, model.spec));
}
