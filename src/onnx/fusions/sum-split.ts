/**
 * sum-split: a ReduceSum over the axis a Concat joins context and candidate pieces on, or of their squares
 * (FM's sum and sum of squares over fields, as a Concat on that axis or a view [N, F, D] of [N, k D]
 * pieces; a linear part's sum of field weights): the context pieces' sum once per run, plus the candidate
 * pieces' per candidate.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { candidateAxes } from '../interpreter/rank.js';
import { PREFIX, ints, node, plain } from './scope.js';
import type { FusionScope } from './scope.js';

export function fuseSumSplit(s: FusionScope): void {
  const { producer, replaced, dropped, fused, onceValues, inner, tpl, is3, c } = s;
  for (const n of s.nodes) {
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
      const stack = s.stackedPieces(base, tx.at2[1]!, tx.at2[2]!);
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
    const onceSum = side(pieces.filter((q) => !q.cand), 'context', c.addRequestNode);
    onceValues.set(onceSum, { template: plain([], []), dtype: 'float' });
    const nodes: GraphNode[] = [];
    const candSum = side(pieces.filter((q) => q.cand), 'candidates', (v) => void nodes.push(v));
    nodes.push(node(out, 'Add', [candSum, onceSum]));
    replaced.set(n, nodes);
    fused.push(`sum-split ${out}`);
  }
}
