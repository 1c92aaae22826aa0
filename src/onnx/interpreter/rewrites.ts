/**
 * The rank-aware rewrites of an imported graph: linear and bilinear ops whose input is a concatenation of
 * once (context) and per-candidate parts are split by rank (paper section 3), so the context's share runs
 * once per request:
 * - split-linear: MatMul / Gemm of [N, K] columns by a constant weight (and TorchRec's W @ x.unsqueeze(2)):
 *   x_c W_c (+ bias) once, x_t W_t + that row per candidate (Eq. 9-10, "RankSplitDense");
 * - pair-products: X X^T of stacked field vectors [N, F, D] (DLRM / TorchRec dot interaction): the
 *   context-context block once, only pairs with a candidate row per candidate (Eq. 7);
 * - row-projection: X W of stacked field vectors by a constant (attention Q/K/V/residual projections): the
 *   context rows once.
 * Parts are found by tracing the input back through Concat (feature axis), Unsqueeze, Reshape and Flatten
 * that keep the candidate axis first, so that flatten(input) = concat(flatten(part) for part in parts).
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis, ValueClass } from './rank.js';
import { candidateAxes } from './rank.js';
import type { Value } from './tensor.js';
import { size, value } from './tensor.js';
import { attentionLse, fmSplit } from './block-rewrites.js';
import { gatherParts } from './rewrite-parts.js';
import type { Part, Rewrite, RowMap } from './rewrite-parts.js';
import { attentionCore } from './attention-core.js';
import { GraphView, NoMatch } from './graph-view.js';

const isOnce = (c: ValueClass | undefined) => c === 'once' || c === 'const';

class Tracer {
  private readonly producers = new Map<string, GraphNode>();
  constructor(
    graph: OnnxGraph,
    private readonly rank: RankAnalysis,
    private readonly constants: ReadonlyMap<string, Value>,
  ) {
    for (const node of graph.nodes) for (const o of node.outputs) this.producers.set(o, node);
  }

  producer(name: string): GraphNode | undefined {
    return this.producers.get(name);
  }

  constant(name: string): Value | undefined {
    return this.rank.classes.get(name) === 'const' ? this.constants.get(name) : undefined;
  }

  /** First axis is the candidate axis (exactly N), or 1 for a once value. */
  private batchMajor(name: string): boolean {
    const t = this.rank.templates.get(name);
    if (!t || t.at2.length < 2) return false;
    const cls = this.rank.classes.get(name);
    const candAxis0 = candidateAxes(t).includes(0);
    return cls === 'cand' ? candAxis0 : isOnce(cls) && (candAxis0 || (t.at2[0] === 1 && t.at3[0] === 1));
  }

  private leaf(name: string): Part[] | undefined {
    if (!this.batchMajor(name)) return undefined;
    const t = this.rank.templates.get(name)!;
    if (t.withL.slice(1).some(Boolean)) return undefined;
    const width = size(t.at2.slice(1));
    if (width !== size(t.at3.slice(1))) return undefined;
    const cls = this.rank.classes.get(name);
    if (cls === 'shape') return undefined;
    return [{ name, width, once: isOnce(cls) }];
  }

  /** The parts whose flattened concatenation is flatten(name) after its first axis. */
  parts(name: string): Part[] | undefined {
    const cls = this.rank.classes.get(name);
    if (cls !== 'cand') return this.leaf(name);
    const p = this.producers.get(name);
    if (!p || !this.batchMajor(name)) return this.leaf(name);
    const rankOf = this.rank.templates.get(name)!.at2.length;
    const through = (input: string) => (this.batchMajor(input) ? (this.parts(input) ?? this.leaf(input)) : undefined);
    switch (p.op) {
      case 'Concat': {
        const axis = (p.attrs.get('axis') as number | undefined) ?? 0;
        const a = axis < 0 ? axis + rankOf : axis;
        // Axis 1, or a later axis with only size-1 axes before it (DeepCTR's Concat of [N, 1, D] pieces on
        // the last axis, then Flatten): either way flatten(out) is the pieces' flattenings side by side.
        const t = this.rank.templates.get(name)!;
        const onesBefore = a > 1 && t.at2.slice(1, a).every((d, i) => d === 1 && t.at3[i + 1] === 1);
        if (a !== 1 && !onesBefore) return this.leaf(name);
        const all: Part[] = [];
        for (const input of p.inputs) {
          const sub = through(input);
          if (!sub) return this.leaf(name);
          all.push(...sub);
        }
        return all;
      }
      case 'Unsqueeze':
      case 'Squeeze':
      case 'Reshape':
      case 'Flatten':
      case 'Identity':
        return through(p.inputs[0]!) ?? this.leaf(name);
      default:
        return this.leaf(name);
    }
  }
}

function columns(parts: readonly Part[], once: boolean): number[] {
  const cols: number[] = [];
  let at = 0;
  for (const p of parts) {
    if (p.once === once) for (let i = 0; i < p.width; i++) cols.push(at + i);
    at += p.width;
  }
  return cols;
}

/** y[r] = x[r] W for x [rows, k], W [k, o] (only the given rows of a full weight). */
function gemv(x: Float64Array, rows: number, k: number, w: Float64Array, o: number, out: Float64Array): void {
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < k; i++) {
      const a = x[r * k + i]!;
      if (a === 0) continue;
      for (let j = 0; j < o; j++) out[r * o + j]! += a * w[i * o + j]!;
    }
}

/** Rows `cols` of a [K, O] weight. */
function rowsOf(w: Float64Array, o: number, cols: readonly number[]): Float64Array {
  const out = new Float64Array(cols.length * o);
  cols.forEach((c, i) => out.set(w.subarray(c * o, (c + 1) * o), i * o));
  return out;
}

function splitLinear(node: GraphNode, parts: readonly Part[], weightKO: Float64Array, o: number, alpha: number, bias: Float64Array | undefined, outShape: (n: number) => number[]): Rewrite {
  const onceCols = columns(parts, true);
  const candCols = columns(parts, false);
  const onceParts = parts.filter((p) => p.once);
  const candParts = parts.filter((p) => !p.once);
  const wOnce = rowsOf(weightKO, o, onceCols);
  const wCand = rowsOf(weightKO, o, candCols);
  if (alpha !== 1) {
    for (let i = 0; i < wOnce.length; i++) wOnce[i]! *= alpha;
    for (let i = 0; i < wCand.length; i++) wCand[i]! *= alpha;
  }
  return {
    kind: 'split-linear',
    linear: { once: wOnce, cand: wCand, bias, outDim: o, outShape },
    node,
    parts,
    onceName: `${node.outputs[0]}#once`,
    flopsOnce: 2 * onceCols.length * o + (bias ? o : 0),
    flopsPerCandidate: 2 * candCols.length * o + o,
    what: `${onceCols.length} of ${onceCols.length + candCols.length} input columns are context: their product${bias ? ' and the bias' : ''} once, ${candCols.length} columns per candidate`,
    once(read) {
      const out = value('float', [1, o]);
      gemv(gatherParts(onceParts, read, 1), 1, onceCols.length, wOnce, o, out.data);
      if (bias) for (let j = 0; j < o; j++) out.data[j]! += bias[j]!;
      return out;
    },
    cand(read, stored, n) {
      const out = value('float', outShape(n));
      for (let r = 0; r < n; r++) out.data.set(stored.data, r * o);
      gemv(gatherParts(candParts, read, n), n, candCols.length, wCand, o, out.data);
      return out;
    },
  };
}

export function rowMap(parts: readonly Part[], d: number): RowMap | undefined {
  const onceRows: number[] = [];
  const candRows: number[] = [];
  let row = 0;
  for (const p of parts) {
    if (p.width % d !== 0) return undefined;
    for (let i = 0; i < p.width / d; i++) (p.once ? onceRows : candRows).push(row++);
  }
  return { f: row, d, onceRows, candRows };
}

function pairProducts(node: GraphNode, parts: readonly Part[], rows: RowMap): Rewrite {
  const { f, d, onceRows } = rows;
  const kc = onceRows.length;
  const onceParts = parts.filter((p) => p.once);
  const isOnceRow = new Uint8Array(f);
  for (const r of onceRows) isOnceRow[r] = 1;
  const slot = new Int32Array(f).fill(-1);
  onceRows.forEach((r, i) => (slot[r] = i));
  return {
    kind: 'pair-products',
    rows,
    node,
    parts,
    onceName: `${node.outputs[0]}#once`,
    flopsOnce: 2 * kc * kc * d,
    flopsPerCandidate: 2 * (f * f - kc * kc) * d,
    what: `${kc} of ${f} stacked vectors are context: their ${kc}x${kc} dot products once, the ${f * f - kc * kc} others per candidate`,
    once(read) {
      const x = gatherParts(onceParts, read, 1);
      const out = value('float', [kc, kc]);
      for (let i = 0; i < kc; i++)
        for (let j = 0; j < kc; j++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += x[i * d + k]! * x[j * d + k]!;
          out.data[i * kc + j] = s;
        }
      return out;
    },
    cand(read, stored, n) {
      const x = gatherParts(parts, read, n);
      const out = value('float', [n, f, f]);
      for (let r = 0; r < n; r++) {
        const xo = r * f * d;
        const oo = r * f * f;
        for (let i = 0; i < f; i++)
          for (let j = 0; j < f; j++) {
            if (isOnceRow[i] && isOnceRow[j]) {
              out.data[oo + i * f + j] = stored.data[slot[i]! * kc + slot[j]!]!;
              continue;
            }
            let s = 0;
            for (let k = 0; k < d; k++) s += x[xo + i * d + k]! * x[xo + j * d + k]!;
            out.data[oo + i * f + j] = s;
          }
      }
      return out;
    },
  };
}

function rowProjection(node: GraphNode, parts: readonly Part[], rows: RowMap, w: Value): Rewrite {
  const { f, d, onceRows, candRows } = rows;
  const o = w.shape[1]!;
  const onceParts = parts.filter((p) => p.once);
  const candParts = parts.filter((p) => !p.once);
  return {
    kind: 'row-projection',
    rows,
    weight: w,
    node,
    parts,
    onceName: `${node.outputs[0]}#once`,
    flopsOnce: 2 * onceRows.length * d * o,
    flopsPerCandidate: 2 * candRows.length * d * o,
    what: `${onceRows.length} of ${f} stacked vectors are context: projected once, ${candRows.length} per candidate`,
    once(read) {
      const out = value('float', [onceRows.length, o]);
      gemv(gatherParts(onceParts, read, 1), onceRows.length, d, w.data, o, out.data);
      return out;
    },
    cand(read, stored, n) {
      const kt = candRows.length;
      const y = new Float64Array(n * kt * o);
      gemv(gatherParts(candParts, read, n), n * kt, d, w.data, o, y);
      const out = value('float', [n, f, o]);
      for (let r = 0; r < n; r++) {
        onceRows.forEach((row, i) => out.data.set(stored.data.subarray(i * o, (i + 1) * o), (r * f + row) * o));
        candRows.forEach((row, i) => out.data.set(y.subarray((r * kt + i) * o, (r * kt + i + 1) * o), (r * f + row) * o));
      }
      return out;
    },
  };
}

function transposed(v: Value): Float64Array {
  const [r, c] = v.shape as [number, number];
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = v.data[i * c + j]!;
  return out;
}

const mixed = (parts: readonly Part[] | undefined): parts is Part[] => !!parts && parts.some((p) => p.once) && parts.some((p) => !p.once);

/** The rewrites that apply to a graph, by node. */
export function findRewrites(graph: OnnxGraph, rank: RankAnalysis, constants: ReadonlyMap<string, Value>): Map<GraphNode, Rewrite> {
  const tracer = new Tracer(graph, rank, constants);
  const found = new Map<GraphNode, Rewrite>();
  const rankOf = (name: string) => rank.templates.get(name)?.at2.length ?? -1;
  const view = new GraphView(graph, rank);
  for (const node of graph.nodes) {
    if (rank.classes.get(node.outputs[0]!) !== 'cand') continue;
    const [a, b, c] = node.inputs;
    const block = node.op === 'Sub' ? fmBlock(view, tracer, node) : node.op === 'MatMul' && view.is(a!, 'Softmax') ? attentionBlockRewrite(view, tracer, node) : undefined;
    if (block) {
      found.set(node, block);
      continue;
    }
    if (node.op === 'Gemm' && !node.attrs.get('transA')) {
      const w = tracer.constant(b!);
      const bias = c ? tracer.constant(c) : undefined;
      if (!w || (c && !bias)) continue;
      const parts = tracer.parts(a!);
      if (!mixed(parts)) continue;
      const kO = node.attrs.get('transB') ? transposed(w) : w.data;
      const o = node.attrs.get('transB') ? w.shape[0]! : w.shape[1]!;
      const beta = (node.attrs.get('beta') as number | undefined) ?? 1;
      let biasVec: Float64Array | undefined;
      if (bias) {
        if (size(bias.shape) !== o && size(bias.shape) !== 1) continue;
        biasVec = Float64Array.from({ length: o }, (_, j) => beta * bias.data[size(bias.shape) === 1 ? 0 : j]!);
      }
      found.set(node, splitLinear(node, parts, kO, o, (node.attrs.get('alpha') as number | undefined) ?? 1, biasVec, (n) => [n, o]));
    } else if (node.op === 'MatMul') {
      const wb = tracer.constant(b!);
      const wa = tracer.constant(a!);
      if (wb && wb.shape.length === 2 && rankOf(a!) === 2) {
        const parts = tracer.parts(a!);
        if (mixed(parts)) found.set(node, splitLinear(node, parts, wb.data, wb.shape[1]!, 1, undefined, (n) => [n, wb.shape[1]!]));
      } else if (wb && wb.shape.length === 2 && rankOf(a!) === 3) {
        const parts = tracer.parts(a!);
        const rows = mixed(parts) ? rowMap(parts, rank.templates.get(a!)!.at2[2]!) : undefined;
        if (rows && rows.d === wb.shape[0]) found.set(node, rowProjection(node, parts!, rows, wb));
      } else if (wa && wa.shape.length === 2 && rankOf(b!) === 3) {
        // TorchRec CrossNet / LowRankCrossNet: W @ x.unsqueeze(2), [O, K] x [N, K, 1].
        const u = tracer.producer(b!);
        const t = rank.templates.get(b!)!;
        if (!u || u.op !== 'Unsqueeze' || t.at2[2] !== 1) continue;
        const parts = tracer.parts(u.inputs[0]!);
        if (mixed(parts) && rankOf(u.inputs[0]!) === 2) found.set(node, splitLinear(node, parts, transposed(wa), wa.shape[0]!, 1, undefined, (n) => [n, wa.shape[0]!, 1]));
      } else if (rankOf(a!) === 3) {
        // X X^T: the second operand is Transpose(X, [0, 2, 1]).
        const t = tracer.producer(b!);
        const perm = t?.attrs.get('perm') as number[] | undefined;
        if (!t || t.op !== 'Transpose' || t.inputs[0] !== a || perm?.join() !== '0,2,1') continue;
        const parts = tracer.parts(a!);
        const rows = mixed(parts) ? rowMap(parts, rank.templates.get(a!)!.at2[2]!) : undefined;
        if (rows) found.set(node, pairProducts(node, parts!, rows));
      }
    }
  }
  return found;
}

/** A block matcher that does not fit leaves the nodes to the other rewrites. */
function attempt<T>(match: () => T): T | undefined {
  try {
    return match();
  } catch (e) {
    if (e instanceof NoMatch) return undefined;
    throw e;
  }
}

/** Sub(square(ReduceSum(E, 1)), ReduceSum(E * E, 1)) over mixed stacked rows E [N, F, D]. */
function fmBlock(v: GraphView, tracer: Tracer, node: GraphNode): Rewrite | undefined {
  return attempt(() => {
    const fieldSum = (name: string) => {
      const rs = v.expect(name, 'ReduceSum', 'FM field sum');
      const dims = v.dims(rs.inputs[0]!);
      if (dims.length !== 3 || v.axes(rs).map((x) => (x < 0 ? x + 3 : x)).join() !== '1') throw new NoMatch('FM: a sum over the field axis');
      return rs.inputs[0]!;
    };
    const sq = v.expect(node.inputs[0]!, ['Pow', 'Mul'], 'FM square of the sum');
    if (sq.op === 'Pow' ? v.scalar(sq.inputs[1]!) !== 2 : sq.inputs[0] !== sq.inputs[1]) throw new NoMatch('FM: a square');
    const e = fieldSum(sq.inputs[0]!);
    const ee = v.expect(fieldSum(node.inputs[1]!), 'Mul', 'FM squares');
    if (ee.inputs[0] !== e || ee.inputs[1] !== e) throw new NoMatch('FM: squares of the same vectors');
    const parts = tracer.parts(e);
    const [, , d] = v.dims(e) as [number, number, number];
    const rows = mixed(parts) ? rowMap(parts, d) : undefined;
    if (!rows) return undefined;
    const t = v.template(node.outputs[0]!);
    if (t.at2.length < 2 || t.at2[0] !== 2 || t.at2[t.at2.length - 1] !== d || t.at2.slice(1, -1).some((x) => x !== 1)) return undefined;
    return fmSplit(node, parts!, rows, (n) => [n, ...t.at2.slice(1)]);
  });
}

/** softmax(Q K^T [/ s]) V of a self-attention over mixed stacked rows, the weighted-values MatMul replaced. */
function attentionBlockRewrite(v: GraphView, tracer: Tracer, node: GraphNode): Rewrite | undefined {
  return attempt(() => {
    const core = attentionCore(v, node.outputs[0]!, 'attention');
    const x = core.query.x;
    if (core.keys.length !== 1 || core.keys[0]!.x !== x || core.values[0]!.x !== x) return undefined;
    const parts = tracer.parts(x);
    const rows = mixed(parts) ? rowMap(parts, v.dims(x)[2]!) : undefined;
    if (!rows) return undefined;
    const weight = (p: { constant: string }) => v.constant(p.constant)!;
    return attentionLse(node, parts!, rows, core, { q: weight(core.query), k: weight(core.keys[0]!), v: weight(core.values[0]!) });
  });
}
