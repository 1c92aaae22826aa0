/**
 * pair-gram: DLRM's pairs gathered from X X^T [N, F, F] in the candidate stage (the context-by-context
 * pairs are gathered once, src/onnx/passes/pair-runs.ts) involve a candidate row each: only the candidate
 * rows' products are computed, against the context rows as one MatMul [N nc, D] x [D, F - nc] and among
 * themselves, nc / F of the work, and X (the context rows expanded to N) is never built.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { PREFIX, ints, node, plain } from './scope.js';
import type { FusionScope } from './scope.js';

export function fusePairGram(s: FusionScope): void {
  const { producer, consumers, replaced, dropped, fused, onceValues, inner, tpl, is3, c } = s;
  for (const n of s.nodes) {
    if (n.op !== 'MatMul' || dropped.has(n) || replaced.has(n) || c.claimed(n)) continue;
    const [x, xt] = n.inputs as [string, string];
    const tr = producer.get(xt);
    const tx = tpl(x);
    if (!tr || tr.op !== 'Transpose' || tr.inputs[0] !== x || (tr.attrs.get('perm') as readonly number[] | undefined)?.join() !== '0,2,1') continue;
    if (c.classOf(x) !== 'cand' || !is3(tx, true) || tx!.withL.some(Boolean) || consumers.get(x) !== 2 || !inner(xt)) continue;
    const [f, d] = [tx!.at2[1]!, tx!.at2[2]!];
    const stack = s.stackedPieces(x, f, d);
    const out = n.outputs[0]!;
    const reshape = s.nodes.find((r) => r.inputs[0] === out);
    const flat = reshape?.outputs[0];
    if (!stack || !reshape || !inner(out) || reshape.op !== 'Reshape' || c.claimed(reshape) || c.outputs.has(flat!) || tpl(flat!)?.at2.join() !== `2,${f * f}`) continue;
    const gathers = s.nodes.filter((r) => r.inputs.includes(flat!));
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
    if (ctxPieces.length > 1) c.addRequestNode({ ...node(ctxJoined, 'Concat', ctxPieces), attrs: new Map([['axis', 1]]) });
    c.addCandidateConst(`${tag}:context-shape`, ints([nx, d]));
    c.addRequestNode(node(`${tag}:context-rows`, 'Reshape', [ctxJoined, `${tag}:context-shape`]));
    const ctxT = `${tag}:context-T`;
    c.addRequestNode({ ...node(ctxT, 'Transpose', [`${tag}:context-rows`]), attrs: new Map([['perm', [1, 0]]]) });
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
}
