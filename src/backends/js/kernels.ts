/**
 * The TypeScript reference kernels: the oracle every other backend is checked against. Values are
 * float64 (weights are float32 widened exactly), loops are the plain definitions of each op in ir.ts.
 * A Rows view addresses a buffer so that a ctx buffer reads as the same row for every candidate.
 */
import type { Inputs } from '../../model/request.js';
import { OnlineSoftmax } from './online-softmax.js';
import type { Tensor } from '../../model/safetensors.js';
import type { Activation, AttentionContextOp, AttentionOp, CopyOp, CrossOp, FmContextOp, FmOp, GatherOp, LinearOp, OuterOp, PairsOp, Slice, SumOp, DenseOp } from '../../plan/ir.js';

/** A buffer's storage and its row stride; `broadcast` buffers have one row read by every row. */
export interface Store {
  readonly data: Float64Array;
  readonly width: number;
  readonly broadcast: boolean;
}

export interface Env {
  readonly rows: number;
  readonly stores: readonly Store[];
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly inputs: Inputs;
}

/** Index of column `col` of slice `s` in row r. */
function at(env: Env, s: Slice, r: number): number {
  const st = env.stores[s.buf]!;
  return (st.broadcast ? 0 : r) * st.width + s.col;
}
const data = (env: Env, s: Slice) => env.stores[s.buf]!.data;
/** Rows an op writes: 1 when its output is a ctx buffer. */
const rowsOf = (env: Env, out: Slice) => (env.stores[out.buf]!.broadcast ? 1 : env.rows);

export function activate(x: number, act: Activation): number {
  if (act === 'relu') return x < 0 ? 0 : x; // NaN stays NaN, so the score check refuses it
  if (act === 'sigmoid') return 1 / (1 + Math.exp(-x));
  return x;
}

export function gather(env: Env, op: GatherOp): void {
  const input = env.inputs.sparse.get(op.field)!;
  const table = env.weights.get(op.table)!;
  const dim = op.out.width;
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const o = at(env, op.out, r);
    const begin = input.offsets[r]!;
    const end = input.offsets[r + 1]!;
    for (let d = 0; d < dim; d++) out[o + d] = 0;
    for (let i = begin; i < end; i++) {
      const row = input.ids[i]! * dim;
      for (let d = 0; d < dim; d++) out[o + d]! += table.data[row + d]!;
    }
    if (op.pooling === 'mean' && end > begin) for (let d = 0; d < dim; d++) out[o + d]! /= end - begin;
  }
}

export function dense(env: Env, op: DenseOp): void {
  const values = env.inputs.dense.get(op.field)!;
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const o = at(env, op.out, r);
    for (let d = 0; d < op.out.width; d++) out[o + d] = values[r * op.out.width + d]!;
  }
}

export function copy(env: Env, op: CopyOp): void {
  const src = data(env, op.src);
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const s = at(env, op.src, r);
    const o = at(env, op.out, r);
    for (let i = 0; i < op.out.width; i++) out[o + i] = src[s + i]!;
  }
}

export function linear(env: Env, op: LinearOp): void {
  const w = env.weights.get(op.weight)!;
  const [units, ins] = w.shape as [number, number];
  const bias = op.bias ? env.weights.get(op.bias)!.data : undefined;
  const x = data(env, op.x);
  const out = data(env, op.out);
  const add = op.add ? data(env, op.add) : undefined;
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    for (let g = 0; g < op.groups; g++) {
      const xi = at(env, op.x, r) + g * ins;
      const o = at(env, op.out, r) + g * units;
      const a = op.add ? at(env, op.add, r) + g * units : 0;
      for (let u = 0; u < units; u++) {
        let acc = bias ? bias[u]! : 0;
        const wr = u * ins;
        for (let i = 0; i < ins; i++) acc += x[xi + i]! * w.data[wr + i]!;
        if (add) acc += add[a + u]!;
        out[o + u] = activate(acc, op.act);
      }
    }
  }
}

export function pairs(env: Env, op: PairsOp): void {
  const a = data(env, op.a);
  const b = data(env, op.b);
  const out = data(env, op.out);
  const n = op.pairs.length / 2;
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const ar = at(env, op.a, r);
    const br = at(env, op.b, r);
    const o = at(env, op.out, r);
    for (let p = 0; p < n; p++) {
      const ai = ar + op.pairs[2 * p]! * op.dim;
      const bi = br + op.pairs[2 * p + 1]! * op.dim;
      let acc = 0;
      for (let d = 0; d < op.dim; d++) acc += a[ai + d]! * b[bi + d]!;
      out[o + p] = acc;
    }
  }
}

export function outer(env: Env, op: OuterOp): void {
  const a = data(env, op.a);
  const b = data(env, op.b);
  const out = data(env, op.out);
  const na = op.a.width / op.dim;
  const nb = op.b.width / op.dim;
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const ar = at(env, op.a, r);
    const br = at(env, op.b, r);
    const o = at(env, op.out, r);
    for (let m = 0; m < na; m++)
      for (let k = 0; k < nb; k++) {
        let acc = 0;
        for (let d = 0; d < op.dim; d++) acc += a[ar + m * op.dim + d]! * b[br + k * op.dim + d]!;
        out[o + m * nb + k] = acc;
      }
  }
}

export function cross(env: Env, op: CrossOp): void {
  const x0 = data(env, op.x0);
  const z = data(env, op.z);
  const x = data(env, op.x);
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const i0 = at(env, op.x0, r);
    const iz = at(env, op.z, r);
    const ix = at(env, op.x, r);
    const o = at(env, op.out, r);
    for (let d = 0; d < op.out.width; d++) out[o + d] = x0[i0 + d]! * z[iz + d]! + x[ix + d]!;
  }
}

/** Sum vector and sum of squared norms of `count` vectors starting at index i. */
function sums(src: Float64Array, i: number, count: number, dim: number, sum: Float64Array): number {
  sum.fill(0);
  let squares = 0;
  for (let f = 0; f < count; f++)
    for (let d = 0; d < dim; d++) {
      const v = src[i + f * dim + d]!;
      sum[d]! += v;
      squares += v * v;
    }
  return squares;
}

export function fmContext(env: Env, op: FmContextOp): void {
  const sum = new Float64Array(op.dim);
  const squares = sums(data(env, op.src), at(env, op.src, 0), op.count, op.dim, sum);
  let norm = 0;
  for (let d = 0; d < op.dim; d++) norm += sum[d]! * sum[d]!;
  data(env, op.outSum).set(sum, at(env, op.outSum, 0));
  data(env, op.outFm)[at(env, op.outFm, 0)] = 0.5 * (norm - squares);
}

export function fm(env: Env, op: FmOp): void {
  const sum = new Float64Array(op.dim);
  const src = data(env, op.src);
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const squares = sums(src, at(env, op.src, r), op.count, op.dim, sum);
    let norm = 0;
    for (let d = 0; d < op.dim; d++) norm += sum[d]! * sum[d]!;
    let value = 0.5 * (norm - squares);
    if (op.context) {
      // fm(c ∪ t) = fm_c + fm_t + <sum_c, sum_t>
      const cs = data(env, op.context.sum);
      const ci = at(env, op.context.sum, r);
      let dot = 0;
      for (let d = 0; d < op.dim; d++) dot += cs[ci + d]! * sum[d]!;
      value += data(env, op.context.fm)[at(env, op.context.fm, r)]! + dot;
    }
    out[at(env, op.out, r)] = value;
  }
}

export function sum(env: Env, op: SumOp): void {
  const bias = op.bias ? env.weights.get(op.bias)!.data[0]! : 0;
  const out = data(env, op.out);
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    let acc = bias;
    for (const t of op.terms) {
      const src = data(env, t);
      const i = at(env, t, r);
      for (let c = 0; c < t.width; c++) acc += src[i + c]!;
    }
    out[at(env, op.out, r)] = activate(acc, op.act);
  }
}

export function attentionContext(env: Env, op: AttentionContextOp): void {
  const { heads, headDim } = op;
  const w = heads * headDim;
  const q = data(env, op.queries.slice);
  const k = data(env, op.keys.slice);
  const v = data(env, op.values.slice);
  const out = data(env, op.out);
  const qi = at(env, op.queries.slice, 0);
  const ki = at(env, op.keys.slice, 0);
  const vi = at(env, op.values.slice, 0);
  const o = at(env, op.out, 0);
  const n = op.queries.count;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < n; i++) {
      const state = new OnlineSoftmax(headDim);
      for (let j = 0; j < op.keys.count; j++) {
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qi + i * w + h * headDim + d]! * k[ki + j * w + h * headDim + d]!;
        state.add(s * op.scale, v, vi + j * w + h * headDim);
      }
      const base = o + (h * n + i) * (2 + headDim);
      out[base] = state.max;
      out[base + 1] = state.sum;
      for (let d = 0; d < headDim; d++) out[base + 2 + d] = state.acc[d]!;
    }
}

export function attention(env: Env, op: AttentionOp): void {
  const { heads, headDim } = op;
  const w = heads * headDim;
  const out = data(env, op.out);
  const blockCount = op.queries[0]!.count;
  for (let r = 0; r < rowsOf(env, op.out); r++) {
    const o = at(env, op.out, r);
    let q = 0;
    op.queries.forEach((qs, segment) => {
      const qd = data(env, qs.slice);
      const qi = at(env, qs.slice, r);
      for (let i = 0; i < qs.count; i++, q++) {
        const slot = o + op.outSlots[q]! * w;
        for (let h = 0; h < heads; h++) {
          const state = new OnlineSoftmax(headDim);
          const fromBlock = op.block !== undefined && segment === 0;
          if (fromBlock) {
            const bd = data(env, op.block!);
            const base = at(env, op.block!, r) + (h * blockCount + i) * (2 + headDim);
            state.from(bd[base]!, bd[base + 1]!, bd, base + 2);
          }
          op.keys.forEach((ks, ksegment) => {
            if (fromBlock && ksegment === 0) return;
            const kd = data(env, ks.slice);
            const ki = at(env, ks.slice, r);
            const vs = op.values[ksegment]!;
            const vd = data(env, vs.slice);
            const vi = at(env, vs.slice, r);
            for (let j = 0; j < ks.count; j++) {
              let s = 0;
              for (let d = 0; d < headDim; d++) s += qd[qi + i * w + h * headDim + d]! * kd[ki + j * w + h * headDim + d]!;
              state.add(s * op.scale, vd, vi + j * w + h * headDim);
            }
          });
          const res = op.residual?.[segment];
          const rd = res ? data(env, res) : undefined;
          const ri = res ? at(env, res, r) + i * w + h * headDim : 0;
          for (let d = 0; d < headDim; d++) out[slot + h * headDim + d] = activate(state.value(d) + (rd ? rd[ri + d]! : 0), op.act);
        }
      }
    });
  }
}
