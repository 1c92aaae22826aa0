/**
 * The rank-aware rewrites (src/onnx/interpreter/rewrites.ts, block-rewrites.ts) lowered onto the compiled
 * stages: each stores its context share once (the context program) and computes only what involves a
 * candidate in the candidate program.
 * - split-linear: x_c W_c + bias once, x_t W_t on the GEMM with that row added in its epilogue;
 * - pair-products: the context rows' dot products once, per candidate only the pairs with a candidate row
 *   (each pair once, mirrored), reading every row where it lies (pairDots);
 * - fm-split: the context rows' sum and sum of squares once, the candidate rows added per candidate;
 * - row-projection: the context rows projected once, the candidate rows on the GEMM, the rows put back in
 *   field order by one copy;
 * - attention-lse: the context rows' Q/K/V and their softmax over the context keys (max, exp sum,
 *   exp-weighted values per head) once; per candidate one GEMM for the candidate rows' Q/K/V, then the
 *   context queries merge in the candidate keys and the candidate queries attend over all (attentionMixed).
 * Each runs on all three engines (the SIMD kernels of wasm/assembly, js loops, WGSL entries of
 * shaders/compiler/compiled.wgsl).
 */
import type { Rewrite } from '../interpreter/rewrite-parts.js';
import type { Value } from '../interpreter/tensor.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import { gemmByConstant } from './lower-linear.js';
import type { Epilogue } from './lower-linear.js';
import { concatColumns, emitMove } from './lower-movement.js';
import { gpuEmit } from './lower-parts.js';
import { emitPairDots } from './pair-products.js';

type Read = (name: string, node?: GraphNode) => CValue | undefined;

/** Whether the compiler lowers `rw` (each kind it lowers has kernels on all three engines). */
export function lowersRewrite(rw: Rewrite): boolean {
  switch (rw.kind) {
    case 'split-linear':
      return !!rw.linear;
    case 'row-projection':
      return !!rw.rows && !!rw.weight;
    case 'pair-products':
    case 'fm-split':
      return !!rw.rows;
    case 'attention-lse':
      return !!rw.rows && !!rw.attention;
    default:
      return false;
  }
}

/** The context values a lowered rewrite stores for the candidate program. */
export function storedNames(rw: Rewrite): string[] {
  if (rw.kind === 'pair-products') return [rw.onceName, `${rw.onceName}#rows`];
  if (rw.kind === 'attention-lse') return [rw.onceName, `${rw.onceName}#ctx`];
  return [rw.onceName];
}

function sideTensors(b: ProgramBuilder, rw: Rewrite, once: boolean, read: Read) {
  const parts = rw.parts.filter((p) => p.once === once);
  return { tensors: parts.map((p) => b.operand(read(p.name)!, 'float')), widths: parts.map((p) => p.width) };
}

/** One side's parts side by side: [rows, sum of widths] (a part of one row is repeated). */
function sideRows(b: ProgramBuilder, rw: Rewrite, once: boolean, read: Read, rows: number): RTensor {
  const { tensors, widths } = sideTensors(b, rw, once, read);
  return concatColumns(b, tensors, widths, rows);
}

/** The context program's share of `rw`: its stored values by name. */
export function lowerRewriteOnce(b: ProgramBuilder, rw: Rewrite, read: Read): [string, RTensor][] {
  const x = sideRows(b, rw, true, read, 1);
  switch (rw.kind) {
    case 'split-linear': {
      const lin = rw.linear!;
      const w: Value = { dtype: 'float', shape: [x.shape[1]!, lin.outDim], data: lin.once };
      return [[rw.onceName, gemmByConstant(b, x, w, false, 1, { bias: lin.bias, act: 'none' }, [1, lin.outDim])]];
    }
    case 'row-projection': {
      const { onceRows, d } = rw.rows!;
      const w = rw.weight!;
      return [[rw.onceName, gemmByConstant(b, b.view(x, [onceRows.length, d]), w, false, 1, { act: 'none' }, [onceRows.length, w.shape[1]!])]];
    }
    case 'pair-products': {
      const { onceRows, d } = rw.rows!;
      const kc = onceRows.length;
      const gram = b.tensor('float', [kc, kc]);
      emitPairDots(b, [x], () => Array.from({ length: kc }, (_, i) => [(x.slot.at + i * d) * 4, 0] as const), new Int32Array(kc).fill(-1), undefined, 0, gram, 1, kc, d);
      return [
        [rw.onceName, gram],
        [`${rw.onceName}#rows`, x],
      ];
    }
    case 'fm-split': {
      const { onceRows, d } = rw.rows!;
      const kc = onceRows.length;
      const out = b.tensor('float', [2, d]);
      if (b.store.gpu) {
        gpuEmit(b, [x], [out], 'fmOnce', () => [x.slot.at, out.slot.at, kc, d], d);
        return [[rw.onceName, out]];
      }
      b.emit([x], [out], () => {
        const [xa, oa] = [x.slot.at, out.slot.at];
        return ({ f32: f }) => {
          for (let k = 0; k < d; k++) {
            let [s, q] = [0, 0];
            for (let i = 0; i < kc; i++) {
              const e = f[xa + i * d + k]!;
              s += e;
              q += e * e;
            }
            f[oa + k] = s;
            f[oa + d + k] = q;
          }
        };
      });
      return [[rw.onceName, out]];
    }
    case 'attention-lse': {
      const { onceRows, d } = rw.rows!;
      const kc = onceRows.length;
      const { heads: h, headDim: dh, scale } = rw.attention!;
      const w = h * dh;
      const ctx = gemmByConstant(b, b.view(x, [kc, d]), qkvWeight(rw), false, 1, { act: 'none' }, [kc, 3 * w]);
      // Per head and context query: max, exp sum ([h, kc] each), exp-weighted values [h, kc, dh].
      const state = b.tensor('float', [h * kc * (2 + dh)]);
      if (b.store.gpu) gpuEmit(b, [ctx], [state], 'attentionOnce', () => [ctx.slot.at, state.slot.at, kc, h, dh, { f: scale }], h * kc);
      else b.emit([ctx], [state], () => {
        const [ca, sa] = [ctx.slot.at, state.slot.at];
        return ({ f32: f }) => {
          const scores = new Float64Array(kc);
          for (let hh = 0; hh < h; hh++)
            for (let i = 0; i < kc; i++) {
              let max = -Infinity;
              for (let j = 0; j < kc; j++) {
                let s = 0;
                for (let c = 0; c < dh; c++) s += f[ca + i * 3 * w + hh * dh + c]! * f[ca + j * 3 * w + w + hh * dh + c]!;
                scores[j] = s / scale;
                max = Math.max(max, scores[j]!);
              }
              let sum = 0;
              for (let j = 0; j < kc; j++) sum += scores[j] = Math.exp(scores[j]! - max);
              f[sa + hh * kc + i] = max;
              f[sa + h * kc + hh * kc + i] = sum;
              for (let c = 0; c < dh; c++) {
                let acc = 0;
                for (let j = 0; j < kc; j++) acc += scores[j]! * f[ca + j * 3 * w + 2 * w + hh * dh + c]!;
                f[sa + 2 * h * kc + (hh * kc + i) * dh + c] = acc;
              }
            }
        };
      });
      return [
        [rw.onceName, state],
        [`${rw.onceName}#ctx`, ctx],
      ];
    }
    default:
      throw new Error(`import bug: the ${rw.kind} rewrite is not lowered`);
  }
}

/** The Q, K and V projections side by side, [D, 3 * heads * headDim] (one GEMM for the three), once per rewrite. */
const qkvWeights = new WeakMap<Rewrite, Value>();
function qkvWeight(rw: Rewrite): Value {
  let w = qkvWeights.get(rw);
  if (!w) {
    const { q, k, v } = rw.attention!;
    const [d, o] = q.shape as [number, number];
    const data = new Float64Array(d * 3 * o);
    for (let i = 0; i < d; i++) [q, k, v].forEach((m, j) => data.set(m.data.subarray(i * o, (i + 1) * o), i * 3 * o + j * o));
    qkvWeights.set(rw, (w = { dtype: 'float', shape: [d, 3 * o], data }));
  }
  return w;
}

/** The candidate program's share of `rw` for n candidates: the node's output. */
export function lowerRewriteCand(b: ProgramBuilder, rw: Rewrite, read: Read, once: (name: string) => CValue, n: number, epilogue?: Pick<Epilogue, 'bias' | 'act'>): RTensor {
  switch (rw.kind) {
    case 'split-linear': {
      const lin = rw.linear!;
      const x = sideRows(b, rw, false, read, n);
      const w: Value = { dtype: 'float', shape: [x.shape[1]!, lin.outDim], data: lin.cand };
      const out = gemmByConstant(b, x, w, false, 1, { bias: epilogue?.bias, add: b.operand(once(rw.onceName)), act: epilogue?.act ?? 'none' }, [n, lin.outDim]);
      return b.view(out, lin.outShape(n));
    }
    case 'row-projection': {
      const { f, d, onceRows, candRows } = rw.rows!;
      const w = rw.weight!;
      const o = w.shape[1]!;
      const kt = candRows.length;
      const x = sideRows(b, rw, false, read, n);
      const y = gemmByConstant(b, b.view(x, [n * kt, d]), w, false, 1, { act: 'none' }, [n * kt, o]);
      // Rows back in field order: the stored context rows (the same for every candidate) and the candidate's.
      const runs: number[] = [];
      for (let r = 0; r < n; r++) {
        onceRows.forEach((row, i) => runs.push(0, i * o, (r * f + row) * o, o));
        candRows.forEach((row, t) => runs.push(1, (r * kt + t) * o, (r * f + row) * o, o));
      }
      const out = b.tensor('float', [n, f, o]);
      emitMove(b, { kind: 'runs', runs: Int32Array.from(runs) }, [b.operand(once(rw.onceName)), y], out);
      return out;
    }
    case 'pair-products': {
      const { f, d, onceRows } = rw.rows!;
      const kc = onceRows.length;
      const gram = b.operand(once(rw.onceName));
      const onceX = b.operand(once(`${rw.onceName}#rows`));
      const tensors = rw.parts.map((p) => (p.once ? onceX : b.operand(read(p.name)!, 'float')));
      const slots = new Int32Array(f).fill(-1);
      onceRows.forEach((row, i) => (slots[row] = i));
      // Row i of candidate t: a byte base and a per-candidate byte stride (0 for a context row).
      const rows = () => {
        const table: (readonly [number, number])[] = [];
        let onceAt = 0;
        rw.parts.forEach((p, k) => {
          const t = tensors[k]!;
          for (let q = 0; q < p.width / d; q++)
            table.push(p.once ? [(t.slot.at + (onceAt + q) * d) * 4, 0] : [(t.slot.at + q * d) * 4, p.width * 4]);
          if (p.once) onceAt += p.width / d;
        });
        return table;
      };
      const out = b.tensor('float', [n, f, f]);
      emitPairDots(b, [onceX, ...tensors], rows, slots, gram, kc, out, n, f, d);
      return out;
    }
    case 'fm-split': {
      const { d, candRows } = rw.rows!;
      const kt = candRows.length;
      const x = sideRows(b, rw, false, read, n);
      const stored = b.operand(once(rw.onceName));
      const out = b.tensor('float', rw.outShape!(n));
      if (b.store.gpu) {
        gpuEmit(b, [x, stored], [out], 'fmCand', () => [x.slot.at, stored.slot.at, out.slot.at, n, kt, d], n * d);
        return out;
      }
      b.emit([x, stored], [out], () => {
        const [xa, sa, oa] = [x.slot.at, stored.slot.at, out.slot.at];
        return ({ f32: f }) => {
          for (let r = 0; r < n; r++)
            for (let k = 0; k < d; k++) {
              let [s, q] = [f[sa + k]!, f[sa + d + k]!];
              for (let i = 0; i < kt; i++) {
                const e = f[xa + (r * kt + i) * d + k]!;
                s += e;
                q += e * e;
              }
              f[oa + r * d + k] = s * s - q;
            }
        };
      });
      return out;
    }
    case 'attention-lse':
      return lowerAttentionCand(b, rw, read, once, n);
    default:
      throw new Error(`import bug: the ${rw.kind} rewrite is not lowered`);
  }
}

function lowerAttentionCand(b: ProgramBuilder, rw: Rewrite, read: Read, once: (name: string) => CValue, n: number): RTensor {
  const { f, d, onceRows, candRows } = rw.rows!;
  const [kc, kt] = [onceRows.length, candRows.length];
  const { heads: h, headDim: dh, scale, layout } = rw.attention!;
  const w = h * dh;
  const x = sideRows(b, rw, false, read, n);
  const qkv = gemmByConstant(b, b.view(x, [n * kt, d]), qkvWeight(rw), false, 1, { act: 'none' }, [n * kt, 3 * w]);
  const state = b.operand(once(rw.onceName));
  const ctx = b.operand(once(`${rw.onceName}#ctx`));
  const out = b.tensor('float', layout === 'batch-first' ? [n, h, f, dh] : [h, n, f, dh]);
  const [sR, sH] = layout === 'batch-first' ? [h * f * dh, f * dh] : [f * dh, n * f * dh];
  const rows = Int32Array.from([...onceRows, ...candRows]);
  const scratch = b.tensor('float', [kc + kt + 4]);
  if (b.store.gpu) {
    gpuEmit(b, [qkv, ctx, state], [out], 'attentionMixed', () => [qkv.slot.at, ctx.slot.at, state.slot.at, out.slot.at, sR, sH, b.store.ints(rows), n, kc, kt, h, dh, { f: scale }], n * h * (kc + kt));
    return out;
  }
  const simd = b.store.simd;
  if (simd) {
    const rowsAt = b.store.ints(rows) * 4;
    b.emit([qkv, ctx, state], [out, scratch], () => {
      const [pa, ca, sa, oa, ra] = [qkv.slot.at * 4, ctx.slot.at * 4, state.slot.at * 4, out.slot.at * 4, scratch.slot.at * 4];
      return () => simd.attentionMixed(pa, ca, sa, oa, sR, sH, rowsAt, n, kc, kt, h, dh, scale, ra);
    });
    return out;
  }
  b.emit([qkv, ctx, state], [out, scratch], () => {
    const [pa, ca, sa, oa] = [qkv.slot.at, ctx.slot.at, state.slot.at, out.slot.at];
    return ({ f32: f }) => {
      const scores = new Float64Array(kc + kt);
      const dot = (a: number, c: number) => {
        let s = 0;
        for (let k = 0; k < dh; k++) s += f[a + k]! * f[c + k]!;
        return s / scale;
      };
      for (let r = 0; r < n; r++)
        for (let hh = 0; hh < h; hh++) {
          const cand = (t: number, which: number) => pa + (r * kt + t) * 3 * w + which * w + hh * dh;
          const fixed = (j: number, which: number) => ca + j * 3 * w + which * w + hh * dh;
          const o = (row: number) => oa + r * sR + hh * sH + row * dh;
          for (let i = 0; i < kc; i++) {
            const m0 = f[sa + hh * kc + i]!;
            let max = m0;
            for (let t = 0; t < kt; t++) max = Math.max(max, (scores[t] = dot(fixed(i, 0), cand(t, 1))));
            const alpha = Math.exp(m0 - max);
            let sum = f[sa + h * kc + hh * kc + i]! * alpha;
            for (let t = 0; t < kt; t++) sum += scores[t] = Math.exp(scores[t]! - max);
            for (let c = 0; c < dh; c++) {
              let acc = f[sa + 2 * h * kc + (hh * kc + i) * dh + c]! * alpha;
              for (let t = 0; t < kt; t++) acc += scores[t]! * f[cand(t, 2) + c]!;
              f[o(onceRows[i]!) + c] = acc / sum;
            }
          }
          for (let t = 0; t < kt; t++) {
            let max = -Infinity;
            for (let j = 0; j < kc; j++) max = Math.max(max, (scores[j] = dot(cand(t, 0), fixed(j, 1))));
            for (let u = 0; u < kt; u++) max = Math.max(max, (scores[kc + u] = dot(cand(t, 0), cand(u, 1))));
            let sum = 0;
            for (let j = 0; j < kc + kt; j++) sum += scores[j] = Math.exp(scores[j]! - max);
            for (let c = 0; c < dh; c++) {
              let acc = 0;
              for (let j = 0; j < kc; j++) acc += scores[j]! * f[fixed(j, 2) + c]!;
              for (let u = 0; u < kt; u++) acc += scores[kc + u]! * f[cand(u, 2) + c]!;
              f[o(candRows[t]!) + c] = acc / sum;
            }
          }
        }
    };
  });
  return out;
}
