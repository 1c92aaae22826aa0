/**
 * DeepFM (DeepCTR-Torch DeepFM): logit = first order + FM second order + DNN + bias.
 *
 * Rank-aware: the ctx first-order sum, the sum of ctx embeddings and their second-order scalar, and the
 * DNN's first-layer ctx columns run once; per candidate, FM = fm_c + fm_t + <sum_c, sum_t> costs O(MD)
 * instead of O((K+M)D) (the bilinear case, paper Eq. 2).
 */
import { dnnInput, embeddingDim } from '../../model/geometry.js';
import type { FlatField, SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import type { PlanBuilder } from '../../plan/builder.js';

export function planDeepFm(b: PlanBuilder, spec: SpecOf<'deepfm'>): Slice {
  const D = embeddingDim(spec);
  const input = dnnInput(spec);
  const index = (name: string) => spec.fields.findIndex((f) => f.name === name);
  const x = b.embedFields('embeddings', input.fields.map((field, i) => ({ field, index: index(field.name), offset: input.offsets[i]! })), input.width);
  // Sparse vectors come first in the DNN input, so each part's sparse vectors are its leading columns.
  const sparseCount = (cols: readonly number[]) => cols.filter((c) => c < input.fields.filter((f) => f.type === 'sparse').length * D).length / D;
  const ctxSparse = sparseCount(x.ctxCols);
  const candSparse = sparseCount(x.candCols);

  // First order: a scalar per sparse id, a dot product per dense field.
  b.component = 'embedding';
  const terms: Slice[] = [];
  const firstOrder = (side: 'ctx' | 'cand'): Slice[] => {
    const fields = spec.fields.map((f, i) => ({ f: f as FlatField, i })).filter(({ f }) => (b.rankAware && f.side === 'context' ? 'ctx' : 'cand') === side);
    const sparse = fields.filter(({ f }) => f.type === 'sparse');
    const out: Slice[] = [];
    if (sparse.length > 0) {
      const buf = b.buffer(`first_order.${side}`, side, sparse.length);
      sparse.forEach(({ f, i }, at) => {
        const slot = { buf: buf.buf, col: at, width: 1 };
        if (side === 'cand' && f.side === 'context') {
          const once = b.buffer(`first_order.${f.name}`, 'ctx', 1);
          b.emit({ kind: 'gather', field: i, table: `first_order.${f.name}`, pooling: f.type === 'sparse' ? f.pooling : 'none', out: once });
          b.emit({ kind: 'copy', src: once, out: slot });
        } else {
          b.emit({ kind: 'gather', field: i, table: `first_order.${f.name}`, pooling: f.type === 'sparse' ? f.pooling : 'none', out: slot });
        }
      });
      out.push(buf);
    }
    for (const { f } of fields.filter(({ f }) => f.type === 'dense')) {
      const w = b.weight(`first_order.${f.name}`);
      const wt = b.derive(`first_order.${f.name}[1,in]`, { shape: [1, f.dim], data: w.data });
      const col = input.offsets[input.fields.indexOf(f)]!;
      const src = side === 'ctx' ? x.ctx! : x.cand!;
      const cols = side === 'ctx' ? x.ctxCols : x.candCols;
      out.push(b.linear({ buf: src.buf, col: src.col + cols.indexOf(col), width: f.dim }, wt, undefined, 'none', `first_order.${f.name}`));
    }
    return out;
  };
  const ctxFirst = b.rankAware ? firstOrder('ctx') : [];
  if (ctxFirst.length > 0) {
    const once = b.buffer('first_order.ctx_sum', 'ctx', 1);
    b.emit({ kind: 'sum', terms: ctxFirst, act: 'none', out: once });
    terms.push(once);
  }
  terms.push(...firstOrder('cand'));

  // FM second order over the sparse vectors.
  b.component = 'interaction';
  let context: { sum: Slice; fm: Slice } | undefined;
  if (ctxSparse > 0) {
    context = { sum: b.buffer('fm.ctx_sum', 'ctx', D), fm: b.buffer('fm.ctx', 'ctx', 1) };
    b.emit({ kind: 'fmContext', src: { buf: x.ctx!.buf, col: x.ctx!.col, width: ctxSparse * D }, count: ctxSparse, dim: D, outSum: context.sum, outFm: context.fm });
  }
  if (candSparse > 0) {
    const fm = b.buffer('fm', 'cand', 1);
    b.emit({ kind: 'fm', src: { buf: x.cand!.buf, col: x.cand!.col, width: candSparse * D }, count: candSparse, dim: D, context, out: fm });
    terms.push(fm);
  } else if (context) {
    terms.push(context.fm);
  }

  b.component = 'fc';
  if (spec.options.dnn.length > 0) {
    const h = b.mlp(x, 'dnn', spec.options.dnn.length, 'relu');
    terms.push(b.linear(h, 'output.weight', undefined, 'none', 'dnn_logit'));
  }
  const score = b.buffer('score', 'cand', 1);
  b.emit({ kind: 'sum', terms, bias: 'output.bias', act: spec.output === 'sigmoid' ? 'sigmoid' : 'none', out: score });
  return score;
}
