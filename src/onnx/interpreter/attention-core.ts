/**
 * Multi-head attention as exporters write it, read node by node for the attention rewrites
 * (./rewrites.ts): softmax(Q_h K_h^T [/ sqrt(dh)]) V_h for every head, with Q, K, V projections
 * MatMul(X, W) by constant [in, out] weights. Two ways of cutting the heads are read:
 * - batch first (our export-onnx, nn.MultiheadAttention-like code): Transpose(Reshape(P, [-1, F, H, dh]),
 *   [0, 2, 1, 3]) ([0, 2, 3, 1] for the keys), merged back by Reshape(Transpose(O, [0, 2, 1, 3]));
 * - head first (DeepCTR-Torch's InteractingLayer): Concat on axis 0 of Unsqueeze(Split(P, dh, axis 2)),
 *   keys Transpose [0, 1, 3, 2], merged back by Squeeze(Concat on the last axis of Split(O, axis 0)).
 * Keys and values may be a Concat on the field axis of several projections (a target stream attending
 * over [context keys; target keys]).
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import type { GraphView } from './graph-view.js';
import { fail } from './graph-view.js';

/** MatMul(x, W) of stacked field vectors x [rows, F, in] by a constant W [in, out] (stored as is: projectionLayout in_out). */
export interface Projection {
  readonly x: string;
  /** The MatMul's output value (rank-attention shares the context keys between streams). */
  readonly value: string;
  /** The constant's name (which weight feeds the node). */
  readonly constant: string;
  readonly inOut: Float32Array;
  readonly in: number;
  readonly out: number;
}

export type Layout = 'batch-first' | 'head-first';

export function projection(v: GraphView, name: string, what: string): Projection {
  const node = v.expect(name, 'MatMul', what);
  const c = node.inputs[1]!;
  const w = v.constant(c) ?? fail(`${what}: MatMul "${node.name}" by a constant [in, out] weight`);
  const d = v.dims(node.inputs[0]!);
  if (w.shape.length !== 2 || d.length !== 3 || d[2] !== w.shape[0] || v.constant(node.inputs[0]!)) fail(`${what}: MatMul "${node.name}" of stacked field vectors [rows, F, ${w.shape[0]}] by a 2-d weight`);
  return { x: v.source(node.inputs[0]!), value: name, constant: c, inOut: Float32Array.from(w.data), in: w.shape[0]!, out: w.shape[1]! };
}

/** The projections whose field-axis concatenation `name` is (one, or a Concat on axis 1 of [rows, F, w] values). */
function projections(v: GraphView, name: string, what: string): Projection[] {
  const node = v.producer(name);
  if (node?.op === 'Concat' && v.dims(name).length === 3) {
    const axis = v.intAttr(node, 'axis', 0);
    if (axis !== 1 && axis !== -2) fail(`${what}: Concat "${node.name}" on the field axis`);
    return node.inputs.map((i) => projection(v, i, what));
  }
  return [projection(v, name, what)];
}

function perm(node: GraphNode): string {
  return ((node.attrs.get('perm') as readonly number[] | undefined) ?? []).join();
}

function unsqueezedAt0(v: GraphView, node: GraphNode): boolean {
  const axes = v.axes(node);
  return axes.length === 1 && axes[0] === 0;
}

/**
 * The per-head value `name` ([rows, H, F, dh] batch first, [H, rows, F, dh] head first; keys transposed
 * on the last two axes) cut from the projections' output P [rows, F, H*dh].
 */
function splitHeads(v: GraphView, name: string, keys: boolean, what: string): { p: string; heads: number; headDim: number; layout: Layout } {
  const node = v.expect(name, ['Transpose', 'Concat'], what);
  if (node.op === 'Transpose' && perm(node) === (keys ? '0,2,3,1' : '0,2,1,3')) {
    const reshape = v.expect(node.inputs[0]!, 'Reshape', what);
    const [rows, f, h, dh] = v.dims(reshape.outputs[0]!) as [number, number, number, number];
    const p = v.dims(reshape.inputs[0]!);
    if (v.dims(reshape.outputs[0]!).length !== 4 || p.length !== 3 || p[0] !== rows || p[1] !== f || p[2] !== h * dh) fail(`${what}: Reshape "${reshape.name}" of [rows, F, H*dh] to [rows, F, H, dh]`);
    return { p: reshape.inputs[0]!, heads: h, headDim: dh, layout: 'batch-first' };
  }
  let concat = node;
  if (node.op === 'Transpose') {
    if (!keys || perm(node) !== '0,1,3,2') fail(`${what}: Transpose "${node.name}" with perm ${keys ? '[0, 2, 3, 1] or [0, 1, 3, 2]' : '[0, 2, 1, 3]'}, found [${perm(node)}]`);
    concat = v.expect(node.inputs[0]!, 'Concat', what);
  } else if (keys) fail(`${what}: the keys transposed for the scores, found Concat "${node.name}"`);
  if (v.intAttr(concat, 'axis', 0) !== 0) fail(`${what}: Concat "${concat.name}" of the heads on axis 0`);
  let split: GraphNode | undefined;
  concat.inputs.forEach((input, i) => {
    const unsq = v.expect(input, 'Unsqueeze', what);
    if (!unsqueezedAt0(v, unsq)) fail(`${what}: Unsqueeze "${unsq.name}" on axis 0`);
    const s = v.expect(unsq.inputs[0]!, 'Split', what);
    if (split && s !== split) fail(`${what}: every head cut by one Split`);
    split = s;
    if (s.outputs[i] !== unsq.inputs[0]) fail(`${what}: head ${i} is output ${i} of Split "${s.name}"`);
  });
  const s = split!;
  const p = v.dims(s.inputs[0]!);
  const axis = v.intAttr(s, 'axis', 0);
  const h = s.outputs.length;
  const dh = p[2]! / h;
  if (h !== concat.inputs.length || p.length !== 3 || (axis !== 2 && axis !== -1) || !Number.isInteger(dh) || s.outputs.some((o) => v.dims(o)[2] !== dh))
    fail(`${what}: Split "${s.name}" of [rows, F, H*dh] into H equal heads on the last axis`);
  return { p: s.inputs[0]!, heads: h, headDim: dh, layout: 'head-first' };
}

/** softmax(Q_h K_h^T [/ scale]) V_h for every head: the MatMul `weighted` ([rows, H, F, dh] or [H, rows, F, dh]). */
export interface AttentionCore {
  readonly query: Projection;
  readonly keys: readonly Projection[];
  readonly values: readonly Projection[];
  readonly heads: number;
  readonly headDim: number;
  /** The constant the scores are divided by (sqrt(headDim)), absent without scaling. */
  readonly scale?: number;
  readonly layout: Layout;
}

export function attentionCore(v: GraphView, weightedName: string, what: string): AttentionCore {
  const weighted = v.expect(weightedName, 'MatMul', `${what} (softmax weights times V)`);
  const softmax = v.expect(weighted.inputs[0]!, 'Softmax', `${what} (softmax over the keys)`);
  const axis = softmax.attrs.get('axis') as number | undefined;
  if (!(axis === -1 || axis === 3 || (axis === undefined && v.graph.opset >= 13))) fail(`${what}: Softmax "${softmax.name}" over the last axis`);
  let scores = softmax.inputs[0]!;
  let scale: number | undefined;
  if (v.is(scores, 'Div')) {
    const div = v.expect(scores, 'Div', `${what} (scaled scores)`);
    scale = v.scalar(div.inputs[1]!) ?? fail(`${what}: Div "${div.name}" by a constant`);
    scores = div.inputs[0]!;
  }
  const qk = v.expect(scores, 'MatMul', `${what} (scores Q K^T)`);
  const q = splitHeads(v, qk.inputs[0]!, false, `${what} queries`);
  const k = splitHeads(v, qk.inputs[1]!, true, `${what} keys`);
  const val = splitHeads(v, weighted.inputs[1]!, false, `${what} values`);
  if ([k, val].some((s) => s.heads !== q.heads || s.headDim !== q.headDim || s.layout !== q.layout)) fail(`${what}: queries, keys and values cut into the same heads the same way`);
  if (scale !== undefined && Math.abs(scale - Math.sqrt(q.headDim)) > 1e-6 * Math.sqrt(q.headDim)) fail(`${what}: scores divided by sqrt(headDim) = ${Math.sqrt(q.headDim)}, found ${scale}`);
  const query = projection(v, q.p, `${what} query projection`);
  const keys = projections(v, k.p, `${what} key projection`);
  const values = projections(v, val.p, `${what} value projection`);
  const width = q.heads * q.headDim;
  if ([query, ...keys, ...values].some((p) => p.out !== width)) fail(`${what}: every projection of width heads x headDim = ${width}`);
  if (keys.length !== values.length || keys.some((kp, i) => kp.x !== values[i]!.x)) fail(`${what}: keys and values read the same field vectors`);
  return { query, keys, values, heads: q.heads, headDim: q.headDim, scale, layout: q.layout };
}
