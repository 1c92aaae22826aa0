/**
 * The ONNX compiler (src/onnx/compiler) op by op against onnxruntime-node. Each case builds a graph with a
 * context input u [1, Du] and a candidate input x [N, Dx] (and, for embedding lookups, int64 ids [N]),
 * computes one op on per-candidate data (broadcast against the context where broadcasting matters), and
 * reduces the result to one score per candidate by a constant weight (Flatten, MatMul [K, 1]). Every
 * compiled plan (rank-aware and vanilla, on wasm and js) and the float64 interpreter must agree with
 * onnxruntime within 1e-5 * max(1, |want|) at N = 1, 2 and 7, on odd sizes; WebGPU (Dawn, SwiftShader here)
 * within 1e-4. Configurations the compiler does not lower are refused with one line naming the node.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { GraphBuilder } from '../src/onnx/writer/graph.js';
import { importOnnx } from '../src/onnx/model.js';
import { mulberry32 } from '../src/model/random.js';
import { refusal } from './helpers.js';

type Attrs = Readonly<Record<string, number | string | readonly number[]>>;

/** What a case builds its op from. */
interface Ctx {
  readonly x: string;
  readonly u: string;
  readonly id: string;
  op(type: string, inputs: readonly string[], attrs?: Attrs): string;
  /** A random float32 constant of `dims` in [lo, hi). */
  w(dims: readonly number[], lo?: number, hi?: number): string;
  s(value: number): string;
  i64(values: readonly number[]): string;
  r(v: string, dims: readonly number[]): string;
  /** Columns [from, to) of a 2-D value. */
  cols(v: string, from: number, to: number): string;
  /** A runtime shape [N, ...rest] (N read off x). */
  rows(...rest: number[]): string;
  /** Split into two outputs along `axis` by the sizes input. */
  split(v: string, sizes: readonly [number, number], axis: number): [string, string];
}

interface OpCase {
  readonly name: string;
  readonly dx: number;
  readonly du?: number;
  /** The range of the random inputs (default [-2, 2)). */
  readonly range?: readonly [number, number];
  /** An int64 candidate input `id` [N] with ids in [0, ids). */
  readonly ids?: number;
  readonly build: (t: Ctx) => string;
}

const FLOAT = 1;
const INT64 = 7;

/** The case's graph: the op's value (probe: its Shape as the output), or its weighted sum as the score. */
function graphOf(c: OpCase, probe: boolean, headWidth = 0): Uint8Array {
  const g = new GraphBuilder();
  g.input('u', 'float32', [1, c.du ?? 5]);
  g.input('x', 'float32', ['N', c.dx]);
  if (c.ids) g.input('id', 'int64', ['N']);
  const rand = mulberry32(17);
  let k = 0;
  const extra = new Map<string, string>();
  const t: Ctx = {
    x: 'x', u: 'u', id: 'id',
    op: (type, inputs, attrs) => g.op(type, inputs, attrs),
    w: (dims, lo = -1, hi = 1) => g.floats(`w${k++}`, Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => lo + (hi - lo) * rand()), dims),
    s: (value) => g.scalar(value),
    i64: (values) => g.int64s(values),
    r: (v, dims) => g.op('Reshape', [v, g.int64s(dims)]),
    cols: (v, from, to) => g.op('Slice', [v, g.int64s([from]), g.int64s([to]), g.int64s([1])]),
    rows: (...rest) => g.op('Concat', [g.op('Shape', ['x'], { start: 0, end: 1 }), g.int64s(rest)], { axis: 0 }),
    split: (v, sizes, axis) => {
      const first = g.op('Split', [v, g.int64s(sizes)], { axis });
      extra.set(first, `${first}#1`);
      return [first, `${first}#1`];
    },
  };
  const v = c.build(t);
  if (probe) g.output('shape', g.op('Shape', [v]), 'int64', ['R']);
  else g.output('score', g.op('MatMul', [g.op('Flatten', [v], { axis: 1 }), t.w([headWidth, 1])]), 'float32', ['N', 1]);
  const bytes = g.encode(c.name, '');
  if (extra.size === 0) return bytes;
  // GraphBuilder writes one output per node: give each Split its second output.
  const { ModelProto } = onnxProto.onnx;
  const model = ModelProto.decode(bytes);
  for (const node of model.graph!.node!) if (extra.has(node.output![0]!)) node.output!.push(extra.get(node.output![0]!)!);
  return ModelProto.encode(model).finish();
}

function request(c: OpCase, n: number) {
  const rand = mulberry32(1000 + n);
  const [lo, hi] = c.range ?? [-2, 2];
  const list = (d: number) => Array.from({ length: d }, () => Math.fround(lo + (hi - lo) * rand()));
  return {
    context: { u: list(c.du ?? 5) },
    candidates: Array.from({ length: n }, (_, i) => ({ x: list(c.dx), ...(c.ids ? { id: (i * 5 + n) % c.ids } : {}) })),
  };
}

type Request = ReturnType<typeof request>;

async function ortRun(bytes: Uint8Array, c: OpCase, req: Request): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  const n = req.candidates.length;
  const feeds: Record<string, ort.Tensor> = {
    u: new ort.Tensor('float32', Float32Array.from(req.context.u), [1, req.context.u.length]),
    x: new ort.Tensor('float32', Float32Array.from(req.candidates.flatMap((r) => r.x)), [n, c.dx]),
  };
  if (c.ids) feeds.id = new ort.Tensor('int64', BigInt64Array.from(req.candidates, (r) => BigInt(r.id!)), [n]);
  return Object.values(await session.run(feeds))[0]!;
}

const PLANS = [['rank-aware', 'wasm'], ['vanilla', 'wasm'], ['rank-aware', 'js'], ['vanilla', 'js'], ['interpret', 'js'], ['interpret-vanilla', 'js']] as const;

/** Every plan's scores against onnxruntime's: the mismatches, one line each. */
async function check(c: OpCase): Promise<string[]> {
  const dims = Array.from((await ortRun(graphOf(c, true), c, request(c, 2))).data as BigInt64Array, Number);
  const bytes = graphOf(c, false, dims.slice(1).reduce((a, d) => a * d, 1));
  const model = importOnnx(bytes, { context: ['u'] });
  const bad: string[] = [];
  for (const n of [1, 2, 7]) {
    const req = request(c, n);
    const want = Array.from((await ortRun(bytes, c, req)).data as Float32Array);
    for (const [plan, engine] of PLANS) {
      const got = model.score(req, plan, engine).scores;
      got.forEach((s, i) => {
        if (!(Math.abs(s - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)))) bad.push(`${plan} ${engine} N=${n} candidate ${i}: ${s} vs onnxruntime ${want[i]}`);
      });
    }
    // WebGPU (f32 throughout, 1e-4): every op.
    for (const plan of ['rank-aware', 'vanilla'] as const) {
      let result;
      try {
        result = await model.scoreAsync(req, plan, 'webgpu');
      } catch (e) {
        bad.push(`${plan} webgpu N=${n}: ${(e as Error).message}`);
        continue;
      }
      if (result.backend !== 'webgpu') bad.push(`${plan} webgpu N=${n}: ran on ${result.backend} (${result.reason})`);
      result.scores.forEach((s, i) => {
        if (!(Math.abs(s - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)))) bad.push(`${plan} webgpu N=${n} candidate ${i}: ${s} vs onnxruntime ${want[i]}`);
      });
    }
  }
  return bad;
}


// ----- the cases ----------------------------------------------------------------------------------

const x3 = (t: Ctx) => t.r(t.x, [-1, 3, 5]); // x [N, 15] as [N, 3, 5]
const x4 = (t: Ctx) => t.r(t.x, [-1, 3, 5, 3]); // x [N, 45] as [N, 3, 5, 3]
const mixed3 = (t: Ctx) => t.op('Add', [x3(t), t.r(t.u, [1, 1, 5])]); // [N, 3, 5] plus the context row

const binary: OpCase[] = [
  { name: 'Add [N,3,5] + context [1,1,5]', dx: 15, build: (t) => mixed3(t) },
  { name: 'Sub [N,1,5] - context [1,3,1]', dx: 5, du: 3, build: (t) => t.op('Sub', [t.r(t.x, [-1, 1, 5]), t.r(t.u, [1, 3, 1])]) },
  { name: 'Sub context [1,3,1] - [N,1,5] (context first)', dx: 5, du: 3, build: (t) => t.op('Sub', [t.r(t.u, [1, 3, 1]), t.r(t.x, [-1, 1, 5])]) },
  { name: 'Mul by a scalar constant', dx: 7, build: (t) => t.op('Mul', [t.x, t.s(1.5)]) },
  { name: 'Mul [N,3,5] by a constant [3,1]', dx: 15, build: (t) => t.op('Mul', [x3(t), t.w([3, 1])]) },
  { name: 'Div [N,3,5] by 3 + |context| [1,1,5]', dx: 15, build: (t) => t.op('Div', [x3(t), t.op('Add', [t.op('Abs', [t.r(t.u, [1, 1, 5])]), t.s(3)])]) },
  { name: 'Div context [1,3,1] by 3 + |x| [N,1,5]', dx: 5, du: 3, build: (t) => t.op('Div', [t.r(t.u, [1, 3, 1]), t.op('Add', [t.op('Abs', [t.r(t.x, [-1, 1, 5])]), t.s(3)])]) },
  { name: 'Pow by a constant 2', dx: 7, build: (t) => t.op('Pow', [t.x, t.s(2)]) },
  { name: 'Pow by a constant 0.5 on positive data', dx: 7, range: [0.1, 3], build: (t) => t.op('Pow', [t.x, t.s(0.5)]) },
  { name: 'Pow [N,3,5] by the context [1,1,5] on positive data', dx: 15, range: [0.1, 2], build: (t) => t.op('Pow', [x3(t), t.r(t.u, [1, 1, 5])]) },
  { name: 'Max [N,3,5] with context [1,1,5]', dx: 15, build: (t) => t.op('Max', [x3(t), t.r(t.u, [1, 1, 5])]) },
  { name: 'Max of three (x, context, scalar)', dx: 5, build: (t) => t.op('Max', [t.x, t.u, t.s(0.25)]) },
  { name: 'Min [N,1,5] with context [1,3,1]', dx: 5, du: 3, build: (t) => t.op('Min', [t.r(t.x, [-1, 1, 5]), t.r(t.u, [1, 3, 1])]) },
];

const logic: OpCase[] = [
  { name: 'Where(Greater(x, context)) over [N,3,5] and [1,1,5]', dx: 15, build: (t) => t.op('Where', [t.op('Greater', [x3(t), t.r(t.u, [1, 1, 5])]), x3(t), t.op('Neg', [t.r(t.u, [1, 1, 5])])]) },
  { name: 'Where(Less(x, 0.3), x, scalar)', dx: 7, build: (t) => t.op('Where', [t.op('Less', [t.x, t.s(0.3)]), t.x, t.s(-1.25)]) },
  {
    name: 'Where(Equal) on int64 casts, broadcast [N,1,5] and [1,3,1]', dx: 5, du: 3,
    build: (t) => t.op('Where', [t.op('Equal', [t.op('Cast', [t.op('Mul', [t.r(t.x, [-1, 1, 5]), t.s(2)])], { to: INT64 }), t.op('Cast', [t.op('Mul', [t.r(t.u, [1, 3, 1]), t.s(2)])], { to: INT64 })]), t.s(1), t.r(t.x, [-1, 1, 5])]),
  },
  { name: 'Not of a comparison', dx: 7, build: (t) => t.op('Where', [t.op('Not', [t.op('Greater', [t.x, t.s(0)])]), t.x, t.op('Mul', [t.x, t.s(3)])]) },
  { name: 'Cast float -> int64 -> float', dx: 7, build: (t) => t.op('Cast', [t.op('Cast', [t.op('Mul', [t.x, t.s(3)])], { to: INT64 })], { to: FLOAT }) },
  { name: 'Cast bool -> float', dx: 5, build: (t) => t.op('Mul', [t.op('Cast', [t.op('Greater', [t.x, t.u])], { to: FLOAT }), t.x]) },
  { name: 'int64 Div and Add (truncating), cast back', dx: 7, build: (t) => t.op('Cast', [t.op('Add', [t.op('Div', [t.op('Cast', [t.op('Mul', [t.x, t.s(10)])], { to: INT64 }), t.op('Cast', [t.s(3)], { to: INT64 })]), t.op('Cast', [t.s(2)], { to: INT64 })])], { to: FLOAT }) },
];

/** Each unary op on x and on the context, added: [N, 7] + [1, 7]. */
const unary: OpCase[] = ([
  ['Relu'], ['LeakyRelu', { alpha: 0.2 }], ['Sigmoid'], ['Tanh'], ['Exp', {}, [-1, 1]], ['Log', {}, [0.1, 3]], ['Sqrt', {}, [0.1, 3]],
  ['Erf'], ['Neg'], ['Abs'], ['Reciprocal', {}, [0.5, 2]], ['Softplus'],
] as [string, Attrs?, [number, number]?][]).map(([op, attrs, range]) => ({
  name: `${op}${attrs && Object.keys(attrs).length ? ` ${JSON.stringify(attrs)}` : ''}`, dx: 7, du: 7, range,
  build: (t: Ctx) => t.op('Add', [t.op(op, [t.x], attrs), t.op(op, [t.u], attrs)]),
}));
unary.push(
  // exp's range ends: 0 below -87.3, saturated sigmoids, and large values (the SIMD exp clamps, then fixes the ends).
  { name: 'Sigmoid on [-100, 100)', dx: 7, du: 7, range: [-100, 100], build: (t) => t.op('Add', [t.op('Sigmoid', [t.x]), t.op('Sigmoid', [t.u])]) },
  { name: 'Exp on [-100, 10)', dx: 7, du: 7, range: [-100, 10], build: (t) => t.op('Add', [t.op('Exp', [t.x]), t.op('Exp', [t.u])]) },
  { name: 'Clip (min and max as constant inputs)', dx: 7, du: 7, build: (t) => t.op('Add', [t.op('Clip', [t.x, t.s(-0.5), t.s(0.7)]), t.op('Clip', [t.u, t.s(-0.5), t.s(0.7)])]) },
  { name: 'Clip (max only)', dx: 7, build: (t) => t.op('Clip', [t.x, '', t.s(0.7)]) },
);

const normalization: OpCase[] = [
  ...[-1, 1].flatMap((axis) => ['Softmax', 'LogSoftmax'].map((op): OpCase => ({ name: `${op} axis ${axis} of [N,3,5] (with the context)`, dx: 15, build: (t) => t.op(op, [mixed3(t)], { axis }) }))),
  { name: 'LayerNormalization axis -1 of [N,3,5]', dx: 15, build: (t) => t.op('LayerNormalization', [mixed3(t), t.w([5]), t.w([5])], { axis: -1, epsilon: 1e-3 }) },
  { name: 'LayerNormalization axis 1 of [N,3,5], scale [3,5], no bias', dx: 15, build: (t) => t.op('LayerNormalization', [x3(t), t.w([3, 5])], { axis: 1 }) },
  { name: 'LayerNormalization axis 1 of [N,3,5], scale [5] (repeated), bias [3,5]', dx: 15, build: (t) => t.op('LayerNormalization', [mixed3(t), t.w([5]), t.w([3, 5])], { axis: 1, epsilon: 1e-3 }) },
  { name: 'BatchNormalization on [N,3,5]', dx: 15, build: (t) => t.op('BatchNormalization', [x3(t), t.w([3]), t.w([3]), t.w([3]), t.w([3], 0.5, 2)], { epsilon: 1e-3 }) },
];

const reduceSum = (t: Ctx, v: string, axes: number[], keepdims: number) => t.op('ReduceSum', [v, t.i64(axes)], { keepdims });
const reduceOp = (op: string, input: (t: Ctx) => string, axes: number[], keepdims: number, extra: Partial<OpCase> = {}): OpCase => ({
  name: `${op} axes [${axes}] keepdims ${keepdims}${extra.dx === 45 ? ' of [N,3,5,3]' : ' of [N,3,5]'}`,
  dx: 15,
  ...extra,
  build: (t) => (op === 'ReduceSum' ? reduceSum(t, input(t), axes, keepdims) : t.op(op, [input(t)], { axes, keepdims })),
});
const reductions: OpCase[] = [
  reduceOp('ReduceSum', mixed3, [2], 1),
  reduceOp('ReduceSum', mixed3, [-1], 0),
  reduceOp('ReduceSum', x4, [1, 3], 0, { dx: 45 }),
  reduceOp('ReduceMean', mixed3, [1], 0),
  reduceOp('ReduceMean', x4, [1, 2], 1, { dx: 45 }),
  reduceOp('ReduceMax', x4, [1, 3], 1, { dx: 45 }),
  reduceOp('ReduceMax', mixed3, [2], 0),
  reduceOp('ReduceMin', mixed3, [2], 0),
  reduceOp('ReduceMin', x4, [3, 1], 0, { dx: 45 }),
  reduceOp('ReduceProd', x3, [1], 1, { range: [0.5, 1.5] }),
  reduceOp('ReduceProd', x4, [1, 3], 0, { dx: 45, range: [0.7, 1.3] }),
  reduceOp('ReduceL2', mixed3, [1], 1),
  reduceOp('ReduceL2', x4, [2, 3], 0, { dx: 45 }),
  // Lines of 13 (the SIMD kernel's steps of four and a tail of one) and of 3 (a tail only), contiguous and strided.
  { name: 'ReduceMax of [N,13] over axis 1 (a contiguous line of 13)', dx: 13, build: (t) => t.op('ReduceMax', [t.op('Mul', [t.x, t.w([13])])], { axes: [1], keepdims: 1 }) },
  { name: 'ReduceSum of [N,13] over axis -1 (a contiguous line of 13)', dx: 13, build: (t) => reduceSum(t, t.op('Mul', [t.x, t.w([13])]), [-1], 0) },
  { name: 'ReduceMean of [N,13,2] over axis 1 (lines of 13, 2 apart)', dx: 26, build: (t) => t.op('ReduceMean', [t.r(t.x, [-1, 13, 2])], { axes: [1], keepdims: 0 }) },
  reduceOp('ReduceL2', x4, [3], 0, { dx: 45 }),
  reduceOp('ReduceMin', x4, [2], 1, { dx: 45 }),
  { name: 'ReduceMean of the context (once) added to x', dx: 5, build: (t) => t.op('Add', [t.x, t.op('ReduceMean', [t.u], { axes: [1], keepdims: 1 })]) },
];

const linear: OpCase[] = [
  { name: 'MatMul [N,7] by a constant [7,3]', dx: 7, build: (t) => t.op('MatMul', [t.x, t.w([7, 3])]) },
  { name: 'MatMul [N,3,5] by a constant [5,3]', dx: 15, build: (t) => t.op('MatMul', [mixed3(t), t.w([5, 3])]) },
  { name: 'MatMul by a 1-D constant [7]', dx: 7, build: (t) => t.op('MatMul', [t.x, t.w([7])]) },
  { name: 'MatMul + bias + Relu (fused epilogue)', dx: 7, build: (t) => t.op('Relu', [t.op('Add', [t.op('MatMul', [t.x, t.w([7, 3])]), t.w([3])])]) },
  { name: 'MatMul + a context row + Sigmoid (fused epilogue)', dx: 7, du: 3, build: (t) => t.op('Sigmoid', [t.op('Add', [t.op('MatMul', [t.x, t.w([7, 3])]), t.u])]) },
  { name: 'Gemm transB 0, alpha 0.5, beta 2.5, bias [3]', dx: 7, build: (t) => t.op('Gemm', [t.x, t.w([7, 3]), t.w([3])], { alpha: 0.5, beta: 2.5 }) },
  { name: 'Gemm transB 1, alpha 1.5, beta 0.5, scalar bias', dx: 7, build: (t) => t.op('Gemm', [t.x, t.w([3, 7]), t.s(0.75)], { transB: 1, alpha: 1.5, beta: 0.5 }) },
  {
    name: 'MatMul [N,3,5] x [5,4] + a tensor of its own shape + a bias, then Sigmoid (all fused into the GEMM)', dx: 27,
    build: (t) => t.op('Sigmoid', [t.op('Add', [t.w([4]), t.op('Add', [t.r(t.cols(t.x, 15, 27), [-1, 3, 4]), t.op('MatMul', [t.r(t.cols(t.x, 0, 15), [-1, 3, 5]), t.w([5, 4])])])])]),
  },
  // One output: the score head's dot products of rows (rowDots on wasm), with each epilogue.
  { name: 'MatMul [N,7] x [7,1] + a per-row [N,1] addend, then Relu (one output)', dx: 8, build: (t) => t.op('Relu', [t.op('Add', [t.op('MatMul', [t.cols(t.x, 0, 7), t.w([7, 1])]), t.cols(t.x, 7, 8)])]) },
  { name: 'Gemm transB [N,9] to 1 output with a bias, then Sigmoid', dx: 9, build: (t) => t.op('Sigmoid', [t.op('Gemm', [t.x, t.w([1, 9]), t.w([1])], { transB: 1, alpha: 0.5 })]) },
  { name: 'MatMul [N,5] x [5,1] + the context [1,1]', dx: 5, du: 1, build: (t) => t.op('Add', [t.op('MatMul', [t.x, t.w([5, 1])]), t.u]) },
  { name: 'Gemm transB 1 without C, then Tanh', dx: 9, build: (t) => t.op('Tanh', [t.op('Gemm', [t.x, t.w([5, 9])], { transB: 1 })]) },
  { name: 'Gemm with C the context row [1,3]', dx: 7, du: 3, build: (t) => t.op('Gemm', [t.x, t.w([7, 3]), t.u]) },
  { name: 'X X^T: MatMul of [N,3,5] by its Transpose [0,2,1] (read in place)', dx: 15, build: (t) => t.op('MatMul', [mixed3(t), t.op('Transpose', [mixed3(t)], { perm: [0, 2, 1] })]) },
  { name: 'Q K^T with K the context: MatMul [N,3,5] by Transpose of [1,2,5] (batch broadcast)', dx: 15, du: 10, build: (t) => t.op('MatMul', [x3(t), t.op('Transpose', [t.r(t.u, [1, 2, 5])], { perm: [0, 2, 1] })]) },
  // Scaled dot-product attention (fused into one kernel on wasm and js when its intermediates have no other reader).
  {
    name: 'attention softmax(Q K^T / 2) V, self over mixed rows [N,3,5] (fused)', dx: 15,
    build: (t) => {
      const q = mixed3(t);
      return t.op('MatMul', [t.op('Softmax', [t.op('Div', [t.op('MatMul', [q, t.op('Transpose', [q], { perm: [0, 2, 1] })]), t.s(2)])], { axis: -1 }), q]);
    },
  },
  {
    name: 'target attention: K [1,6,5] and V [1,6,3] the context, scaled by Mul, 6 keys (fused)', dx: 15, du: 48,
    build: (t) => {
      const k = t.r(t.cols(t.u, 0, 30), [1, 6, 5]);
      const v = t.r(t.cols(t.u, 30, 48), [1, 6, 3]);
      return t.op('MatMul', [t.op('Softmax', [t.op('Mul', [t.s(0.7), t.op('MatMul', [x3(t), t.op('Transpose', [k], { perm: [0, 2, 1] })])])]), v]);
    },
  },
  {
    name: 'attention over 2 heads [N,2,3,5] by keys [N,2,9,5], unscaled (fused)', dx: 15, du: 90,
    build: (t) => {
      const q = t.op('Concat', [t.r(t.x, [-1, 1, 3, 5]), t.op('Mul', [t.r(t.x, [-1, 1, 3, 5]), t.s(-0.5)])], { axis: 1 });
      const kv = t.op('Add', [t.r(t.u, [1, 2, 9, 5]), t.op('Unsqueeze', [t.op('Unsqueeze', [t.cols(t.x, 0, 5), t.i64([1])]), t.i64([1])])]);
      return t.op('MatMul', [t.op('Softmax', [t.op('MatMul', [q, t.op('Transpose', [kv], { perm: [0, 1, 3, 2] })])], { axis: 3 }), kv]);
    },
  },
  {
    name: 'attention whose probabilities are read again (not fused)', dx: 15,
    build: (t) => {
      const q = x3(t);
      const p = t.op('Softmax', [t.op('MatMul', [q, t.op('Transpose', [q], { perm: [0, 2, 1] })])], { axis: -1 });
      return t.op('Concat', [t.op('MatMul', [p, q]), p], { axis: -1 });
    },
  },
  { name: 'batched MatMul [N,3,5] x [N,5,2] (both runtime)', dx: 25, build: (t) => t.op('MatMul', [t.r(t.cols(t.x, 0, 15), [-1, 3, 5]), t.r(t.cols(t.x, 15, 25), [-1, 5, 2])]) },
  { name: 'MatMul [N,3,5] by the context [1,5,2]', dx: 15, du: 10, build: (t) => t.op('MatMul', [x3(t), t.r(t.u, [1, 5, 2])]) },
  { name: 'MatMul the context [1,3,5] by [N,5,2]', dx: 10, du: 15, build: (t) => t.op('MatMul', [t.r(t.u, [1, 3, 5]), t.r(t.x, [-1, 5, 2])]) },
];

const movement: OpCase[] = [
  { name: 'Concat axis 1 of x and the context expanded to N rows', dx: 7, build: (t) => t.op('Concat', [t.x, t.op('Expand', [t.u, t.rows(5)])], { axis: 1 }) },
  { name: 'Concat axis 1 of [N,3,5] and the context [1,2,5] expanded', dx: 15, du: 10, build: (t) => t.op('Concat', [x3(t), t.op('Expand', [t.r(t.u, [1, 2, 5]), t.rows(2, 5)])], { axis: 1 }) },
  { name: 'Concat axis -1 of [N,3,5] and [N,3,2]', dx: 15, build: (t) => t.op('Concat', [x3(t), t.op('Mul', [t.op('Slice', [x3(t), t.i64([1]), t.i64([3]), t.i64([2])]), t.s(2)])], { axis: -1 }) },
  {
    name: 'Split [N,3,5] along axis 1 into [1, 2] (two outputs)', dx: 15,
    build: (t) => {
      const [a, b] = t.split(mixed3(t), [1, 2], 1);
      return t.op('Sub', [t.op('Mul', [b, t.s(2)]), a]);
    },
  },
  { name: 'Slice with steps and negative starts', dx: 15, build: (t) => t.op('Slice', [x3(t), t.i64([-1, 0]), t.i64([-4, 5]), t.i64([1, 2]), t.i64([-1, 2])]) },
  { name: 'Slice the last 3 columns (start -3, end past the end)', dx: 7, build: (t) => t.op('Slice', [t.x, t.i64([-3]), t.i64([100]), t.i64([-1])]) },
  { name: 'Reshape [N,3,5] to [0, 5, 3] then [N,15] by -1', dx: 15, build: (t) => t.op('Mul', [t.r(t.r(mixed3(t), [0, 5, 3]), [-1, 15]), t.w([15])]) },
  { name: 'Flatten axis 2 of [N,1,3,5]', dx: 15, build: (t) => t.op('Mul', [t.op('Flatten', [t.r(mixed3(t), [-1, 1, 3, 5])], { axis: 2 }), t.w([15])]) },
  { name: 'Squeeze axis 1 of [N,1,7]', dx: 7, build: (t) => t.op('Mul', [t.op('Squeeze', [t.r(t.x, [-1, 1, 7]), t.i64([1])]), t.w([7])]) },
  { name: 'Unsqueeze axes [1, -1] then broadcast with the context [1,3,1,1]', dx: 7, du: 3, build: (t) => t.op('Add', [t.op('Unsqueeze', [t.x, t.i64([1, -1])]), t.r(t.u, [1, 3, 1, 1])]) },
  { name: 'Transpose perm [0,2,1] of [N,3,5]', dx: 15, build: (t) => t.op('Mul', [t.op('Transpose', [mixed3(t)], { perm: [0, 2, 1] }), t.w([5, 3])]) },
  { name: 'Transpose perm [0,2,1,3] of [N,3,5,3]', dx: 45, build: (t) => t.op('Mul', [t.op('Transpose', [x4(t)], { perm: [0, 2, 1, 3] }), t.w([5, 3, 3])]) },
  { name: 'Expand of the context to N rows', dx: 5, build: (t) => t.op('Mul', [t.op('Expand', [t.u, t.rows(5)]), t.x]) },
  { name: 'Expand [N,1,5] to [N,3,5] by a constant shape', dx: 5, build: (t) => t.op('Mul', [t.op('Expand', [t.r(t.x, [-1, 1, 5]), t.i64([1, 3, 5])]), t.w([3, 5])]) },
  { name: 'Tile [N,1,5] by [1,3,2]', dx: 5, build: (t) => t.op('Mul', [t.op('Tile', [t.r(t.x, [-1, 1, 5]), t.i64([1, 3, 2])]), t.w([3, 10])]) },
  { name: 'Tile of the context to N rows', dx: 5, build: (t) => t.op('Sub', [t.op('Tile', [t.u, t.rows(1)]), t.x]) },
  { name: 'Gather constant indices along axis 1', dx: 7, build: (t) => t.op('Gather', [t.x, t.i64([4, 0, -1, 2])], { axis: 1 }) },
  { name: 'Gather 2-D constant indices along axis 2 of [N,3,5]', dx: 15, build: (t) => t.op('Gather', [mixed3(t), t.r(t.i64([2, 0, 1, -1]), [2, 2])], { axis: 2 }) },
  { name: 'Gather: embedding lookup by int64 candidate ids', dx: 5, ids: 11, build: (t) => t.op('Mul', [t.op('Gather', [t.w([11, 5]), t.id]), t.x]) },
  { name: 'GatherElements constant indices along axis 2 of [N,3,5]', dx: 15, build: (t) => t.op('GatherElements', [mixed3(t), t.op('Expand', [t.r(t.i64([4, 0, -1, 2, 3, -5]), [1, 3, 2]), t.rows(3, 2)])], { axis: 2 }) },
];

const einsums: OpCase[] = [
  { name: "Einsum 'bij,bjk->bik'", dx: 25, build: (t) => t.op('Einsum', [t.r(t.cols(t.x, 0, 15), [-1, 3, 5]), t.r(t.cols(t.x, 15, 25), [-1, 5, 2])], { equation: 'bij,bjk->bik' }) },
  { name: "Einsum 'bi,bi->b' (x and the context expanded)", dx: 7, du: 7, build: (t) => t.op('Einsum', [t.x, t.op('Expand', [t.u, t.rows(7)])], { equation: 'bi,bi->b' }) },
  { name: "Einsum 'bhd,bmd->bhmd'", dx: 25, build: (t) => t.op('Einsum', [t.r(t.cols(t.x, 0, 15), [-1, 3, 5]), t.r(t.cols(t.x, 15, 25), [-1, 2, 5])], { equation: 'bhd,bmd->bhmd' }) },
  { name: "Einsum 'bi,ij,bj->b' with a constant middle", dx: 5, du: 7, build: (t) => t.op('Einsum', [t.x, t.w([5, 7]), t.op('Expand', [t.u, t.rows(7)])], { equation: 'bi,ij,bj->b' }) },
  { name: "Einsum 'bij->bj' (one operand)", dx: 15, build: (t) => t.op('Einsum', [mixed3(t)], { equation: 'bij->bj' }) },
];

const conv: OpCase[] = [
  { name: 'Conv 1x1 on [N,3,5] with bias', dx: 15, build: (t) => t.op('Conv', [mixed3(t), t.w([4, 3, 1]), t.w([4])], { kernel_shape: [1] }) },
  { name: 'Conv 1x1 on [N,3,5] without bias', dx: 15, build: (t) => t.op('Conv', [x3(t), t.w([2, 3, 1])]) },
];

const TABLE: Record<string, OpCase[]> = { binary, logic, unary, normalization, reductions, linear, movement, einsums, conv };

for (const [group, cases] of Object.entries(TABLE)) {
  describe(`${group}: every compiled plan and engine agrees with onnxruntime-node`, () => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
      expect(await check(c)).toEqual([]);
    });
  });
}

describe('refusals name the node', () => {
  it('a Conv with kernel size 3 is refused at import', () => {
    const c: OpCase = { name: 'conv3', dx: 15, build: (t) => t.op('Conv', [x3(t), t.w([2, 3, 3])]) };
    const e = refusal(() => importOnnx(graphOf(c, false, 6), { context: ['u'] }));
    expect(e.message).toMatch(/^node "Conv:\d+" \(Conv\): expected a 1x1 convolution/);
    expect(e.message).not.toContain('\n');
  });

  it('Clip whose min is a runtime tensor: the compiler refuses it, the interpreter scores it', async () => {
    const c: OpCase = { name: 'clip-runtime', dx: 7, du: 1, build: (t) => t.op('Clip', [t.x, t.r(t.u, []), t.s(1.5)]) };
    const bytes = graphOf(c, false, 7);
    const model = importOnnx(bytes, { context: ['u'] });
    const req = request(c, 3);
    for (const engine of ['wasm', 'js'] as const) {
      const e = refusal(() => model.score(req, 'rank-aware', engine));
      expect(e.message).toMatch(/^node "Clip:\d+" \(Clip\): /);
      expect(e.message).not.toContain('\n');
    }
    const want = Array.from((await ortRun(bytes, c, req)).data as Float32Array);
    model.score(req, 'interpret').scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!))));
  });
});
