/**
 * Rank-aware attention (paper 4.3): a context stream of self-attention over the ctx field vectors, and a
 * target stream whose queries come from the target fields and whose keys/values are [c_l Wk_c; T_l Wk_t]
 * (the context stream's own projections of c_l). MLP on cat(flatten(c_L), flatten(T_L)).
 *
 * Rank-aware: the whole context stream and every ctx K/V projection run once; per candidate only the
 * target stream. Vanilla broadcasts c_0 and runs the context stream N times.
 */
import { embeddingDim, withOutput } from '../../model/geometry.js';
import { sparseFields } from '../../model/fields.js';
import type { SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import type { PlanBuilder } from '../../plan/builder.js';
import { attentionScale, identitySlots, projections } from '../attention.js';

export function planRankAttention(b: PlanBuilder, spec: SpecOf<'rank-attention'>): Slice {
  const o = spec.options;
  const D = embeddingDim(spec);
  const w = o.heads * o.headDim;
  const scale = attentionScale(o);
  const index = (name: string) => spec.fields.findIndex((f) => f.name === name);
  const stream = (name: string, side: 'context' | 'target') => {
    const fields = sparseFields(spec).filter((f) => f.side === side);
    const v = b.embedFields(name, fields.map((field, i) => ({ field, index: index(field.name), offset: i * D })), fields.length * D);
    return { slice: (v.ctx ?? v.cand)!, count: fields.length };
  };
  const c0 = stream('c0', 'context');
  const t0 = stream('T0', 'target');
  const K = c0.count;
  const M = t0.count;

  b.component = 'attention';
  let c = c0.slice;
  let t = t0.slice;
  const common = { kind: 'attention', heads: o.heads, headDim: o.headDim, scale, act: 'relu' } as const;
  for (let l = 0; l < o.layers; l++) {
    const pc = projections(b, c, K, `ctx_attention.${l}`, o);
    const nextC = b.buffer(`c${l + 1}`, b.rankOf(c), K * w);
    b.emit({ ...common, queries: [{ slice: pc.q, count: K }], keys: [{ slice: pc.k, count: K }], values: [{ slice: pc.v, count: K }], residual: pc.r ? [pc.r] : undefined, outSlots: identitySlots(K), out: nextC });
    const pt = projections(b, t, M, `tgt_attention.${l}`, o);
    const nextT = b.buffer(`T${l + 1}`, 'cand', M * w);
    b.emit({
      ...common,
      queries: [{ slice: pt.q, count: M }],
      keys: [{ slice: pc.k, count: K }, { slice: pt.k, count: M }],
      values: [{ slice: pc.v, count: K }, { slice: pt.v, count: M }],
      residual: pt.r ? [pt.r] : undefined,
      outSlots: identitySlots(M),
      out: nextT,
    });
    c = nextC;
    t = nextT;
  }

  b.component = 'fc';
  return b.mlp(b.streams(c, t, 'mlp_input'), 'mlp', withOutput(o.mlp).length, spec.output === 'sigmoid' ? 'sigmoid' : 'none');
}
