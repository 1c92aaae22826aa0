/**
 * A DIN-like graph built by hand (its activation unit on [h, q, h - q, h * q] after the linear-terms pass,
 * then the weights' sum of the history), with variants around the rank-aware export's fusions
 * (src/onnx/fusions/): test/rank-aware-fusions.test.ts and the browser page's onnxruntime-web
 * run (test/browser) score it.
 */
import { GraphBuilder } from '../src/onnx/writer/graph.js';
import { mulberry32 } from '../src/model/random.js';

export const L = 5;
export const D = 3;
const O = 4;

export interface Variant {
  /** The bilinear product (h * q) is also read by the score: target-attention must not fire. */
  readonly productReadTwice?: boolean;
  /** The weighted sum as a batched MatMul of the weights [N, 1, L] by h expanded to N rows (DeepCTR's DIN). */
  readonly batchedSum?: boolean;
  /** A per-candidate term that is not linear in q (relu(x W)) added last: the sum inside it is fused. */
  readonly nonlinearTerm?: boolean;
}

/** The graph: a context u [1, L D] (the history h [1, L, D]) and a candidate x [N, D]; one score per candidate. */
export function dinLike(v: Variant): Uint8Array {
  const g = new GraphBuilder();
  const rand = mulberry32(7);
  let k = 0;
  const w = (dims: number[]) => g.floats(`w${k++}`, Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => rand() * 2 - 1), dims);
  g.input('u', 'float32', [1, L * D]);
  g.input('x', 'float32', ['N', D]);
  const h = g.op('Reshape', ['u', g.int64s([1, L, D])]);
  const q = g.op('Unsqueeze', ['x', g.int64s([1])]);
  const product = g.op('Mul', [h, q]);
  const sum = g.op('Add', [g.op('Add', [g.op('MatMul', [h, w([D, O])]), g.op('MatMul', [q, w([D, O])])]), g.op('MatMul', [product, w([D, O])])]);
  let pre = g.op('Add', [sum, w([O])]);
  if (v.nonlinearTerm) pre = g.op('Add', [pre, g.op('Unsqueeze', [g.op('Relu', [g.op('MatMul', ['x', w([D, O])])]), g.int64s([1])])]);
  const hidden = g.op('Sigmoid', [pre]);
  const weights = g.op('Add', [g.op('MatMul', [hidden, w([O, 1])]), w([1])]);
  let pooled: string;
  if (v.batchedSum) {
    const rows = g.op('Concat', [g.op('Shape', ['x'], { start: 0, end: 1 }), g.int64s([L, D])], { axis: 0 });
    const mm = g.op('MatMul', [g.op('Transpose', [weights], { perm: [0, 2, 1] }), g.op('Expand', [h, rows])]);
    pooled = g.op('Reshape', [mm, g.int64s([-1, D])]);
  } else pooled = g.op('ReduceSum', [g.op('Mul', [weights, h]), g.int64s([1])], { keepdims: 0 });
  if (v.productReadTwice) pooled = g.op('Add', [pooled, g.op('ReduceSum', [product, g.int64s([1])], { keepdims: 0 })]);
  g.output('score', g.op('MatMul', [g.op('Concat', [pooled, 'x'], { axis: 1 }), w([2 * D, 1])]), 'float32', ['N', 1]);
  return g.encode('din-like', '');
}

export function dinLikeRequest(n: number) {
  const rand = mulberry32(100 + n);
  const list = (d: number) => Array.from({ length: d }, () => Math.fround(rand() * 4 - 2));
  return { context: { u: list(L * D) }, candidates: Array.from({ length: n }, () => ({ x: list(D) })) };
}
