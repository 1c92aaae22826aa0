/**
 * AutoInt (DeepCTR-Torch AutoInt, InteractingLayer): multi-head self-attention over the field vectors,
 * residual projection, ReLU; logit = output . cat(flatten(X_L), DNN) + bias.
 *
 * Rank-aware (paper 3.6): layer 0's ctx Q/K/V/residual projections (Eq. 17) and the ctx-ctx score block
 * (Eq. 18) with its row max, row sum and exp-weighted value sum run once; per candidate, ctx query rows
 * merge the target keys into that block by log-sum-exp and target query rows attend over [K_c; K_t].
 * Layers >= 1 see rank-mixed vectors and run per candidate.
 */
import { dnnInput, embeddingDim } from '../../model/geometry.js';
import { sparseFields } from '../../model/fields.js';
import type { SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import { range } from '../../plan/builder.js';
import type { PlanBuilder } from '../../plan/builder.js';
import { attentionScale, identitySlots, projections } from '../attention.js';

export function planAutoInt(b: PlanBuilder, spec: SpecOf<'autoint'>): Slice {
  const o = spec.options;
  const D = embeddingDim(spec);
  const sparse = sparseFields(spec);
  const F = sparse.length;
  const w = o.heads * o.headDim;
  const scale = attentionScale(o);
  const index = (name: string) => spec.fields.findIndex((f) => f.name === name);
  const E = b.embedFields('fields', sparse.map((field, i) => ({ field, index: index(field.name), offset: i * D })), F * D);

  b.component = 'attention';
  let X: Slice;
  let first = 0;
  if (E.ctx && E.cand) {
    const kc = E.ctxCols.length / D;
    const mc = E.candCols.length / D;
    const pc = projections(b, E.ctx, kc, 'attention.0', o);
    const pt = projections(b, E.cand, mc, 'attention.0', o);
    const block = b.buffer('attention.0.block', 'ctx', o.heads * kc * (2 + o.headDim));
    b.emit({ kind: 'attentionContext', heads: o.heads, headDim: o.headDim, scale, queries: { slice: pc.q, count: kc }, keys: { slice: pc.k, count: kc }, values: { slice: pc.v, count: kc }, out: block });
    // Field positions of the ctx and the cand vectors in declared order.
    const slots = Int32Array.from([...E.ctxCols, ...E.candCols].filter((_, i) => i % D === 0).map((c) => c / D));
    X = b.buffer('attention.0', 'cand', F * w);
    b.emit({
      kind: 'attention', heads: o.heads, headDim: o.headDim, scale,
      queries: [{ slice: pc.q, count: kc }, { slice: pt.q, count: mc }],
      keys: [{ slice: pc.k, count: kc }, { slice: pt.k, count: mc }],
      values: [{ slice: pc.v, count: kc }, { slice: pt.v, count: mc }],
      residual: pc.r && pt.r ? [pc.r, pt.r] : undefined,
      block, act: 'relu', outSlots: slots, out: X,
    });
    first = 1;
  } else {
    X = (E.ctx ?? E.cand)!;
  }
  for (let l = first; l < o.layers; l++) {
    const p = projections(b, X, F, `attention.${l}`, o);
    const out = b.buffer(`attention.${l}`, b.rankOf(X), F * w);
    const seg = (slice: Slice) => [{ slice, count: F }];
    b.emit({ kind: 'attention', heads: o.heads, headDim: o.headDim, scale, queries: seg(p.q), keys: seg(p.k), values: seg(p.v), residual: p.r ? [p.r] : undefined, act: 'relu', outSlots: identitySlots(F), out });
    X = out;
  }

  // logit = output . cat(flatten(X_L), dnn) + bias, as two column blocks of output.weight.
  b.component = 'fc';
  const outAct = spec.output === 'sigmoid' ? 'sigmoid' : 'none';
  const A = F * w;
  const hasDnn = o.dnn.length > 0;
  const att = b.linear(X, b.columns('output.weight', range(A), 'attention'), 'output.bias', hasDnn ? 'none' : outAct, 'attention_logit');
  if (!hasDnn) return att;
  const input = dnnInput(spec);
  const x = b.embedFields('dnn_input', input.fields.map((field, i) => ({ field, index: index(field.name), offset: input.offsets[i]! })), input.width);
  const h = b.mlp(x, 'dnn', o.dnn.length, 'relu');
  return b.linear(h, b.columns('output.weight', range(h.width, A), 'dnn'), undefined, outAct, 'logit', 1, att);
}
