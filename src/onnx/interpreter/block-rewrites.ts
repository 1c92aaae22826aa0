/**
 * Rank-aware rewrites of whole blocks the node-by-node rewrites cannot split, found through the structural
 * view of ./graph-view.ts and ./attention-core.ts:
 * - fm-split: DeepFM's FM written as (sum_f E_f)^2 - sum_f E_f^2 over stacked field vectors [N, F, D]: the
 *   context rows' sum and sum of squares once, per candidate only the candidate rows' terms are added;
 * - attention-lse: self-attention softmax(Q K^T [/ s]) V over stacked field vectors whose rows are partly
 *   context (AutoInt's first interacting layer): the context queries' scores over the context keys, their
 *   row max, exp sum and exp-weighted value sum once; per candidate the context query rows merge in the
 *   candidate keys by log-sum-exp, and the candidate query rows attend over every key (paper section 3.3).
 * Both are exact up to float64 rounding (sums in another order).
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import type { Part, Rewrite, RowMap } from './rewrite-parts.js';
import { gatherParts } from './rewrite-parts.js';
import type { Value } from './tensor.js';
import { value } from './tensor.js';
import { OnlineSoftmax } from '../../backends/js/online-softmax.js';
import type { AttentionCore } from './attention-core.js';

/** The FM difference node `sub` = square(ReduceSum(E, 1)) - ReduceSum(E * E, 1), output [N, (1,) D]. */
export function fmSplit(node: GraphNode, parts: readonly Part[], rows: RowMap, outShape: (n: number) => number[]): Rewrite {
  const { f, d, onceRows, candRows } = rows;
  const onceParts = parts.filter((p) => p.once);
  const candParts = parts.filter((p) => !p.once);
  const kc = onceRows.length;
  const kt = candRows.length;
  return {
    kind: 'fm-split',
    rows,
    outShape,
    node,
    parts,
    onceName: `${node.outputs[0]}#once`,
    flopsOnce: 3 * kc * d,
    flopsPerCandidate: 3 * kt * d + 2 * d,
    what: `${kc} of ${f} FM field vectors are context: their sum and sum of squares once, ${kt} per candidate`,
    once(read) {
      const x = gatherParts(onceParts, read, 1);
      const out = value('float', [2, d]);
      for (let i = 0; i < kc; i++)
        for (let k = 0; k < d; k++) {
          const e = x[i * d + k]!;
          out.data[k]! += e;
          out.data[d + k]! += e * e;
        }
      return out;
    },
    cand(read, stored, n) {
      const x = gatherParts(candParts, read, n);
      const out = value('float', outShape(n));
      for (let r = 0; r < n; r++)
        for (let k = 0; k < d; k++) {
          let s = stored.data[k]!;
          let q = stored.data[d + k]!;
          for (let i = 0; i < kt; i++) {
            const e = x[(r * kt + i) * d + k]!;
            s += e;
            q += e * e;
          }
          out.data[r * d + k] = s * s - q;
        }
      return out;
    },
  };
}

/** x [rows, d] times w [d, o] (row-major, float64). */
function project(x: Float64Array, rows: number, d: number, w: Float64Array, o: number): Float64Array {
  const out = new Float64Array(rows * o);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < d; i++) {
      const a = x[r * d + i]!;
      for (let j = 0; j < o; j++) out[r * o + j]! += a * w[i * o + j]!;
    }
  return out;
}

/** The weighted-values MatMul of a self-attention block over mixed rows, replaced whole. */
export function attentionLse(node: GraphNode, parts: readonly Part[], rows: RowMap, core: AttentionCore, weights: { q: Value; k: Value; v: Value }): Rewrite {
  const { f, d, onceRows, candRows } = rows;
  const { heads: h, headDim: dh, scale, layout } = core;
  const w = h * dh;
  const kc = onceRows.length;
  const kt = candRows.length;
  const s = scale ?? 1;
  const onceParts = parts.filter((p) => p.once);
  const candParts = parts.filter((p) => !p.once);
  const dot = (a: Float64Array, ao: number, b: Float64Array, bo: number) => {
    let acc = 0;
    for (let k = 0; k < dh; k++) acc += a[ao + k]! * b[bo + k]!;
    return acc / s;
  };
  // Stored: Qc, Kc, Vc [kc, w], then per head and context query: max, exp sum, exp-weighted values [dh].
  const qAt = 0, kAt = kc * w, vAt = 2 * kc * w, mAt = 3 * kc * w, lAt = mAt + h * kc, accAt = lAt + h * kc;
  return {
    kind: 'attention-lse',
    rows,
    attention: { heads: h, headDim: dh, scale: s, layout, q: weights.q, k: weights.k, v: weights.v },
    node,
    parts,
    onceName: `${node.outputs[0]}#once`,
    flopsOnce: 6 * kc * d * w + 4 * kc * kc * w,
    flopsPerCandidate: 6 * kt * d * w + 4 * kc * kt * w + 4 * kt * f * w + 4 * kc * w,
    what: `${kc} of ${f} attention rows are context: their Q/K/V and the ${kc}x${kc} score block (row max, exp sum, weighted values) once; per candidate ${kt} key rows merged by log-sum-exp and ${kt} query rows over all keys`,
    once(read) {
      const x = gatherParts(onceParts, read, 1);
      const out = value('float', [accAt + h * kc * dh]);
      const q = project(x, kc, d, weights.q.data, w);
      const k = project(x, kc, d, weights.k.data, w);
      const v = project(x, kc, d, weights.v.data, w);
      out.data.set(q, qAt);
      out.data.set(k, kAt);
      out.data.set(v, vAt);
      for (let hh = 0; hh < h; hh++)
        for (let i = 0; i < kc; i++) {
          const state = new OnlineSoftmax(dh);
          for (let j = 0; j < kc; j++) state.add(dot(q, i * w + hh * dh, k, j * w + hh * dh), v, j * w + hh * dh);
          out.data[mAt + hh * kc + i] = state.max;
          out.data[lAt + hh * kc + i] = state.sum;
          out.data.set(state.acc, accAt + (hh * kc + i) * dh);
        }
      return out;
    },
    cand(read, stored, n) {
      const x = gatherParts(candParts, read, n);
      const qt = project(x, n * kt, d, weights.q.data, w);
      const kT = project(x, n * kt, d, weights.k.data, w);
      const vT = project(x, n * kt, d, weights.v.data, w);
      const st = stored.data;
      const out = value('float', layout === 'batch-first' ? [n, h, f, dh] : [h, n, f, dh]);
      const at = (r: number, hh: number, row: number) => (layout === 'batch-first' ? ((r * h + hh) * f + row) * dh : ((hh * n + r) * f + row) * dh);
      for (let r = 0; r < n; r++)
        for (let hh = 0; hh < h; hh++) {
          const tq = (t: number) => (r * kt + t) * w + hh * dh;
          // Context queries: the stored block resumed, the candidate keys merged in.
          for (let i = 0; i < kc; i++) {
            const state = new OnlineSoftmax(dh).from(st[mAt + hh * kc + i]!, st[lAt + hh * kc + i]!, st, accAt + (hh * kc + i) * dh);
            for (let t = 0; t < kt; t++) state.add(dot(st, qAt + i * w + hh * dh, kT, tq(t)), vT, tq(t));
            const o = at(r, hh, onceRows[i]!);
            for (let c = 0; c < dh; c++) out.data[o + c] = state.value(c);
          }
          // Candidate queries: every key, the context keys from the stored block.
          for (let t = 0; t < kt; t++) {
            const state = new OnlineSoftmax(dh);
            for (let j = 0; j < kc; j++) state.add(dot(qt, tq(t), st, kAt + j * w + hh * dh), st, vAt + j * w + hh * dh);
            for (let u = 0; u < kt; u++) state.add(dot(qt, tq(t), kT, tq(u)), vT, tq(u));
            const o = at(r, hh, candRows[t]!);
            for (let c = 0; c < dh; c++) out.data[o + c] = state.value(c);
          }
        }
      return out;
    },
  };
}
