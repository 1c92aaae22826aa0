/**
 * weighted-sum: `ReduceSum(a * m * H, axis 1)` with one per-candidate weight a [N, L, 1] and context
 * factors (the history H [1, L, d], its mask [1, L, 1]): one MatMul [N, L] x (m * H) [L, d]; a layer
 * `s w + b` giving a is one Gemm over the N L rows (a batched MatMul and an Add broadcasting along a last
 * axis of 1 are both slow in onnxruntime).
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { PREFIX, ints, node, plain } from './scope.js';
import type { FusionScope } from './scope.js';

export function fuseWeightedSum(s: FusionScope): void {
  const { producer, replaced, dropped, fused, onceValues, inner, tpl, is3, isOnce, constMatrix, c } = s;
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

  for (const n of s.nodes) {
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
    for (const l of once) if (c.classOf(l) === 'const') c.addCandidateConst(l, c.constant(l));
    const product = once.length === 1 ? once[0]! : once.slice(1).reduce((acc, l, i) => {
      const p = `${tag}:m${i}`;
      c.addRequestNode(node(p, 'Mul', [acc, l]));
      return p;
    }, once[0]!);
    const h = `${tag}:H`;
    c.addCandidateConst(`${h}:shape`, ints([-1, d]));
    c.addRequestNode(node(h, 'Reshape', [product, `${h}:shape`]));
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
      c.addRequestNode(node(`${tag}:H-shape`, 'Shape', [h]));
      c.addCandidateConst(`${tag}:zero`, ints([0]));
      c.addCandidateConst(`${tag}:one`, ints([1]));
      c.addCandidateConst(`${tag}:minus-one`, ints([-1]));
      c.addRequestNode(node(`${tag}:L`, 'Slice', [`${tag}:H-shape`, `${tag}:zero`, `${tag}:one`]));
      c.addRequestNode({ ...node(shape, 'Concat', [`${tag}:minus-one`, `${tag}:L`]), attrs: new Map([['axis', 0]]) });
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
}
