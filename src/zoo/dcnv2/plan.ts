/**
 * DCNv2 (TorchRec CrossNet / LowRankCrossNet): x_{l+1} = x_0 * (W_l x_l + b_l) + x_l, stacked (MLP on
 * x_L) or parallel (a deep MLP on x_0 beside the cross stack, MLP on cat(x_L, deep)).
 *
 * Rank-aware (paper 3.5): only layer 0 decomposes exactly. W_0[:, ctx] x_0^c + b_0 (low rank:
 * V_0[:, ctx] x_0^c) and the deep MLP's first-layer ctx columns run once; layers >= 1 read the
 * rank-mixed x_l and run per candidate.
 */
import { dcnInput, withOutput } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import { range, whole } from '../../plan/builder.js';
import type { PlanBuilder, SplitVector } from '../../plan/builder.js';

export function planDcnv2(b: PlanBuilder, spec: SpecOf<'dcnv2'>): Slice {
  const input = dcnInput(spec);
  const x0 = b.embedFields('x0', input.fields.map((field, i) => ({ field, index: i, offset: input.offsets[i]! })), input.width);
  const { layers, rank, structure } = spec.options;
  const outAct = spec.output === 'sigmoid' ? 'sigmoid' : 'none';

  b.component = 'cross';
  const X0 = layers > 0 || structure === 'parallel' ? b.materialize(x0, 'x0.full') : undefined;
  let x: Slice | undefined = X0;
  for (let l = 0; l < layers; l++) {
    // Layer 0 reads x_0, whose ctx columns are known once per request: split its matmul.
    const input: SplitVector | Slice = l === 0 ? x0 : x!;
    const lin = (weight: string, bias: string | undefined, name: string, from: SplitVector | Slice) =>
      'ctxCols' in from ? b.linearSplit(from, weight, bias, 'none', name) : b.linear(from, weight, bias, 'none', name);
    const z = rank === 0 ? lin(`cross.${l}.weight`, `cross.${l}.bias`, `cross.${l}.z`, input) : b.linear(lin(`cross.${l}.down`, undefined, `cross.${l}.low`, input), `cross.${l}.up`, `cross.${l}.bias`, 'none', `cross.${l}.z`);
    const out = b.buffer(`cross.${l}`, 'cand', input.width);
    b.emit({ kind: 'cross', x0: X0!, z, x: x!, out });
    x = out;
  }

  b.component = 'fc';
  const mlpLayers = withOutput(spec.options.mlp).length;
  if (structure === 'stacked') {
    if (layers === 0) return b.mlp(x0, 'mlp', mlpLayers, outAct);
    return b.mlp(whole(b, x!), 'mlp', mlpLayers, outAct);
  }
  // Parallel: MLP on cat(x_L, deep(x_0)); its first layer is the sum of two column blocks.
  const deep = b.mlp(x0, 'deep', spec.options.deep.length, 'relu');
  const d = input.width;
  const first = b.weight('mlp.0.weight');
  const deepPart = b.linear(deep, b.columns('mlp.0.weight', range(first.shape[1]! - d, d), 'deep'), 'mlp.0.bias', 'none', 'mlp.0.deep');
  const crossCols = b.columns('mlp.0.weight', range(d), 'cross');
  let h = b.linear(x!, crossCols, undefined, mlpLayers === 1 ? outAct : 'relu', 'mlp.0', 1, deepPart);
  for (let i = 1; i < mlpLayers; i++) h = b.linear(h, `mlp.${i}.weight`, `mlp.${i}.bias`, i === mlpLayers - 1 ? outAct : 'relu', `mlp.${i}`);
  return h;
}
