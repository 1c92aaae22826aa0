/**
 * DLRM (facebookresearch/dlrm DLRM_Net, TorchRec DLRM): dot-product pairs over [bottom MLP output,
 * field embeddings], top MLP on cat(dense | flatten(vectors), pairs).
 *
 * Rank-aware (paper 3.3-3.4): the ctx-ctx pairs (Eq. 5) and the ctx columns of the first top layer
 * (Eq. 11-12) run once; per candidate, the target-anchored pairs are one asymmetric matmul (targets x
 * ctx vectors, Eq. 6) plus the target-target pairs, and the first layer adds the once-per-request row.
 */
import { dlrmGeometry, withOutput } from '../../model/geometry.js';
import type { FlatField, SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import type { PlanBuilder, SplitVector } from '../../plan/builder.js';

export function planDlrm(b: PlanBuilder, spec: SpecOf<'dlrm'>): Slice {
  const g = dlrmGeometry(spec);
  const D = g.dim;
  const flat = spec.options.topInput === 'embeddings+pairs';
  const topLayers = withOutput(spec.options.topMlp).length;
  const outAct = spec.output === 'sigmoid' ? 'sigmoid' : 'none';
  const fieldIndex = (name: string) => spec.fields.findIndex((f) => f.name === name);

  // Bottom MLP over the dense fields (ReLU after every layer, the last included).
  let bottom: Slice | undefined;
  if (g.dense.length > 0) {
    let offset = 0;
    const dense = g.dense.map((field) => {
      const e = { field, index: fieldIndex(field.name), offset };
      offset += field.dim;
      return e;
    });
    const x = b.embedFields('dense', dense, g.denseWidth);
    b.component = 'bottom';
    bottom = b.mlp(x, 'bottom_mlp', spec.options.bottomMlp.length, 'relu');
  }

  // Where pair {i, j} sits in the top input.
  const pairColumn = new Map<string, number>();
  g.pairs.forEach(([i, j], p) => pairColumn.set(key(i, j), g.pairsOffset + p));

  // Vector v's side in this plan: vanilla treats everything as per-candidate.
  const isCtx = (v: number) => b.rankAware && (g.vectors[v]!.kind === 'bottom' ? b.rankOf(bottom!) === 'ctx' : g.vectors[v]!.side === 'context');
  const ctxVectors = g.vectors.map((_, v) => v).filter(isCtx);
  const candVectors = g.vectors.map((_, v) => v).filter((v) => !isCtx(v));
  const ctxPairs = g.pairs.filter(([i, j]) => isCtx(i) && isCtx(j));
  const candPairs = g.pairs.filter(([i, j]) => !isCtx(i) && !isCtx(j));

  // Top-input parts: [vectors or bottom output][pairs...], laid out so that the gathers and the pair
  // kernels write in place and the first top layer reads one ctx and one cand slice.
  const lead = (vs: number[]) => (flat ? vs.length * D : bottom && vs.some((v) => g.vectors[v]!.kind === 'bottom') ? D : 0);
  const ctxLead = lead(ctxVectors);
  const candLead = lead(candVectors);
  const outerCount = ctxVectors.length * candVectors.length;
  const ctxWidth = ctxLead + ctxPairs.length;
  const candWidth = candLead + outerCount + candPairs.length;
  const top: SplitVector = {
    width: g.topInputWidth,
    ctx: ctxWidth > 0 ? b.buffer('top_input.ctx', 'ctx', ctxWidth) : undefined,
    ctxCols: [],
    cand: b.buffer(b.rankAware ? 'top_input.cand' : 'top_input', 'cand', candWidth),
    candCols: [],
  };
  const ctxCols = top.ctxCols as number[];
  const candCols = top.candCols as number[];

  // The interacting vectors of each side, contiguous: in the top input itself when it is flattened.
  const vectorsOf = (vs: number[], rank: 'ctx' | 'cand', part: Slice | undefined, cols: number[], name: string): Slice | undefined => {
    if (vs.length === 0) return undefined;
    const slice = flat ? { buf: part!.buf, col: 0, width: vs.length * D } : b.buffer(name, rank, vs.length * D);
    vs.forEach((v, at) => {
      const out = { buf: slice.buf, col: slice.col + at * D, width: D };
      const vec = g.vectors[v]!;
      if (vec.kind === 'bottom') b.emit({ kind: 'copy', src: bottom!, out });
      else writeField(b, spec, fieldIndex(vec.field.name), out);
      if (flat) for (let d = 0; d < D; d++) cols.push(v * D + d);
    });
    if (!flat && bottom && vs.some((v) => g.vectors[v]!.kind === 'bottom')) {
      b.emit({ kind: 'copy', src: bottom, out: { buf: part!.buf, col: 0, width: D } });
      for (let d = 0; d < D; d++) cols.push(d);
    }
    return slice;
  };
  b.component = 'embedding';
  const ctxV = vectorsOf(ctxVectors, 'ctx', top.ctx, ctxCols, 'vectors.ctx');
  const candV = vectorsOf(candVectors, 'cand', top.cand, candCols, b.rankAware ? 'vectors.cand' : 'vectors');

  b.component = 'interaction';
  if (ctxPairs.length > 0) {
    const local = new Map(ctxVectors.map((v, i) => [v, i]));
    b.emit({ kind: 'pairs', a: ctxV!, b: ctxV!, dim: D, pairs: flatPairs(ctxPairs, local), out: { buf: top.ctx!.buf, col: ctxLead, width: ctxPairs.length } });
    for (const [i, j] of ctxPairs) ctxCols.push(pairColumn.get(key(i, j))!);
  }
  if (outerCount > 0) {
    b.emit({ kind: 'outer', a: candV!, b: ctxV!, dim: D, out: { buf: top.cand!.buf, col: candLead, width: outerCount } });
    for (const t of candVectors) for (const c of ctxVectors) candCols.push(pairColumn.get(key(t, c))!);
  }
  if (candPairs.length > 0) {
    const local = new Map(candVectors.map((v, i) => [v, i]));
    b.emit({ kind: 'pairs', a: candV!, b: candV!, dim: D, pairs: flatPairs(candPairs, local), out: { buf: top.cand!.buf, col: candLead + outerCount, width: candPairs.length } });
    for (const [i, j] of candPairs) candCols.push(pairColumn.get(key(i, j))!);
  }

  b.component = 'fc';
  return b.mlp(top, 'top_mlp', topLayers, outAct);
}

function writeField(b: PlanBuilder, spec: SpecOf<'dlrm'>, index: number, out: Slice): void {
  const field = spec.fields[index] as FlatField;
  if (b.rankOf(out) === 'cand' && field.side === 'context') {
    // Vanilla: look the context up once, broadcast it to every candidate row.
    const once = b.buffer(`${field.name}.ctx`, 'ctx', out.width);
    b.embedField(field, index, once);
    b.emit({ kind: 'copy', src: once, out });
  } else {
    b.embedField(field, index, out);
  }
}

const key = (i: number, j: number) => (i < j ? `${i},${j}` : `${j},${i}`);

function flatPairs(pairs: readonly (readonly [number, number])[], local: Map<number, number>): Int32Array {
  const out = new Int32Array(pairs.length * 2);
  pairs.forEach(([i, j], p) => {
    out[2 * p] = local.get(i)!;
    out[2 * p + 1] = local.get(j)!;
  });
  return out;
}
