/** The dcnv2 matcher: reads a graph's dcnv2 structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import type { Linear, GraphView } from '../../onnx/patterns/view.js';
import { fail } from '../../onnx/patterns/view.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { tensor, addMlp, addTables, headMlp, sameParts } from '../../onnx/patterns/match-parts.js';

interface CrossLayer {
  readonly weight?: Float32Array;
  readonly up?: Float32Array;
  readonly down?: Float32Array;
  readonly rank: number;
  readonly bias: Float32Array;
}

/**
 * A matrix product of the layer input by a constant: TorchRec's W @ x.unsqueeze(2) (W [out, in]) or
 * x @ W (W [in, out]). Returns the canonical [out, in] weight.
 */
function crossProduct(v: GraphView, name: string, what: string): { x: string; weight: Float32Array; out: number; in: number } {
  const node = v.expect(name, 'MatMul', what);
  const left = v.constant(node.inputs[0]!);
  if (left && left.shape.length === 2) {
    const d = v.dims(node.inputs[1]!);
    if (d.length !== 3 || d[1] !== left.shape[1] || d[2] !== 1) fail(`${what}: W @ x with x [rows, ${left.shape[1]}, 1]`);
    return { x: node.inputs[1]!, weight: Float32Array.from(left.data), out: left.shape[0]!, in: left.shape[1]! };
  }
  v.used.delete(node);
  return v.matmulByConstant(name, what);
}

/** x_{l+1} = x0 * (W_l x_l + b_l) + x_l (full or low rank), walked back from the last layer's output. */
function crossStack(v: GraphView, end: string): { x0: string; layers: CrossLayer[] } {
  const layers: CrossLayer[] = [];
  let cur = end;
  let x0: string | undefined;
  while (v.is(cur, 'Add')) {
    const add = v.expect(cur, 'Add', 'cross layer');
    const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
    const mul = v.expect(mulName, 'Mul', 'cross layer (x0 * gate)');
    const gateAt = mul.inputs.findIndex((i) => v.is(i, 'Add'));
    if (gateAt < 0) fail(`cross layer: Mul "${mul.name}" of x0 and W x + b`);
    const gate = v.expect(mul.inputs[gateAt]!, 'Add', 'cross layer gate');
    const [mm, b] = v.constant(gate.inputs[1]!) ? [gate.inputs[0]!, gate.inputs[1]!] : [gate.inputs[1]!, gate.inputs[0]!];
    const outer = crossProduct(v, mm, 'cross layer W x');
    const bias = v.bias(b, outer.out, 'cross layer bias');
    let layer: CrossLayer;
    let xl = outer.x;
    const lowRank = v.producer(xl)?.op === 'MatMul' && v.producer(xl)!.inputs.some((i) => v.constant(i));
    if (lowRank) {
      const inner = crossProduct(v, xl, 'low-rank cross layer V x');
      xl = inner.x;
      layer = { up: outer.weight, down: inner.weight, rank: inner.out, bias };
    } else layer = { weight: outer.weight, rank: 0, bias };
    const first = mul.inputs[1 - gateAt]!;
    if (x0 !== undefined && v.source(first) !== x0) fail('cross layers: every layer gates by the same x0');
    x0 = v.source(first);
    if (v.source(xl) !== v.source(resid)) fail('cross layer: the residual is the layer input x_l');
    layers.unshift(layer);
    cur = resid;
  }
  if (layers.length === 0 || v.source(cur) !== x0) fail('cross stack: x_{l+1} = x0 * (W x_l + b) + x_l down to x_0');
  const ranks = new Set(layers.map((l) => l.rank));
  if (ranks.size !== 1) fail('cross stack: every layer full rank, or every layer the same low rank');
  return { x0: x0!, layers };
}

export const dcnv2Matcher: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length > 2) fail('DCNv2: an MLP on x_L, or on cat(x_L, deep MLP output)');
  const cross = track('cross layers', 'cross (layer 0 split by rank)', () => crossStack(v, top[0]!));
  const x0 = v.parts(cross.x0);
  let deep: Linear[] = [];
  if (top.length === 2) {
    const m = track('deep MLP', 'linear (first layer split by rank) + dense', () => v.mlp(top[1]!, 'deep MLP', true));
    if (!sameParts(v, v.parts(m.input), x0)) fail('DCNv2 parallel: the deep MLP reads x_0');
    deep = m.layers;
  }
  const fields = track('embedding lookup', 'gather', () => x0.map((p, i) => v.field(p, `x_0 part ${i}`)));
  const d = fields.reduce((a, f) => a + f.dim, 0);
  const rank = cross.layers[0]!.rank;
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  cross.layers.forEach((l, i) => {
    if (rank === 0) weights.set(`cross.${i}.weight`, tensor([d, d], l.weight!));
    else {
      weights.set(`cross.${i}.down`, tensor([rank, d], l.down!));
      weights.set(`cross.${i}.up`, tensor([d, rank], l.up!));
    }
    weights.set(`cross.${i}.bias`, tensor([d], l.bias));
  });
  addMlp(weights, 'deep', deep);
  addMlp(weights, 'mlp', head.layers);
  const structure = deep.length > 0 ? 'parallel' : 'stacked';
  return { architecture: 'dcnv2', options: { layers: cross.layers.length, rank, structure, deep: deep.map((l) => l.out), mlp: head.hidden }, fields, weights, components: [] };
};
