/**
 * A rank-aware pass on the graph itself: a MatMul by a constant whose input is a concatenation along the
 * feature axis (`MatMul(Concat([p_1, ..., p_k], -1), W)`) is the sum of each piece times its rows of W, and
 * each piece is split further by linearity (`Sub`, `Add`, `Neg` of pieces of the same shape) into leaf
 * tensors, each computed at its own, unbroadcast shape (an `Expand`ed input is read before the Expand).
 * DIN's activation unit on `[q, k, q - k, q * k]` becomes `q (W1 + W3)` once per candidate,
 * `k (W2 - W3)` once per history item (a context value: once per request) and only `(q * k) W4` per
 * candidate per item, added by broadcasting; the product `q * k` itself broadcasts from the unexpanded
 * q and k. The rank analysis then runs on the new graph, so each term lands in its stage by itself.
 * Applied where the input has a batch of rows per candidate (rank >= 3) and the split saves work.
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis, ShapeTemplate } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';
import { size } from '../interpreter/tensor.js';

import { sameTemplate } from './fold.js';
import type { GraphFold, PassResult } from './fold.js';


/** The numpy broadcast of templates, or undefined. */
function broadcast(ts: readonly ShapeTemplate[]): ShapeTemplate | undefined {
  const rank = Math.max(...ts.map((t) => t.at2.length));
  const at2: number[] = [], at3: number[] = [], withL: boolean[] = [];
  for (let i = 0; i < rank; i++) {
    let d2 = 1, d3 = 1, l = false;
    for (const t of ts) {
      const j = i - (rank - t.at2.length);
      if (j < 0) continue;
      const [e2, e3] = [t.at2[j]!, t.at3[j]!];
      if (e2 !== 1) { if (d2 !== 1 && d2 !== e2) return undefined; d2 = e2; }
      if (e3 !== 1) { if (d3 !== 1 && d3 !== e3) return undefined; d3 = e3; }
      l ||= t.withL[j]!;
    }
    at2.push(d2); at3.push(d3); withL.push(l);
  }
  return { at2, at3, withL };
}

export function foldLinearTerms(graph: OnnxGraph, rank: RankAnalysis): PassResult {
  const producers = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const o of node.outputs) producers.set(o, node);
  const t = (name: string) => rank.templates.get(name);
  const constants = new Map(graph.constants);
  const replaced = new Map<GraphNode, GraphNode[]>();
  const folds: GraphFold[] = [];

  for (const node of graph.nodes) {
    if (node.op !== 'MatMul') continue;
    const [c, wName] = node.inputs as [string, string];
    const w = rank.classes.get(wName) === 'const' ? rank.folded.get(wName) : undefined;
    const concat = producers.get(c);
    const ct = t(c);
    if (!w || w.shape.length !== 2 || w.dtype !== 'float' || !concat || concat.op !== 'Concat' || !ct || ct.at2.length < 3) continue;
    const last = ct.at2.length - 1;
    const axis = (concat.attrs.get('axis') as number | undefined) ?? 0;
    if ((axis < 0 ? axis + ct.at2.length : axis) !== last) continue;
    const parts = concat.inputs.filter((p) => p !== '');
    const widths = parts.map((p) => t(p)?.at2[last] ?? -1);
    if (parts.some((p, i) => !t(p) || t(p)!.at3[last] !== widths[i] || t(p)!.withL[last] || t(p)!.at2.length !== ct.at2.length)) continue;
    const [k, o] = w.shape as [number, number];
    if (widths.reduce((a, b) => a + b, 0) !== k) continue;

    // Each piece as a combination of leaves: leaf -> [coefficient, first row of W] per piece.
    const leaves = new Map<string, { width: number; uses: { coeff: number; row: number }[] }>();
    const expand = (name: string, coeff: number, row: number, width: number, depth: number): void => {
      const p = producers.get(name);
      const inputsSame = p && p.inputs.length >= 1 && p.inputs.every((i) => t(i) && sameTemplate(t(i)!, t(name)!));
      if (depth < 4 && p && inputsSame && (p.op === 'Sub' || p.op === 'Add') && p.inputs.length === 2) {
        expand(p.inputs[0]!, coeff, row, width, depth + 1);
        expand(p.inputs[1]!, p.op === 'Sub' ? -coeff : coeff, row, width, depth + 1);
        return;
      }
      if (depth < 4 && p && inputsSame && p.op === 'Neg') return expand(p.inputs[0]!, -coeff, row, width, depth + 1);
      const leaf = leaves.get(name) ?? leaves.set(name, { width, uses: [] }).get(name)!;
      leaf.uses.push({ coeff, row });
    };
    let row = 0;
    parts.forEach((p, i) => {
      expand(p, 1, row, widths[i]!, 0);
      row += widths[i]!;
    });

    // Read each leaf before its Expand; a product of Expands broadcasts from its unexpanded operands.
    const unexpanded = (name: string): string => {
      const p = producers.get(name);
      if (!p || p.op !== 'Expand') return name;
      const x = p.inputs[0]!;
      const tx = t(x);
      return tx && tx.at2.length === t(name)!.at2.length && tx.at2[last] === t(name)!.at2[last] ? x : name;
    };
    const newNodes: GraphNode[] = [];
    const terms: { input: string; template: ShapeTemplate }[] = [];
    let smaller = leaves.size < parts.length;
    for (const [name] of leaves) {
      let input = unexpanded(name);
      const p = producers.get(name);
      if (input === name && p && p.op === 'Mul' && p.inputs.length === 2) {
        const [a, b] = [unexpanded(p.inputs[0]!), unexpanded(p.inputs[1]!)];
        const bt = (a !== p.inputs[0] || b !== p.inputs[1]) && broadcast([t(a)!, t(b)!]);
        if (bt && sameTemplate(bt, t(name)!)) {
          input = `${name}#product`;
          newNodes.push({ name: `${p.name}#product`, op: 'Mul', domain: '', inputs: [a, b], outputs: [input], attrs: new Map() });
          terms.push({ input, template: bt });
          continue;
        }
      }
      if (input !== name && size(t(input)!.at3) < size(t(name)!.at3)) smaller = true;
      terms.push({ input, template: t(input)! });
    }
    // Every axis but the features must still reach the MatMul's own shape through some term.
    const out = t(node.outputs[0]!);
    const reach = broadcast(terms.map((x) => x.template));
    if (!smaller || !out || !reach || reach.at2.slice(0, last).join() !== out.at2.slice(0, last).join() || reach.at3.slice(0, last).join() !== out.at3.slice(0, last).join() || reach.withL.slice(0, last).join() !== out.withL.slice(0, last).join()) continue;

    if (leaves.size === 1) continue; // one leaf (a single piece) saves nothing
    // The leaves' weights: sum over their uses of coefficient times the piece's rows of W.
    let acc = '';
    [...leaves.values()].forEach((leaf, j) => {
      const data = new Float64Array(leaf.width * o);
      for (const { coeff, row: r } of leaf.uses) for (let i = 0; i < leaf.width * o; i++) data[i]! += coeff * w.data[r * o + i]!;
      const wn = `${node.name}#w${j}`;
      constants.set(wn, { dtype: 'float', shape: [leaf.width, o], data } satisfies Value);
      const termOut = `${node.outputs[0]}#term${j}`;
      newNodes.push({ name: `${node.name}#term${j}`, op: 'MatMul', domain: '', inputs: [terms[j]!.input, wn], outputs: [termOut], attrs: new Map() });
      if (j === 0) acc = termOut;
      else {
        const sum = j === leaves.size - 1 ? node.outputs[0]! : `${node.outputs[0]}#sum${j}`;
        newNodes.push({ name: `${node.name}#sum${j}`, op: 'Add', domain: '', inputs: [acc, termOut], outputs: [sum], attrs: new Map() });
        acc = sum;
      }
    });
    replaced.set(node, newNodes);
    folds.push({
      pass: 'linear-terms',
      node,
      terms: newNodes,
      what: `${parts.length} concatenated pieces as ${leaves.size} terms (${terms.map((x) => `[${x.template.at2.join(', ')}]`).join(' + ')} at N = 2), each at its own shape`,
    });
  }
  if (replaced.size === 0) return { graph, folds };
  const nodes = graph.nodes.flatMap((n) => replaced.get(n) ?? [n]);
  return { graph: { ...graph, nodes, constants }, folds };
}
