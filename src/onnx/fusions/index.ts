/**
 * Fusions of the rank-aware ONNX export's candidate stage (src/onnx/rank-aware-onnx.ts): per-candidate
 * chains of small ops that are, algebraically, one GEMM whose other operand is built from context values
 * alone. An ONNX runtime then runs one large node where the staged graph has several
 * broadcasts and passes over [N, L, ...] tensors.
 * - target-attention.ts: DIN's activation unit against the whole history, one Gemm;
 * - weighted-sum.ts: the weights' sum of the history, one MatMul;
 * - shared-operand.ts: a batched MatMul by one context matrix, one MatMul;
 * - pair-gram.ts: DLRM's per-candidate pairs from the candidate rows' products alone;
 * - sum-split.ts: FM's sums over fields, the context fields' share once.
 * What they share (the scope of a pass, the writer's view of the graph) is ./scope.ts.
 * Each is exact up to float32 summation order; a chain that does not match exactly is left as it is.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { fusePairGram } from './pair-gram.js';
import { FusionScope } from './scope.js';
import type { FusionContext, FusionResult } from './scope.js';
import { fuseSharedOperand } from './shared-operand.js';
import { fuseSumSplit } from './sum-split.js';
import { fuseTargetAttention } from './target-attention.js';
import { fuseWeightedSum } from './weighted-sum.js';

export type { FusionContext, FusionResult } from './scope.js';

/** Each fusion in turn over the candidate stage's nodes (a node one fusion took, the next ones leave). */
export function fuseCandidateStage(candNodes: readonly GraphNode[], context: FusionContext): FusionResult {
  const scope = new FusionScope(candNodes, context);
  for (const fuse of [fuseTargetAttention, fuseWeightedSum, fuseSharedOperand, fusePairGram, fuseSumSplit]) fuse(scope);
  return scope.result();
}
