/**
 * A rank-aware pass on the graph itself: an elementwise op of two concatenations of matching pieces,
 * `Mul(Concat(a_1..a_k), Concat(b_1..b_k))`, is the concatenation of the pieces' ops, and a reduction over
 * other axes of that concatenation is the concatenation of the pieces' reductions. Pieces are grouped in
 * runs of neighbours whose operands are all context (or all not), so a run of context pieces becomes a
 * context value that the rank analysis computes once per request. PNN's inner products (DeepCTR writes
 * `p = cat(e_i for the pairs' first fields)`, `q = cat(e_j ...)`, `sum(p * q, dim=2)`) thus compute the
 * context-context pairs once, and the split of the first DNN layer then takes them as context columns.
 * A Split of a concatenation on its pieces' boundaries reads the pieces themselves (FiBiNET's bilinear
 * products of `torch.split(E, 1, dim=1)` pairs are then once for two context fields).
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis } from '../interpreter/rank.js';
import { PassScope, sameTemplate } from './fold.js';
import type { PassResult } from './fold.js';

const ELEMENTWISE = new Set(['Mul', 'Add', 'Sub', 'Div']);
const REDUCTIONS = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin']);
/** More runs than this would trade one kernel for many small ones. */
const MAX_RUNS = 8;


interface Run {
  readonly once: boolean;
  readonly from: number;
  readonly to: number;
}

export function splitConcatPieces(graph: OnnxGraph, rank: RankAnalysis): PassResult {
  const scope = new PassScope(graph, rank);
  const { producers, replaced, folds } = scope;
  const t = (name: string) => scope.template(name);
  const isOnce = (name: string) => scope.isOnce(name);
  /** Outputs this pass rebuilt as concatenations of runs: their axis and the runs' values. */
  const split = new Map<string, { readonly axis: number; readonly runs: readonly string[]; readonly once: readonly boolean[] }>();
  const concat = (name: string, inputs: readonly string[], axis: number, output: string): GraphNode => ({ name, op: 'Concat', domain: '', inputs: [...inputs], outputs: [output], attrs: new Map([['axis', axis]]) });

  /**
   * A Split of a Concat along the same axis whose cuts fall on the pieces' boundaries (DeepCTR's
   * torch.split of the stacked fields): each output is an Identity of its piece, or a Concat of its pieces,
   * so a context piece stays a context value.
   */
  const splitOfConcat = (node: GraphNode): GraphNode[] | undefined => {
    const c = producers.get(node.inputs[0]!);
    const ti = t(node.inputs[0]!);
    if (!c || c.op !== 'Concat' || !ti) return undefined;
    const r = ti.at2.length;
    const norm = (x: number) => (x < 0 ? x + r : x);
    const axis = norm((node.attrs.get('axis') as number | undefined) ?? 0);
    if (norm((c.attrs.get('axis') as number | undefined) ?? 0) !== axis || ti.at2[axis] !== ti.at3[axis] || ti.withL[axis]) return undefined;
    const pieces = c.inputs.filter((p) => p !== '');
    const extents = pieces.map((p) => t(p)?.at2[axis]);
    const sizes = node.outputs.map((o) => t(o)?.at2[axis]);
    if (extents.some((e) => e === undefined) || sizes.some((e) => e === undefined)) return undefined;
    const nodes: GraphNode[] = [];
    let k = 0;
    for (const [j, output] of node.outputs.entries()) {
      let want = sizes[j]!;
      const from = k;
      while (want > 0 && k < pieces.length && extents[k]! <= want) want -= extents[k++]!;
      if (want !== 0 || k === from) return undefined;
      const run = pieces.slice(from, k);
      nodes.push(run.length === 1 ? { name: `${node.name}#${j}`, op: 'Identity', domain: '', inputs: [run[0]!], outputs: [output], attrs: new Map() } : concat(`${node.name}#${j}`, run, axis, output));
    }
    return k === pieces.length ? nodes : undefined;
  };

  for (const node of graph.nodes) {
    if (node.op === 'Split') {
      const pieces = splitOfConcat(node);
      if (pieces) {
        replaced.set(node, pieces);
        folds.push({ pass: 'concat-pieces', node, terms: pieces, what: `each of its ${node.outputs.length} outputs is pieces of the concatenation it splits, read as they are` });
      }
      continue;
    }
    if (ELEMENTWISE.has(node.op) && node.inputs.length === 2) {
      const [a, b] = node.inputs as [string, string];
      const [ca, cb] = [producers.get(a), producers.get(b)];
      const out = t(node.outputs[0]!);
      // A square of one concatenation (DeepFM's E * E) is left to the fm-split rewrite, which needs it whole.
      if (a === b || !ca || !cb || ca.op !== 'Concat' || cb.op !== 'Concat' || !sameTemplate(t(a), out) || !sameTemplate(t(b), out)) continue;
      const r = out!.at2.length;
      const axisOf = (c: GraphNode) => {
        const x = (c.attrs.get('axis') as number | undefined) ?? 0;
        return x < 0 ? x + r : x;
      };
      const axis = axisOf(ca);
      // The concatenated axis must not be the candidate axis (or a list length).
      if (axis !== axisOf(cb) || out!.at2[axis] !== out!.at3[axis] || out!.withL[axis]) continue;
      const [pa, pb] = [ca.inputs, cb.inputs];
      const extent = (p: string) => t(p)?.at2[axis];
      if (pa.length !== pb.length || pa.some((p, k) => extent(p) === undefined || extent(p) !== extent(pb[k]!) || t(p)!.at3[axis] !== extent(p))) continue;
      const runs: Run[] = [];
      pa.forEach((p, k) => {
        const once = isOnce(p) && isOnce(pb[k]!);
        const last = runs[runs.length - 1];
        if (last && last.once === once) runs[runs.length - 1] = { ...last, to: k + 1 };
        else runs.push({ once, from: k, to: k + 1 });
      });
      if (runs.length === 1 || runs.length > MAX_RUNS || !runs.some((x) => x.once)) continue;
      const nodes: GraphNode[] = [];
      const piece = (side: 'a' | 'b', run: Run, i: number) => {
        const inputs = (side === 'a' ? pa : pb).slice(run.from, run.to);
        if (inputs.length === 1) return inputs[0]!;
        const o = `${node.outputs[0]}#${side}${i}`;
        nodes.push(concat(`${node.name}#${side}${i}`, inputs, axis, o));
        return o;
      };
      const outs = runs.map((run, i) => {
        const o = `${node.outputs[0]}#run${i}`;
        nodes.push({ name: `${node.name}#run${i}`, op: node.op, domain: '', inputs: [piece('a', run, i), piece('b', run, i)], outputs: [o], attrs: new Map() });
        return o;
      });
      nodes.push(concat(`${node.name}#runs`, outs, axis, node.outputs[0]!));
      replaced.set(node, nodes);
      split.set(node.outputs[0]!, { axis, runs: outs, once: runs.map((x) => x.once) });
      const onceCount = runs.filter((x) => x.once).reduce((s, x) => s + x.to - x.from, 0);
      folds.push({ pass: 'concat-pieces', node, terms: nodes, what: `${pa.length} concatenated pieces as ${runs.length} runs: ${onceCount} of them context only, computed once` });
      continue;
    }
    const from = REDUCTIONS.has(node.op) ? split.get(node.inputs[0]!) : undefined;
    if (!from) continue;
    const r = t(node.inputs[0]!)!.at2.length;
    const axesValue = (node.attrs.get('axes') as number[] | undefined) ?? (node.inputs[1] ? [...(rank.folded.get(node.inputs[1]) ?? { data: [] }).data] : undefined);
    if (!axesValue || axesValue.length === 0) continue;
    const axes = axesValue.map((x) => (x < 0 ? x + r : x));
    if (axes.includes(from.axis)) continue;
    const keep = ((node.attrs.get('keepdims') as number | undefined) ?? 1) !== 0;
    const axis = keep ? from.axis : from.axis - axes.filter((x) => x < from.axis).length;
    const nodes: GraphNode[] = [];
    const outs = from.runs.map((run, i) => {
      const o = `${node.outputs[0]}#run${i}`;
      nodes.push({ ...node, name: `${node.name}#run${i}`, inputs: [run, ...node.inputs.slice(1)], outputs: [o] });
      return o;
    });
    nodes.push(concat(`${node.name}#runs`, outs, axis, node.outputs[0]!));
    replaced.set(node, nodes);
    split.set(node.outputs[0]!, { axis, runs: outs, once: from.once });
    folds.push({ pass: 'concat-pieces', node, terms: nodes, what: `reduced run by run (${from.runs.length} runs, ${from.once.filter(Boolean).length} of them context only)` });
  }
  return scope.result();
}
