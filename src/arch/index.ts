/**
 * The planner: a model and a mode (vanilla, rank-aware) in, a backend-neutral plan out.
 */
import type { Model } from '../model/model.js';
import type { Plan, PlanMode } from '../plan/ir.js';
import { PlanBuilder } from '../plan/builder.js';
import { planDlrm } from './dlrm.js';
import { planDeepFm } from './deepfm.js';
import { planDcnv2 } from './dcnv2.js';
import { planRdcn } from './rdcn.js';
import { planAutoInt } from './autoint.js';
import { planRankAttention } from './rank-attention.js';

export function planModel(model: Model, mode: PlanMode): Plan {
  const b = new PlanBuilder(model, mode);
  const spec = model.spec;
  switch (spec.architecture) {
    case 'dlrm':
      return b.build(planDlrm(b, spec));
    case 'deepfm':
      return b.build(planDeepFm(b, spec));
    case 'dcnv2':
      return b.build(planDcnv2(b, spec));
    case 'rdcn':
      return b.build(planRdcn(b, spec));
    case 'autoint':
      return b.build(planAutoInt(b, spec));
    case 'rank-attention':
      return b.build(planRankAttention(b, spec));
  }
}
