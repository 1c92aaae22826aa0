/**
 * Fusions of the rank-aware ONNX export's candidate stage (src/onnx/rank-aware-onnx.ts): per-candidate
 * chains of small ops that are, algebraically, one GEMM whose other operand is built from context values
 * alone. An ONNX runtime then runs one large node where the staged graph has several
 * broadcasts and passes over [N, L, ...] tensors.
 * - target-attention: a sum of terms affine in one candidate vector q [N, 1, d], with bilinear terms
 *   `(h * q) W` against a context [1, L, d] (DIN's activation unit on [h, q, h - q, h * q], after
 *   src/onnx/passes/linear-terms.ts), linear terms `q W` and context terms c [1, L, o]:
 *   `sum_k q_k (h_ik W_kj + W'_kj) + c_ij`, one Gemm [N, d] x G [d, L o] + C [1, L o], with G and C
 *   built once per run.
 * - weighted-sum: `ReduceSum(a * m * H, axis 1)` with a per candidate [N, L, 1] and context factors
 *   (H [1, L, d], a mask [1, L, 1]): one MatMul [N, L] x (m * H) [L, d]; a layer `s w + b` giving a is one
 *   Gemm over the N L rows.
 * - shared-operand: a batched MatMul [N, m, k] x [1, k, d] of per-candidate rows by one context matrix
 *   (attention weights times the history's values): one MatMul [N m, k] x [k, d].
 * - pair-gram: DLRM's pairs gathered from X X^T [N, F, F] in the candidate stage (the context-by-context
 *   pairs are gathered once, src/onnx/passes/pair-runs.ts) involve a candidate row each: only the candidate
 *   rows' products are computed, against the context rows as one MatMul [N nc, D] x [D, F - nc] and among
 *   themselves, nc / F of the work, and X (the context rows expanded to N) is never built.
 * - sum-split: a ReduceSum over the axis a Concat joins context and candidate pieces on (FM's sum and sum
 *   of squares over fields, a linear part's sum of field weights): the context pieces' sum once, plus the
 *   candidate pieces' per candidate.
 * Each is exact up to float32 summation order; a chain that does not match exactly is left as it is.
 */
import type { GraphNode } from './reader/onnx-graph.js';
import { candidateAxes } from './interpreter/rank.js';
import type { ShapeTemplate, ValueClass } from './interpreter/rank.js';
import type { Value } from './interpreter/tensor.js';

const PREFIX = 'rankaware::';

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
  readonly onceValues: ReadonlyMap<string, { readonly template: ShapeTemplate; readonly dtype: 'float' | 'int' }>;
  /** Per-candidate values the fused nodes write (beside the graph's own names they replace). */
  readonly candValues: ReadonlySet<string>;
  readonly fused: readonly string[];
}

/** Unary activations onnxruntime fuses into a Gemm before them. */
const ACTIVATIONS: ReadonlySet<string> = new Set(['Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Elu', 'HardSigmoid', 'Softplus', 'Softsign', 'Selu']);

const node = (name: string, op: string, inputs: readonly string[], attrs: [string, number | readonly number[]][] = []): GraphNode => ({ name, op, domain: '', inputs, outputs: [name], attrs: new Map(attrs) });
const ints = (values: readonly number[]): Value => ({ dtype: 'int', shape: [values.length], data: Float64Array.from(values) });

interface Bilinear {
  /** The context factor [1, L, d]. */
  readonly h: string;
  readonly w: Value;
}

interface Affine {
  /** The candidate vector [N, 1, d] every term is linear in (undefined: no candidate term yet). */
  readonly q?: string;
  readonly bilinear: readonly Bilinear[];
  /** Weights [d, o] of the linear terms q W. */
  readonly linear: readonly Value[];
  /** Context or constant terms, broadcast to [1, L, o]. */
  readonly once: readonly string[];
  /** Candidate nodes the sum replaces. */
  readonly nodes: readonly GraphNode[];
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

export function fuseCandidateStage(candNodes: readonly GraphNode[], fc: FusionContext): FusionResult {
  const requestNodes: GraphNode[] = [];
  const c = { ...fc, addContextNode: (n: GraphNode) => void requestNodes.push(n), addContextConst: fc.addCandidateConst };
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, number>();
  for (const n of candNodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of n.inputs) if (i !== '') consumers.set(i, (consumers.get(i) ?? 0) + 1);
  }
  const onceValues = new Map<string, { readonly template: ShapeTemplate; readonly dtype: 'float' | 'int' }>();
  const plain = (shape: readonly number[], withL: readonly boolean[]): ShapeTemplate => ({ at2: shape, at3: shape, withL });
  const isOnce = (name: string) => c.classOf(name) === 'once' || c.classOf(name) === 'const';
  /** A candidate value only `by` reads (and no graph output): safe to fuse away. */
  const inner = (name: string) => consumers.get(name) === 1 && !c.outputs.has(name);
  /** A value's template; a context value's as the context stage has it (N = 1 along its candidate axes). */
  const tpl = (name: string): ShapeTemplate | undefined => {
    const t = c.template(name);
    if (!t || c.classOf(name) === 'cand') return t;
    const axes = candidateAxes(t);
    return axes.length === 0 ? t : { ...t, at2: t.at2.map((d, i) => (axes.includes(i) ? 1 : d)), at3: t.at3.map((d, i) => (axes.includes(i) ? 1 : d)) };
  };
  const is3 = (t: ShapeTemplate | undefined, cand: boolean) => t !== undefined && t.at2.length === 3 && (cand ? candidateAxes(t).join() === '0' : candidateAxes(t).length === 0 && t.at2[0] === 1);
  const constMatrix = (name: string) => {
    if (c.classOf(name) !== 'const') return undefined;
    const v = c.constant(name);
    return v.dtype === 'float' && v.shape.length === 2 ? v : undefined;
  };
  /** q [N, 1, d]: a candidate vector, one row per candidate. */
  const isQ = (name: string, d: number) => {
    const t = tpl(name);
    return c.classOf(name) === 'cand' && is3(t, true) && t!.at2[1] === 1 && !t!.withL[1] && t!.at2[2] === d;
  };

  const affine = (name: string, top = false): Affine | undefined => {
    if (isOnce(name)) return { bilinear: [], linear: [], once: [name], nodes: [] };
    const n = producer.get(name);
    if (!n || c.claimed(n) || !(top || inner(name))) return undefined;
    if (n.op === 'Add') {
      const a = affine(n.inputs[0]!);
      const b = a && affine(n.inputs[1]!);
      if (!a || !b || (a.q && b.q && a.q !== b.q)) return undefined;
      return { q: a.q ?? b.q, bilinear: [...a.bilinear, ...b.bilinear], linear: [...a.linear, ...b.linear], once: [...a.once, ...b.once], nodes: [...a.nodes, ...b.nodes, n] };
    }
    const w = n.op === 'MatMul' ? constMatrix(n.inputs[1]!) : undefined;
    if (!w) return undefined;
    const [d] = w.shape as [number, number];
    const x = n.inputs[0]!;
    if (isQ(x, d)) return { q: x, bilinear: [], linear: [w], once: [], nodes: [n] };
    const m = producer.get(x);
    if (!m || m.op !== 'Mul' || c.claimed(m) || !inner(x)) return undefined;
    for (const [h, q] of [[m.inputs[0]!, m.inputs[1]!], [m.inputs[1]!, m.inputs[0]!]] as const) {
      const th = tpl(h);
      if (c.classOf(h) === 'once' && is3(th, false) && th!.at2[2] === d && isQ(q, d)) return { q, bilinear: [{ h, w }], linear: [], once: [], nodes: [m, n] };
    }
    return undefined;
  };

  const replaced = new Map<GraphNode, GraphNode[]>();
  const dropped = new Set<GraphNode>();
  const fused: string[] = [];
  const sum = (names: readonly string[], tag: string, add: (n: GraphNode) => void) =>
    names.reduce((acc, x, i) => {
      if (i === 0) return x;
      const out = `${tag}:sum${i}`;
      add(node(out, 'Add', [acc, x]));
      return out;
    });

  // ----- target-attention: the top Add of an affine sum with at least one bilinear term -------------
  // Last first: the widest sum is tried before the sums inside it (tried in turn when it does not match).
  for (const n of [...candNodes].reverse()) {
    if (n.op !== 'Add' || dropped.has(n)) continue;
    const out = n.outputs[0]!;
    const t = tpl(out);
    if (!is3(t, true) || c.outputs.has(out)) continue;
    const a = affine(out, true);
    if (!a || !a.q || a.bilinear.length === 0 || a.nodes.some((x) => dropped.has(x))) continue;
    const o = t!.at2[2]!;
    const d = a.bilinear[0]!.w.shape[0]!;
    // Every weight [d, o] (none broadcast along o), every context factor along the sum's own axis 1.
    const sameAxis = (h: string) => tpl(h)!.at2[1] === t!.at2[1] && tpl(h)!.withL[1] === t!.withL[1];
    if ([...a.bilinear.map((b) => b.w), ...a.linear].some((w) => w.shape[0] !== d || w.shape[1] !== o) || !a.bilinear.every((b) => sameAxis(b.h))) continue;
    const tag = `${PREFIX}${out}:affine`;
    // Request nodes: G [d, L, o] = sum of h^T (d, L, 1) * W (d, 1, o) and the linear terms' W (d, 1, o).
    const g: string[] = [];
    a.bilinear.forEach(({ h, w }, i) => {
      const hT = `${tag}:h${i}:T`;
      c.addContextNode(node(hT, 'Transpose', [h], [['perm', [2, 1, 0]]]));
      const w3 = `${tag}:h${i}:w`;
      c.addContextConst(w3, { ...w, shape: [d, 1, o] });
      const gi = `${tag}:h${i}:g`;
      c.addContextNode(node(gi, 'Mul', [hT, w3]));
      g.push(gi);
    });
    if (a.linear.length > 0) {
      const wl = new Float64Array(d * o);
      for (const w of a.linear) for (let i = 0; i < wl.length; i++) wl[i]! += w.data[i]!;
      const name = `${tag}:linear`;
      c.addContextConst(name, { dtype: 'float', shape: [d, 1, o], data: wl });
      g.push(name);
    }
    const g3 = sum(g, `${tag}:g`, c.addContextNode);
    const g2 = `${tag}:G`;
    c.addContextConst(`${g2}:shape`, ints([d, -1]));
    c.addContextNode(node(g2, 'Reshape', [g3, `${g2}:shape`]));
    onceValues.set(g2, { template: plain([d, t!.at2[1]!], [false, t!.withL[1]!]), dtype: 'float' });
    const inputs = [g2];
    if (a.once.length > 0) {
      for (const x of a.once) if (c.classOf(x) === 'const') c.addContextConst(x, c.constant(x));
      const c3 = sum(a.once, `${tag}:c`, c.addContextNode);
      // [1, L, o] whatever the terms' own broadcast shapes: L from the first context factor.
      const lDim = `${tag}:L`;
      c.addContextNode(node(`${tag}:h-shape`, 'Shape', [a.bilinear[0]!.h]));
      c.addContextConst(`${tag}:one`, ints([1]));
      c.addContextConst(`${tag}:two`, ints([2]));
      c.addContextNode(node(lDim, 'Slice', [`${tag}:h-shape`, `${tag}:one`, `${tag}:two`]));
      c.addContextConst(`${tag}:o`, ints([o]));
      const shape = `${tag}:c-shape`;
      c.addContextNode({ ...node(shape, 'Concat', [`${tag}:one`, lDim, `${tag}:o`]), attrs: new Map([['axis', 0]]) });
      const expanded = `${tag}:c-full`;
      c.addContextNode(node(expanded, 'Expand', [c3, shape]));
      const c2 = `${tag}:C`;
      c.addContextConst(`${c2}:shape`, ints([1, -1]));
      c.addContextNode(node(c2, 'Reshape', [expanded, `${c2}:shape`]));
      onceValues.set(c2, { template: plain([1, t!.at2[1]!], [false, t!.withL[1]!]), dtype: 'float' });
      inputs.push(c2);
    }
    // Candidate stage: q as [N, d] (the vector before its Unsqueeze when it has one), one Gemm, back to [N, L, o].
    const nodes: GraphNode[] = [];
    const qn = producer.get(a.q);
    const unsqueezed = qn?.op === 'Unsqueeze' && c.classOf(qn.inputs[0]!) === 'cand' && tpl(qn.inputs[0]!)?.at2.length === 2;
    const q2 = unsqueezed ? qn.inputs[0]! : `${tag}:q`;
    if (!unsqueezed) {
      c.addCandidateConst(`${q2}:shape`, ints([-1, d]));
      nodes.push(node(q2, 'Reshape', [a.q, `${q2}:shape`]));
    }
    const gemm = `${tag}:gemm`;
    nodes.push(node(gemm, 'Gemm', [q2, ...inputs]));
    // An activation right after the sum runs on the Gemm's [N, L o] output, before the Reshape: onnxruntime fuses it into the Gemm.
    const act = consumers.get(out) === 1 ? candNodes.find((r) => r.inputs[0] === out && r.inputs.length === 1 && ACTIVATIONS.has(r.op) && !c.claimed(r)) : undefined;
    let last = gemm;
    if (act) {
      last = `${tag}:${act.op}`;
      nodes.push({ ...act, name: last, inputs: [gemm], outputs: [last] });
      dropped.add(act);
    }
    c.addCandidateConst(`${tag}:out-shape`, ints([0, -1, o]));
    nodes.push(node(act ? act.outputs[0]! : out, 'Reshape', [last, `${tag}:out-shape`]));
    for (const x of a.nodes) dropped.add(x);
    dropped.delete(n);
    replaced.set(n, nodes);
    fused.push(`target-attention ${out}`);
  }

  /** a = s W + b with s [N, L, k], W const [k, 1], b const of one value, each read once: the layer before the weights. */
  const weightLayer = (a: string) => {
    const add = producer.get(a);
    if (!add || add.op !== 'Add' || c.claimed(add) || !inner(a)) return undefined;
    const [mmOut, b] = c.classOf(add.inputs[1]!) === 'const' ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
    const matmul = producer.get(mmOut);
    if (c.classOf(b) !== 'const' || c.constant(b).data.length !== 1 || !matmul || matmul.op !== 'MatMul' || c.claimed(matmul) || !inner(mmOut)) return undefined;
    const w = constMatrix(matmul.inputs[1]!);
    const s = matmul.inputs[0]!;
    const ts = tpl(s);
    if (!w || w.shape[1] !== 1 || c.classOf(s) !== 'cand' || !is3(ts, true) || ts!.at2[2] !== w.shape[0]) return undefined;
    return { add, matmul, s, w: matmul.inputs[1]!, b, k: w.shape[0]! };
  };

  // ----- weighted-sum: ReduceSum over axis 1 of one candidate weight [N, L, 1] times context factors --
  for (const n of candNodes) {
    if (n.op !== 'ReduceSum' || dropped.has(n) || replaced.has(n)) continue;
    const out = n.outputs[0]!;
    const x = n.inputs[0]!;
    const tx = tpl(x);
    const axes = n.inputs[1] ? (c.classOf(n.inputs[1]) === 'const' ? [...c.constant(n.inputs[1]).data] : undefined) : (n.attrs.get('axes') as readonly number[] | undefined);
    if (!is3(tx, true) || !axes || axes.length !== 1 || (axes[0] !== 1 && axes[0] !== -2) || n.attrs.get('noop_with_empty_axes')) continue;
    const keep = (n.attrs.get('keepdims') ?? 1) !== 0;
    const d = tx!.at2[2]!;
    // The Mul tree's leaves: exactly one per-candidate factor [N, L, 1], the others context [1, L or 1, d or 1].
    const leaves: string[] = [];
    const chain: GraphNode[] = [];
    const collect = (name: string, top: boolean): boolean => {
      const p = producer.get(name);
      if (p && p.op === 'Mul' && c.classOf(name) === 'cand' && !c.claimed(p) && (top || inner(name)) && !dropped.has(p) && !replaced.has(p)) {
        chain.push(p);
        return collect(p.inputs[0]!, false) && collect(p.inputs[1]!, false);
      }
      leaves.push(name);
      return true;
    };
    if (!inner(x) || !collect(x, true) || chain.length === 0) continue;
    const cand = leaves.filter((l) => c.classOf(l) === 'cand');
    const once = leaves.filter((l) => c.classOf(l) !== 'cand');
    const ta = tpl(cand[0] ?? '');
    if (cand.length !== 1 || once.some((l) => !isOnce(l)) || !is3(ta, true) || ta!.at2[2] !== 1 || ta!.at2[1] !== tx!.at2[1] || ta!.withL[1] !== tx!.withL[1]) continue;
    const shapes = once.map((l) => (c.classOf(l) === 'const' ? { at2: c.constant(l).shape, withL: c.constant(l).shape.map(() => false) } : tpl(l)));
    const full = shapes.some((s) => s && s.at2.length === 3 && s.at2[0] === 1 && s.at2[1] === tx!.at2[1] && s.withL[1] === tx!.withL[1] && s.at2[2] === d);
    if (!full || shapes.some((s) => !s || s.at2.length !== 3 || s.at2[0] !== 1 || (s.at2[1] !== 1 && s.at2[1] !== tx!.at2[1]) || (s.at2[2] !== 1 && s.at2[2] !== d))) continue;
    const tag = `${PREFIX}${out}:weighted`;
    // Request nodes: the factors' product [1, L, d] as [L, d].
    for (const l of once) if (c.classOf(l) === 'const') c.addContextConst(l, c.constant(l));
    const product = once.length === 1 ? once[0]! : once.slice(1).reduce((acc, l, i) => {
      const p = `${tag}:m${i}`;
      c.addContextNode(node(p, 'Mul', [acc, l]));
      return p;
    }, once[0]!);
    const h = `${tag}:H`;
    c.addContextConst(`${h}:shape`, ints([-1, d]));
    c.addContextNode(node(h, 'Reshape', [product, `${h}:shape`]));
    onceValues.set(h, { template: plain([tx!.at2[1]!, d], [tx!.withL[1]!, false]), dtype: 'float' });
    // Candidate stage: the weights [N, L] x H.
    const nodes: GraphNode[] = [];
    const a2 = `${tag}:a`;
    const layer = weightLayer(cand[0]!);
    if (layer) {
      // The weights are a layer s W + b over [N, L, k]: one Gemm over the N L rows (a batched MatMul and
      // an Add broadcasting along a last axis of 1 are both slow in onnxruntime), to [N, L] by L.
      const rows = `${tag}:s`;
      c.addCandidateConst(`${rows}:shape`, ints([-1, layer.k]));
      nodes.push(node(rows, 'Reshape', [layer.s, `${rows}:shape`]));
      // As W^T [1, k] times the rows transposed ([1, N L]): onnxruntime's Gemm is twice as fast so as with one output column.
      const g = `${tag}:layer`;
      c.addCandidateConst(layer.b, c.constant(layer.b));
      const wRow = `${tag}:w-row`;
      const wv = c.constant(layer.w);
      c.addCandidateConst(wRow, { ...wv, shape: [1, layer.k] });
      nodes.push({ ...node(g, 'Gemm', [wRow, rows, layer.b]), attrs: new Map([['transB', 1]]) });
      // [-1, L], L from H's rows.
      const shape = `${tag}:NL`;
      c.addContextNode(node(`${tag}:H-shape`, 'Shape', [h]));
      c.addContextConst(`${tag}:zero`, ints([0]));
      c.addContextConst(`${tag}:one`, ints([1]));
      c.addContextConst(`${tag}:minus-one`, ints([-1]));
      c.addContextNode(node(`${tag}:L`, 'Slice', [`${tag}:H-shape`, `${tag}:zero`, `${tag}:one`]));
      c.addContextNode({ ...node(shape, 'Concat', [`${tag}:minus-one`, `${tag}:L`]), attrs: new Map([['axis', 0]]) });
      onceValues.set(shape, { template: plain([2], [false]), dtype: 'int' });
      nodes.push(node(a2, 'Reshape', [g, shape]));
      dropped.add(layer.add);
      dropped.add(layer.matmul);
    } else {
      c.addCandidateConst(`${a2}:shape`, ints([0, -1]));
      nodes.push(node(a2, 'Reshape', [cand[0]!, `${a2}:shape`]));
    }
    const mm = keep ? `${tag}:mm` : out;
    nodes.push(node(mm, 'MatMul', [a2, h]));
    if (keep) {
      c.addCandidateConst(`${tag}:out-shape`, ints([0, 1, d]));
      nodes.push(node(out, 'Reshape', [mm, `${tag}:out-shape`]));
    }
    for (const p of chain) dropped.add(p);
    replaced.set(n, nodes);
    fused.push(`weighted-sum ${out}`);
  }

  // ----- shared-operand: a batched MatMul of per-candidate rows by one context matrix ------------------
  for (const n of candNodes) {
    if (n.op !== 'MatMul' || dropped.has(n) || replaced.has(n) || c.claimed(n)) continue;
    const [a, b] = n.inputs as [string, string];
    const ta = tpl(a);
    const tb = tpl(b);
    if (c.classOf(a) !== 'cand' || c.classOf(b) !== 'once' || !is3(ta, true) || !is3(tb, false)) continue;
    // [N, m, k] x [1, k, d] with m and d fixed: one MatMul [N m, k] x [k, d] instead of N small ones.
    const [m, k, d] = [ta!.at2[1]!, ta!.at2[2]!, tb!.at2[2]!];
    if (ta!.withL[1] || ta!.withL[2] !== tb!.withL[1] || tb!.withL[2] || (!ta!.withL[2] && k !== tb!.at2[1])) continue;
    const out = n.outputs[0]!;
    const tag = `${PREFIX}${out}:shared`;
    const matrix = `${tag}:B`;
    c.addContextConst(`${matrix}:shape`, ints([-1, d]));
    c.addContextNode(node(matrix, 'Reshape', [b, `${matrix}:shape`]));
    onceValues.set(matrix, { template: plain([tb!.at2[1]!, d], [tb!.withL[1]!, false]), dtype: 'float' });
    const rows = `${tag}:A`;
    const mm = `${tag}:mm`;
    const nodes: GraphNode[] = [];
    if (m === 1) {
      // [N, 1, k] is [N, k] already in memory: the rows' Reshape takes k from the input (L when k is the history).
      c.addCandidateConst(`${rows}:shape`, ints([0, -1]));
    } else {
      if (ta!.withL[2]) continue;
      c.addCandidateConst(`${rows}:shape`, ints([-1, k]));
    }
    nodes.push(node(rows, 'Reshape', [a, `${rows}:shape`]));
    nodes.push(node(mm, 'MatMul', [rows, matrix]));
    c.addCandidateConst(`${tag}:out-shape`, ints([-1, m, d]));
    nodes.push(node(out, 'Reshape', [mm, `${tag}:out-shape`]));
    replaced.set(n, nodes);
    fused.push(`shared-operand ${out}`);
  }

  // ----- pair-gram: DLRM's pairs gathered from X X^T per candidate: only the candidate rows' products ---
  /** X [N, F, D] as its field pieces: a Concat of [N, k, D] pieces on axis 1, or a view of [N, k D] ones. */
  const stackedPieces = (x: string, f: number, d: number) => {
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
  for (const n of candNodes) {
    if (n.op !== 'MatMul' || dropped.has(n) || replaced.has(n) || c.claimed(n)) continue;
    const [x, xt] = n.inputs as [string, string];
    const tr = producer.get(xt);
    const tx = tpl(x);
    if (!tr || tr.op !== 'Transpose' || tr.inputs[0] !== x || (tr.attrs.get('perm') as readonly number[] | undefined)?.join() !== '0,2,1') continue;
    if (c.classOf(x) !== 'cand' || !is3(tx, true) || tx!.withL.some(Boolean) || consumers.get(x) !== 2 || !inner(xt)) continue;
    const [f, d] = [tx!.at2[1]!, tx!.at2[2]!];
    const stack = stackedPieces(x, f, d);
    const out = n.outputs[0]!;
    const reshape = candNodes.find((r) => r.inputs[0] === out);
    const flat = reshape?.outputs[0];
    if (!stack || !reshape || !inner(out) || reshape.op !== 'Reshape' || c.claimed(reshape) || c.outputs.has(flat!) || tpl(flat!)?.at2.join() !== `2,${f * f}`) continue;
    const gathers = candNodes.filter((r) => r.inputs.includes(flat!));
    const axisOf = (g: GraphNode) => (g.attrs.get('axis') as number | undefined) ?? 0;
    if (gathers.length !== consumers.get(flat!) || gathers.some((g) => g.op !== 'Gather' || g.inputs[0] !== flat || c.claimed(g) || (axisOf(g) !== 1 && axisOf(g) !== -1) || c.classOf(g.inputs[1]!) !== 'const')) continue;
    // Each row's slot among the candidate rows (first) or the context rows (after).
    const isCand = stack.pieces.flatMap((q) => Array.from({ length: q.rows }, () => q.cand));
    const nc = isCand.filter(Boolean).length;
    const nx = f - nc;
    if (nc === 0 || nx === 0) continue;
    const slot = new Array<number>(f);
    let [ci, xi] = [0, 0];
    isCand.forEach((b, r) => (slot[r] = b ? ci++ : xi++));
    // The products [N, nc, nx + nc]: candidate row s against context row t at s nx + t, against candidate row u at nc nx + s nc + u.
    const at = (s: number, other: number) => (isCand[other] ? nc * nx + s * nc + slot[other]! : s * nx + slot[other]!);
    const remapped = gathers.map((g) => {
      const idx = c.constant(g.inputs[1]!);
      if (idx.shape.length !== 1) return undefined;
      const to: number[] = [];
      for (const v of idx.data) {
        if (!(v >= 0 && v < f * f)) return undefined;
        const [a, b] = [Math.floor(v / f), v % f];
        if (isCand[b]) to.push(at(slot[b]!, a));
        else if (isCand[a]) to.push(at(slot[a]!, b));
        else return undefined;
      }
      return to;
    });
    if (remapped.some((r) => r === undefined)) continue;
    const tag = `${PREFIX}${out}:pairs`;
    // Request nodes: the context rows as one matrix [D, nx].
    const ctxPieces = stack.pieces.filter((q) => !q.cand).map((q) => q.name);
    const ctxJoined = ctxPieces.length === 1 ? ctxPieces[0]! : `${tag}:context`;
    if (ctxPieces.length > 1) c.addContextNode({ ...node(ctxJoined, 'Concat', ctxPieces), attrs: new Map([['axis', 1]]) });
    c.addContextConst(`${tag}:context-shape`, ints([nx, d]));
    c.addContextNode(node(`${tag}:context-rows`, 'Reshape', [ctxJoined, `${tag}:context-shape`]));
    const ctxT = `${tag}:context-T`;
    c.addContextNode({ ...node(ctxT, 'Transpose', [`${tag}:context-rows`]), attrs: new Map([['perm', [1, 0]]]) });
    onceValues.set(ctxT, { template: plain([d, nx], [false, false]), dtype: 'float' });
    // Per candidate: its rows C [N, nc, D], their products with the context rows (one MatMul) and with each other.
    const candPieces = stack.pieces.filter((q) => q.cand).map((q) => q.name);
    const nodes: GraphNode[] = [];
    const joined = candPieces.length === 1 ? candPieces[0]! : `${tag}:candidate`;
    if (candPieces.length > 1) nodes.push({ ...node(joined, 'Concat', candPieces), attrs: new Map([['axis', 1]]) });
    const rows = `${tag}:rows`;
    c.addCandidateConst(`${rows}:shape`, ints([-1, nc, d]));
    nodes.push(node(rows, 'Reshape', [joined, `${rows}:shape`]));
    c.addCandidateConst(`${tag}:flat-rows-shape`, ints([-1, d]));
    nodes.push(node(`${tag}:flat-rows`, 'Reshape', [rows, `${tag}:flat-rows-shape`]));
    nodes.push(node(`${tag}:with-context`, 'MatMul', [`${tag}:flat-rows`, ctxT]));
    c.addCandidateConst(`${tag}:with-context-shape`, ints([-1, nc * nx]));
    nodes.push(node(`${tag}:with-context-flat`, 'Reshape', [`${tag}:with-context`, `${tag}:with-context-shape`]));
    nodes.push({ ...node(`${tag}:rows-T`, 'Transpose', [rows]), attrs: new Map([['perm', [0, 2, 1]]]) });
    nodes.push(node(`${tag}:among`, 'MatMul', [rows, `${tag}:rows-T`]));
    c.addCandidateConst(`${tag}:among-shape`, ints([-1, nc * nc]));
    nodes.push(node(`${tag}:among-flat`, 'Reshape', [`${tag}:among`, `${tag}:among-shape`]));
    const products = `${tag}:products`;
    nodes.push({ ...node(products, 'Concat', [`${tag}:with-context-flat`, `${tag}:among-flat`]), attrs: new Map([['axis', 1]]) });
    replaced.set(n, nodes);
    dropped.add(reshape);
    dropped.add(tr);
    gathers.forEach((g, i) => {
      const index = `${tag}:index${i}`;
      c.addCandidateConst(index, ints(remapped[i]!));
      replaced.set(g, [{ ...g, inputs: [products, index] }]);
    });
    fused.push(`pair-gram ${out}`);
  }

  // ----- sum-split: a ReduceSum over the axis its Concat joins context and candidate pieces on --------
  for (const n of candNodes) {
    if (n.op !== 'ReduceSum' || dropped.has(n) || replaced.has(n) || c.claimed(n) || n.attrs.get('noop_with_empty_axes')) continue;
    const x = n.inputs[0]!;
    const tx = tpl(x);
    const axes = n.inputs[1] ? (c.classOf(n.inputs[1]) === 'const' ? [...c.constant(n.inputs[1]).data] : undefined) : (n.attrs.get('axes') as readonly number[] | undefined);
    if (!tx || c.classOf(x) !== 'cand' || !axes || axes.length !== 1) continue;
    const rankOf = tx.at2.length;
    const axis = (axes[0]! + rankOf) % rankOf;
    if (candidateAxes(tx).includes(axis)) continue;
    // The sum of a Concat's pieces, or of their squares (FM's sum of squares: Mul(C, C)); the Concat on the
    // summed axis, or stacked field vectors [N, F, D] as a view of [N, k D] pieces (src/zoo's FM).
    const mul = producer.get(x);
    const square = mul?.op === 'Mul' && mul.inputs[0] === mul.inputs[1] && inner(x);
    const base = square ? mul!.inputs[0]! : x;
    let pieces: { readonly name: string; readonly rows: number; readonly cand: boolean }[] | undefined;
    let view = false;
    const concat = producer.get(base);
    if (concat?.op === 'Concat' && !c.claimed(concat) && ((concat.attrs.get('axis') as number) + rankOf) % rankOf === axis)
      pieces = concat.inputs.map((name) => ({ name, rows: 0, cand: c.classOf(name) === 'cand' }));
    else if (is3(tx, true) && axis === 1 && !tx.withL.some(Boolean)) {
      const stack = stackedPieces(base, tx.at2[1]!, tx.at2[2]!);
      if (stack && !stack.stacked) [pieces, view] = [stack.pieces, true];
    }
    if (!pieces || pieces.some((q) => !q.cand && c.classOf(q.name) !== 'once') || pieces.every((q) => q.cand) || pieces.every((q) => !q.cand)) continue;
    const out = n.outputs[0]!;
    const tag = `${PREFIX}${out}:split`;
    const d = tx.at2[rankOf - 1]!;
    // Each side's pieces joined (as [rows, k, D] for a view), squared for a sum of squares, and summed as
    // the node sums: the context side once per run, at batch 1.
    const side = (mine: typeof pieces, which: string, add: (node: GraphNode) => void) => {
      const names = mine.map((q) => q.name);
      let v = names.length === 1 ? names[0]! : `${tag}:${which}`;
      if (names.length > 1) add({ ...node(v, 'Concat', names), attrs: new Map([['axis', view ? 1 : axis]]) });
      if (view) {
        const rows = `${tag}:${which}-rows`;
        // The shape named by its values: the sum and the sum of squares then share one Reshape (sharedOnce).
        const dims = [-1, mine.reduce((acc, q) => acc + q.rows, 0), d];
        const shape = `${PREFIX}shape:${dims.join(',')}`;
        c.addCandidateConst(shape, ints(dims));
        add(node(rows, 'Reshape', [v, shape]));
        v = rows;
      }
      if (square) {
        const sq = `${tag}:${which}-squared`;
        add(node(sq, 'Mul', [v, v]));
        v = sq;
      }
      const sum = `${tag}:${which}-sum`;
      add({ ...n, name: sum, inputs: [v, ...n.inputs.slice(1)], outputs: [sum] });
      return sum;
    };
    const onceSum = side(pieces.filter((q) => !q.cand), 'context', c.addContextNode);
    onceValues.set(onceSum, { template: plain([], []), dtype: 'float' });
    const nodes: GraphNode[] = [];
    const candSum = side(pieces.filter((q) => q.cand), 'candidates', (v) => void nodes.push(v));
    nodes.push(node(out, 'Add', [candSum, onceSum]));
    replaced.set(n, nodes);
    fused.push(`sum-split ${out}`);
  }

  const candValues = new Set([...replaced.values()].flat().flatMap((n) => n.outputs));
  if (fused.length === 0) return { nodes: candNodes, requestNodes: new Set(), onceValues, candValues, fused };
  const kept = sharedOnce([...requestNodes, ...candNodes.flatMap((n) => replaced.get(n) ?? (dropped.has(n) ? [] : [n]))]);
  // What only the fused chains read (q's Unsqueeze): dropped, last reader first.
  const read = new Set(c.outputs);
  const nodes: GraphNode[] = [];
  for (let i = kept.length - 1; i >= 0; i--) {
    const n = kept[i]!;
    if (!n.outputs.some((o) => read.has(o))) continue;
    nodes.push(n);
    for (const x of c.reads(n)) read.add(x);
  }
  return { nodes: nodes.reverse(), requestNodes: new Set(requestNodes), onceValues, candValues, fused };
}
