/**
 * shared-operand: a batched MatMul [N, m, k] x [1, k, d] of per-candidate rows by one context matrix
 * (DeepCTR's DIN: the attention weights times the keys expanded to N rows): one MatMul [N m, k] x [k, d].
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { PREFIX, ints, node, plain } from './scope.js';
import type { FusionScope } from './scope.js';

export function fuseSharedOperand(s: FusionScope): void {
  const { replaced, dropped, fused, onceValues, tpl, is3, c } = s;
  for (const n of s.nodes) {
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
    c.addCandidateConst(`${matrix}:shape`, ints([-1, d]));
    c.addRequestNode(node(matrix, 'Reshape', [b, `${matrix}:shape`]));
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
}
