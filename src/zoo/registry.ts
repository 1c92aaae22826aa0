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
import { din } from './din/index.js';
import { bst } from './bst/index.js';
import { RankawareError } from '../errors.js';

export const ZOO: { readonly [A in Architecture]: ArchDef<A> } = {
  dlrm,
  deepfm,
  dcnv2,
  rdcn,
  autoint,
  'rank-attention': rankAttention,
  din,
  bst,
};

/** Whether the architecture has a native planner (false: its export runs on the ONNX compiler). */
export function hasNativePlan(spec: ModelSpec): boolean {
  return archOf(spec).plan !== undefined;
}

/** The definition of a spec's architecture (its methods take any spec; each reads its own kind). */
export function archOf(spec: ModelSpec): ArchDef<Architecture> {
  return ZOO[spec.architecture] as ArchDef<Architecture>;
}

export function planModel(model: Model, mode: PlanMode): Plan {
  const plan = archOf(model.spec).plan;
  if (!plan)
    throw new RankawareError(
      `model "${model.spec.name}" (${model.spec.architecture})`,
      'an architecture with a native plan',
      `${model.spec.architecture}, which runs on the ONNX compiler: compileModel(model) or createScorer(model) from rankaware/node or rankaware/onnx, or the CLI`,
      'format',
    );
  const b = new PlanBuilder(model, mode);
  return b.build(plan(b, model.spec));
}
