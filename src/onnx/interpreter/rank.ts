/**
 * Rank propagation over an imported graph. Every value gets a class:
 * - `const`: depends on no input (weights, folded shape constants, transposed weights): computed at import;
 * - `shape`: depends only on the number of candidates N (PyTorch's Shape/Gather/Concat arithmetic around
 *   the dynamic batch): recomputed in each stage for that stage's N;
 * - `once`: depends on context inputs (and N only as a broadcast axis): rank 2 in the paper's terms,
 *   computed once per request with N = 1, so the broadcast of the context (Expand, Tile) is dropped;
 * - `cand`: depends on a candidate input: rank 3, computed per candidate.
 * How shapes grow with N (and with variable list lengths L) is measured, not inferred per op: the graph
 * runs on dummy inputs at (N, L) = (2, 1), (3, 1) and (2, 2), and each dim is fitted as a + b*N.
 */
import { RankawareError, show } from '../../errors.js';
import type { Dim, GraphInput, OnnxGraph } from '../reader/onnx-graph.js';
import { evaluateGraph } from './evaluate.js';
import { SUPPORTED_OPS, KERNELS, nodeWhere } from './ops.js';
import type { Value } from './tensor.js';
import { value } from './tensor.js';

export type ValueClass = 'const' | 'shape' | 'once' | 'cand';

export interface InputRole {
  readonly input: GraphInput;
  readonly side: 'context' | 'candidate';
}

/** How a value's shape depends on N: per axis, its size at N = 2 and N = 3 (at L = 1), and whether it moves with L. */
export interface ShapeTemplate {
  readonly at2: readonly number[];
  readonly at3: readonly number[];
  readonly withL: readonly boolean[];
}

export interface RankAnalysis {
  readonly roles: readonly InputRole[];
  readonly classes: ReadonlyMap<string, ValueClass>;
  readonly templates: ReadonlyMap<string, ShapeTemplate>;
  /** Vanilla FLOPs of each node (by index) at N = 2 and N = 3: flops(N) is linear in N. */
  readonly flops2: readonly number[];
  readonly flops3: readonly number[];
  /** Values of every `const` node, folded at import (weights transposed by the exporter, shape constants). */
  readonly folded: ReadonlyMap<string, Value>;
  /** Once values that were demoted to per candidate (their N dependence is not a plain broadcast axis). */
  readonly demoted: ReadonlySet<string>;
}

/** A dim of the template at a given N (linear fit through N = 2 and N = 3). */
export function dimAt(t: ShapeTemplate, axis: number, n: number): number {
  const a = t.at2[axis]!;
  return a + (t.at3[axis]! - a) * (n - 2);
}

/** Axes whose size is exactly N: the candidate axes a once value is broadcast along. */
export function candidateAxes(t: ShapeTemplate): number[] {
  return t.at2.flatMap((d, i) => (d === 2 && t.at3[i] === 3 ? [i] : []));
}

/** Every dim either independent of N or exactly N. */
function broadcastClean(t: ShapeTemplate): boolean {
  return t.at2.every((d, i) => d === t.at3[i] || (d === 2 && t.at3[i] === 3));
}

/**
 * Context inputs: the listed names, or (one entry that names no input) every input whose name starts with
 * it. Every other input is a candidate input. Refuses names the graph lacks and context inputs whose
 * first dim is not 1.
 */
export function inputRoles(graph: OnnxGraph, context: readonly string[]): InputRole[] {
  const names = graph.inputs.map((i) => i.name);
  let ctx: Set<string>;
  if (context.length === 1 && !names.includes(context[0]!)) {
    const prefix = context[0]!;
    ctx = new Set(names.filter((n) => n.startsWith(prefix)));
    if (ctx.size === 0) throw new RankawareError('--context', `input names or a prefix of them (the graph's inputs: ${names.join(', ')})`, show(prefix), 'unknown');
  } else {
    for (const c of context) if (!names.includes(c)) throw new RankawareError('--context', `names of graph inputs (${names.join(', ')})`, show(c), 'unknown');
    ctx = new Set(context);
  }
  if (ctx.size === names.length) throw new RankawareError('--context', 'at least one input left for the candidates', `every input (${names.join(', ')})`);
  return graph.inputs.map((input) => {
    const side = ctx.has(input.name) ? 'context' : 'candidate';
    const first = input.dims[0];
    if (input.dims.length === 0) throw new RankawareError(`input "${input.name}"`, 'a tensor with a leading batch dim', 'a scalar');
    if (side === 'context' && typeof first === 'number' && first !== 1)
      throw new RankawareError(`context input "${input.name}"`, 'a leading dim of 1 (one context per request)', `dims [${input.dims.join(', ')}]`);
    if (side === 'candidate' && typeof first === 'number' && first !== -1)
      throw new RankawareError(`candidate input "${input.name}"`, 'a dynamic leading dim (the N candidates; export with dynamic_axes)', `dims [${input.dims.join(', ')}]`);
    return { input, side };
  });
}

/** Refuse ops we cannot run, naming the node and the op, before touching any value. */
export function checkOps(graph: OnnxGraph): void {
  for (const node of graph.nodes) {
    if ((node.domain && node.domain !== 'ai.onnx') || !KERNELS[node.op])
      throw new RankawareError(nodeWhere(node), `an op rankaware can import (${SUPPORTED_OPS.join(', ')})`, `unsupported op "${node.domain ? node.domain + '.' : ''}${node.op}"`, 'unknown');
  }
}

/** Dummy feeds: N rows for candidate inputs, 1 for context inputs, L for every other dynamic dim. */
export function probeFeeds(roles: readonly InputRole[], n: number, l: number): Map<string, Value> {
  const feeds = new Map<string, Value>();
  for (const { input, side } of roles) {
    const dims = input.dims.map((d: Dim, i) => (i === 0 ? (side === 'context' ? 1 : n) : typeof d === 'number' && d >= 0 ? d : l));
    feeds.set(input.name, value(input.dtype, dims));
  }
  return feeds;
}

export function analyzeRanks(graph: OnnxGraph, roles: readonly InputRole[]): RankAnalysis {
  checkOps(graph);
  const p2 = evaluateGraph(graph, probeFeeds(roles, 2, 1));
  const p3 = evaluateGraph(graph, probeFeeds(roles, 3, 1));
  const pL = evaluateGraph(graph, probeFeeds(roles, 2, 2));
  const templates = new Map<string, ShapeTemplate>();
  for (const [name, v2] of p2.values) {
    const v3 = p3.values.get(name)!;
    const vl = pL.values.get(name)!;
    templates.set(name, { at2: v2.shape, at3: v3.shape, withL: v2.shape.map((d, i) => vl.shape[i] !== d) });
  }
  const classes = new Map<string, ValueClass>();
  for (const name of graph.constants.keys()) classes.set(name, 'const');
  for (const r of roles) classes.set(r.input.name, r.side === 'context' ? 'once' : 'cand');
  const demoted = new Set<string>();
  const order: Record<ValueClass, number> = { const: 0, shape: 1, once: 2, cand: 3 };
  for (const node of graph.nodes) {
    const ins = node.inputs.filter((n) => n !== '').map((n) => classes.get(n)!);
    let cls: ValueClass = ins.reduce<ValueClass>((acc, c) => (order[c] > order[acc] ? c : acc), 'const');
    if (node.op === 'Shape') cls = shapeClass(node.outputs[0]!, cls, [p2.values, p3.values, pL.values]);
    for (const out of node.outputs) {
      let c = cls;
      const t = templates.get(out);
      // A once value must be its per-candidate row: N may appear only as a whole broadcast axis, and an
      // integer value computed from N-dependent shapes would hold N = 1. Such values run per candidate.
      if (c === 'once' && t && (!broadcastClean(t) || (p2.values.get(out)!.dtype === 'int' && ins.includes('shape')))) {
        c = 'cand';
        demoted.add(out);
      }
      classes.set(out, c);
    }
  }
  const folded = new Map<string, Value>(graph.constants);
  for (const node of graph.nodes) for (const out of node.outputs) if (classes.get(out) === 'const') folded.set(out, p2.values.get(out)!);
  return { roles, classes, templates, flops2: p2.flops, flops3: p3.flops, demoted, folded };
}

/**
 * Shape(x) reads dims, not data: `const` when the dims it reads are fixed, `shape` when they move with N
 * only, x's class when they move with a list length L (a once value's L is the context's own). Which dims
 * it reads is seen from its output at the three probes.
 */
function shapeClass(output: string, inputClass: ValueClass, probes: readonly ReadonlyMap<string, Value>[]): ValueClass {
  const [at2, at3, atL] = probes.map((p) => [...p.get(output)!.data].join(','));
  const readsN = at2 !== at3;
  const readsL = at2 !== atL;
  if (readsL) return readsN || inputClass === 'cand' ? 'cand' : inputClass;
  return readsN ? 'shape' : 'const';
}
