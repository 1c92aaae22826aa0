/**
 * target-attention: a sum of terms affine in one candidate vector q [N, 1, d], with bilinear terms
 * `(h * q) W` against a context [1, L, d] (DIN's activation unit on [h, q, h - q, h * q], after
 * src/onnx/passes/linear-terms.ts), linear terms `q W'` and context terms c [1, L, o]:
 * `sum_k q_k (h_ik W_kj + W'_kj) + c_ij`, one Gemm [N, d] x G [d, L o] + C [1, L o], with G and C built
 * once per run; an activation right after it runs on the Gemm's output (onnxruntime fuses it).
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import type { Value } from '../interpreter/tensor.js';
import { ACTIVATIONS, PREFIX, ints, node, plain } from './scope.js';
import type { FusionScope } from './scope.js';

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

export function fuseTargetAttention(s: FusionScope): void {
  const { producer, consumers, replaced, dropped, fused, onceValues, inner, tpl, is3, isOnce, constMatrix, c } = s;
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

  const sum = (names: readonly string[], tag: string, add: (n: GraphNode) => void) =>
    names.reduce((acc, x, i) => {
      if (i === 0) return x;
      const out = `${tag}:sum${i}`;
      add(node(out, 'Add', [acc, x]));
      return out;
    });

  // Last first: the widest sum is tried before the sums inside it (tried in turn when it does not match).
  for (const n of [...s.nodes].reverse()) {
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
      c.addRequestNode(node(hT, 'Transpose', [h], [['perm', [2, 1, 0]]]));
      const w3 = `${tag}:h${i}:w`;
      c.addCandidateConst(w3, { ...w, shape: [d, 1, o] });
      const gi = `${tag}:h${i}:g`;
      c.addRequestNode(node(gi, 'Mul', [hT, w3]));
      g.push(gi);
    });
    if (a.linear.length > 0) {
      const wl = new Float64Array(d * o);
      for (const w of a.linear) for (let i = 0; i < wl.length; i++) wl[i]! += w.data[i]!;
      const name = `${tag}:linear`;
      c.addCandidateConst(name, { dtype: 'float', shape: [d, 1, o], data: wl });
      g.push(name);
    }
    const g3 = sum(g, `${tag}:g`, c.addRequestNode);
    const g2 = `${tag}:G`;
    c.addCandidateConst(`${g2}:shape`, ints([d, -1]));
    c.addRequestNode(node(g2, 'Reshape', [g3, `${g2}:shape`]));
    onceValues.set(g2, { template: plain([d, t!.at2[1]!], [false, t!.withL[1]!]), dtype: 'float' });
    const inputs = [g2];
    if (a.once.length > 0) {
      for (const x of a.once) if (c.classOf(x) === 'const') c.addCandidateConst(x, c.constant(x));
      const c3 = sum(a.once, `${tag}:c`, c.addRequestNode);
      // [1, L, o] whatever the terms' own broadcast shapes: L from the first context factor.
      const lDim = `${tag}:L`;
      c.addRequestNode(node(`${tag}:h-shape`, 'Shape', [a.bilinear[0]!.h]));
      c.addCandidateConst(`${tag}:one`, ints([1]));
      c.addCandidateConst(`${tag}:two`, ints([2]));
      c.addRequestNode(node(lDim, 'Slice', [`${tag}:h-shape`, `${tag}:one`, `${tag}:two`]));
      c.addCandidateConst(`${tag}:o`, ints([o]));
      const shape = `${tag}:c-shape`;
      c.addRequestNode({ ...node(shape, 'Concat', [`${tag}:one`, lDim, `${tag}:o`]), attrs: new Map([['axis', 0]]) });
      const expanded = `${tag}:c-full`;
      c.addRequestNode(node(expanded, 'Expand', [c3, shape]));
      const c2 = `${tag}:C`;
      c.addCandidateConst(`${c2}:shape`, ints([1, -1]));
      c.addRequestNode(node(c2, 'Reshape', [expanded, `${c2}:shape`]));
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
    const act = consumers.get(out) === 1 ? s.nodes.find((r) => r.inputs[0] === out && r.inputs.length === 1 && ACTIVATIONS.has(r.op) && !c.claimed(r)) : undefined;
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
}
