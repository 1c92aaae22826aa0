/**
 * What the candidate-stage fusions (./index.ts) share: the staged graph they read (FusionContext, from the
 * writer), and the scope of one pass over the candidate nodes: who writes and reads each value, each
 * value's template as its stage has it, and what the fusions replace, drop and add (request nodes, their
 * values, the fused list). `result()` writes the fused node list: nodes written alike once (sharedOnce),
 * then what nothing reads any more dropped.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { candidateAxes } from '../interpreter/rank.js';
import type { ShapeTemplate, ValueClass } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';

export const PREFIX = 'rankaware::';

/** What a fusion reads of the staged graph, and where it writes its constants. */
export interface FusionContext {
  readonly classOf: (name: string) => ValueClass;
  readonly template: (name: string) => ShapeTemplate | undefined;
  readonly constant: (name: string) => Value;
  /** A node is a rewrite's (split-linear, ...): left to the writer. */
  readonly claimed: (node: GraphNode) => boolean;
  /** The values a node reads as the writer writes it (a rewrite's: its parts). */
  readonly reads: (node: GraphNode) => readonly string[];
  /** The graph's outputs (never fused away). */
  readonly outputs: ReadonlySet<string>;
  readonly addCandidateConst: (name: string, value: Value) => void;
}

/**
 * The fused candidate nodes, first the request nodes: what a fusion builds from context values alone
 * (G, C, m * H) runs once per run of the candidate stage, at batch 1, from the context stage's own
 * handoff. It is not handed off itself: a cached context keeps the history's [L, d] values, not G's
 * [d, L o] (d times larger), and building G costs about what one candidate's attention does.
 */
export interface FusionResult {
  readonly nodes: readonly GraphNode[];
  /** The nodes of `nodes` that run at batch 1 on context values (never expanded to N rows). */
  readonly requestNodes: ReadonlySet<GraphNode>;
  /** The values the request nodes write (no candidate axis). */
  readonly onceValues: ReadonlyMap<string, OnceValue>;
  /** Per-candidate values the fused nodes write (beside the graph's own names they replace). */
  readonly candValues: ReadonlySet<string>;
  readonly fused: readonly string[];
}

export interface OnceValue {
  readonly template: ShapeTemplate;
  readonly dtype: 'float' | 'int';
}

/** Unary activations onnxruntime fuses into a Gemm before them. */
export const ACTIVATIONS: ReadonlySet<string> = new Set(['Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Elu', 'HardSigmoid', 'Softplus', 'Softsign', 'Selu']);

export const node = (name: string, op: string, inputs: readonly string[], attrs: [string, number | readonly number[]][] = []): GraphNode => ({ name, op, domain: '', inputs, outputs: [name], attrs: new Map(attrs) });
export const ints = (values: readonly number[]): Value => ({ dtype: 'int', shape: [values.length], data: Float64Array.from(values) });
/** A template of fixed dims (a request node's value: no candidate axis). */
export const plain = (shape: readonly number[], withL: readonly boolean[]): ShapeTemplate => ({ at2: shape, at3: shape, withL });

/** One pass of the fusions over the candidate stage's nodes. */
export class FusionScope {
  readonly producer = new Map<string, GraphNode>();
  readonly consumers = new Map<string, number>();
  readonly replaced = new Map<GraphNode, GraphNode[]>();
  readonly dropped = new Set<GraphNode>();
  readonly fused: string[] = [];
  readonly onceValues = new Map<string, OnceValue>();
  private readonly requestNodes: GraphNode[] = [];
  /** The context, with where a fusion puts a request node (the candidate stage's first nodes, at batch 1). */
  readonly c: FusionContext & { readonly addRequestNode: (n: GraphNode) => void };

  constructor(
    readonly nodes: readonly GraphNode[],
    context: FusionContext,
  ) {
    this.c = { ...context, addRequestNode: (n) => void this.requestNodes.push(n) };
    for (const n of nodes) {
      for (const o of n.outputs) this.producer.set(o, n);
      for (const i of n.inputs) if (i !== '') this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    }
  }

  readonly isOnce = (name: string) => this.c.classOf(name) === 'once' || this.c.classOf(name) === 'const';
  /** A candidate value one node reads (and no graph output): safe to fuse away. */
  readonly inner = (name: string) => this.consumers.get(name) === 1 && !this.c.outputs.has(name);
  /** A value's template; a context value's as the context stage has it (N = 1 along its candidate axes). */
  readonly tpl = (name: string): ShapeTemplate | undefined => {
    const t = this.c.template(name);
    if (!t || this.c.classOf(name) === 'cand') return t;
    const axes = candidateAxes(t);
    return axes.length === 0 ? t : { ...t, at2: t.at2.map((d, i) => (axes.includes(i) ? 1 : d)), at3: t.at3.map((d, i) => (axes.includes(i) ? 1 : d)) };
  };
  /** Rank 3, per candidate along axis 0 only (cand), or a context value [1, ., .] (not cand). */
  readonly is3 = (t: ShapeTemplate | undefined, cand: boolean) => t !== undefined && t.at2.length === 3 && (cand ? candidateAxes(t).join() === '0' : candidateAxes(t).length === 0 && t.at2[0] === 1);
  readonly constMatrix = (name: string) => {
    if (this.c.classOf(name) !== 'const') return undefined;
    const v = this.c.constant(name);
    return v.dtype === 'float' && v.shape.length === 2 ? v : undefined;
  };

  /** X [N, F, D] as its field pieces: a Concat of [N, k, D] pieces on axis 1, or a view of [N, k D] ones. */
  readonly stackedPieces = (x: string, f: number, d: number) => {
    const { producer, tpl, isOnce, c } = this;
    const p = producer.get(x);
    const concat = p?.op === 'Reshape' ? producer.get(p.inputs[0]!) : p;
    // (X and its pieces may have other readers: they are dropped only when none is left.)
    if (!concat || concat.op !== 'Concat') return undefined;
    const stacked = concat === p;
    const pieces: { readonly name: string; readonly rows: number; readonly cand: boolean }[] = [];
    for (const name of concat.inputs) {
      const t = tpl(name);
      if (!t || t.withL.some(Boolean) || (c.classOf(name) !== 'cand' && !isOnce(name))) return undefined;
      const k = stacked ? (t.at2.length === 3 && t.at2[2] === d ? t.at2[1]! : NaN) : t.at2.length === 2 && t.at2[1]! % d === 0 ? t.at2[1]! / d : NaN;
      if (!Number.isInteger(k)) return undefined;
      pieces.push({ name, rows: k, cand: c.classOf(name) === 'cand' });
    }
    return pieces.reduce((a, q) => a + q.rows, 0) === f ? { pieces, stacked } : undefined;
  };

  /** The fused candidate nodes (the request nodes first), or the nodes as they came when nothing was fused. */
  result(): FusionResult {
    const { replaced, dropped, fused, onceValues, c } = this;
    const candValues = new Set([...replaced.values()].flat().flatMap((n) => n.outputs));
    if (fused.length === 0) return { nodes: this.nodes, requestNodes: new Set(), onceValues, candValues, fused };
    const kept = sharedOnce([...this.requestNodes, ...this.nodes.flatMap((n) => replaced.get(n) ?? (dropped.has(n) ? [] : [n]))]);
    // What only the fused chains read (q's Unsqueeze): dropped, last reader first.
    const read = new Set(c.outputs);
    const nodes: GraphNode[] = [];
    for (let i = kept.length - 1; i >= 0; i--) {
      const n = kept[i]!;
      if (!n.outputs.some((o) => read.has(o))) continue;
      nodes.push(n);
      for (const x of c.reads(n)) read.add(x);
    }
    return { nodes: nodes.reverse(), requestNodes: new Set(this.requestNodes), onceValues, candValues, fused };
  }
}

/**
 * Fused nodes computed twice (FM's sum and sum of squares both join the same pieces) computed once: a
 * node the fusions wrote that has the op, inputs and attributes of an earlier one is dropped, its readers
 * reading the earlier one's outputs. The graph's own nodes are left as they are (a rewrite reads them by name).
 */
function sharedOnce(nodes: readonly GraphNode[]): GraphNode[] {
  const seen = new Map<string, GraphNode>();
  const alias = new Map<string, string>();
  const out: GraphNode[] = [];
  const attr = (v: unknown) => JSON.stringify(v, (_, x) => (ArrayBuffer.isView(x) ? Array.from(x as Float64Array) : x));
  for (const n of nodes) {
    const inputs = n.inputs.map((i) => alias.get(i) ?? i);
    const node = inputs.some((i, k) => i !== n.inputs[k]) ? { ...n, inputs } : n;
    if (!n.outputs.every((o) => o.startsWith(PREFIX))) {
      out.push(node);
      continue;
    }
    const key = `${n.domain}:${n.op}(${inputs.join(',')})${attr([...n.attrs])}`;
    const first = seen.get(key);
    if (first && first.outputs.length === n.outputs.length) n.outputs.forEach((o, k) => alias.set(o, first.outputs[k]!));
    else {
      seen.set(key, node);
      out.push(node);
    }
  }
  return out;
}
