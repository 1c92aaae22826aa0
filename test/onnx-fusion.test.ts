/**
 * The compiler's fusions are taken exactly when the pattern holds: scaled dot-product attention becomes the
 * one attentionRows kernel (counted here on the js engine, whose kernel module this file wraps) unless an
 * intermediate has another reader, a key mask added to the scores included (bst); a Gather of a few of X X^T's products computes only those (pairSelect,
 * counted on the wasm engine's SIMD module) and X X^T is not computed at all, unless it is read whole too.
 * The scores agree with the float64 interpreter either way (the op by op comparison with onnxruntime is
 * test/onnx-ops.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { GraphBuilder } from '../src/onnx/writer/graph.js';
import { importOnnx } from '../src/onnx/model.js';
import { mulberry32, randomModel, randomRequest } from '../src/model/random.js';
import { compileModel } from '../src/onnx/native-graph.js';
import { encodeImportRequest } from '../src/onnx/request.js';

const calls = vi.hoisted(() => ({ attention: 0, simd: new Map<string, number>() }));
vi.mock('../src/onnx/compiler/simd-kernels.js', async (original) => {
  const m = await original<typeof import('../src/onnx/compiler/simd-kernels.js')>();
  return {
    ...m,
    simdKernels: (...args: Parameters<typeof m.simdKernels>) => {
      const k = m.simdKernels(...args) as unknown as Record<string, (...a: number[]) => void>;
      // The exports object is frozen: a counting copy of it.
      return Object.fromEntries(
        Object.keys(k).map((name) => [
          name,
          (...a: number[]) => {
            calls.simd.set(name, (calls.simd.get(name) ?? 0) + 1);
            return k[name]!(...a);
          },
        ]),
      ) as unknown as ReturnType<typeof m.simdKernels>;
    },
  };
});
vi.mock('../src/onnx/compiler/kernels/math.js', async (original) => {
  const m = await original<typeof import('../src/onnx/compiler/kernels/math.js')>();
  return {
    ...m,
    attentionRows: (...args: Parameters<typeof m.attentionRows>) => {
      calls.attention++;
      return m.attentionRows(...args);
    },
  };
});

/** softmax(Q Q^T / 2) Q over x [N, 3, 4]; `probabilitiesOut` also concatenates the probabilities into the score. */
function attentionGraph(probabilitiesOut: boolean): Uint8Array {
  const g = new GraphBuilder();
  const rand = mulberry32(3);
  g.input('u', 'float32', [1, 4]);
  g.input('x', 'float32', ['N', 12]);
  const q = g.op('Add', [g.op('Reshape', ['x', g.int64s([-1, 3, 4])]), g.op('Reshape', ['u', g.int64s([1, 1, 4])])]);
  const p = g.op('Softmax', [g.op('Div', [g.op('MatMul', [q, g.op('Transpose', [q], { perm: [0, 2, 1] })]), g.scalar(2)])], { axis: -1 });
  const attended = g.op('MatMul', [p, q]);
  const v = probabilitiesOut ? g.op('Concat', [attended, p], { axis: -1 }) : attended;
  const width = probabilitiesOut ? 21 : 12;
  const w = g.floats('w', Float32Array.from({ length: width }, () => rand() * 2 - 1), [width, 1]);
  g.output('score', g.op('MatMul', [g.op('Flatten', [v], { axis: 1 }), w]), 'float32', ['N', 1]);
  return g.encode('attention', '');
}

const request = (n: number) => {
  const rand = mulberry32(n);
  const list = (d: number) => Array.from({ length: d }, () => rand() * 4 - 2);
  return { context: { u: list(4) }, candidates: Array.from({ length: n }, () => ({ x: list(12) })) };
};

describe('attention fusion', () => {
  for (const [what, reread, fused] of [['fused when only the next node reads each intermediate', false, true], ['kept as nodes when the probabilities are read again', true, false]] as const)
    it(what, () => {
      const model = importOnnx(attentionGraph(reread), { context: ['u'] });
      for (const plan of ['rank-aware', 'vanilla'] as const) {
        calls.attention = 0;
        const req = request(5);
        const got = model.score(req, plan, 'js').scores;
        const want = model.score(req, 'interpret').scores;
        got.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThan(1e-5));
        expect(calls.attention > 0).toBe(fused);
      }
    });
});

describe('attention with a key mask', () => {
  it("bst's two attention blocks (0 / -1e9 on padded keys) each run as one masked attentionRows, on js and wasm", () => {
    const model = randomModel({ arch: 'bst', context: 1, target: 1, dim: 8, mlp: [8], history: 20, seed: 4, options: { heads: 2, ffn: 8 } });
    const m = compileModel(model);
    // 5 items padded to 8: the mask is what keeps the padding out.
    const req = randomRequest(model.spec, 6, 2, 5);
    const want = m.score(req, 'interpret').scores;
    calls.attention = 0;
    m.score(req, 'rank-aware', 'js').scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThan(1e-5));
    expect(calls.attention).toBe(2);
    calls.simd.clear();
    m.score(req, 'rank-aware', 'wasm').scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThan(1e-5));
    expect(calls.simd.get('attentionRows')).toBe(2);
  });
});

/** DLRM's dot interaction over [context row, 3 candidate rows] (D = 5): the Gather takes `pairs` of the 16 products; `whole` also sums all 16 into the score. */
function pairsGraph(pairs: readonly number[], whole: boolean): Uint8Array {
  const g = new GraphBuilder();
  const rand = mulberry32(5);
  g.input('u', 'float32', [1, 5]);
  g.input('x', 'float32', ['N', 15]);
  const rows = g.op('Reshape', [g.op('Concat', [g.op('Expand', ['u', g.op('Concat', [g.op('Slice', [g.op('Shape', ['x']), g.int64s([0]), g.int64s([1])]), g.int64s([5])], { axis: 0 })]), 'x'], { axis: 1 }), g.int64s([-1, 4, 5])]);
  const z = g.op('Reshape', [g.op('MatMul', [rows, g.op('Transpose', [rows], { perm: [0, 2, 1] })]), g.int64s([-1, 16])]);
  const picked = g.op('Gather', [z, g.int64s(pairs)], { axis: 1 });
  const w = g.floats('w', Float32Array.from({ length: pairs.length }, () => rand() * 2 - 1), [pairs.length, 1]);
  let score = g.op('MatMul', [picked, w]);
  if (whole) score = g.op('Add', [score, g.op('ReduceSum', [z, g.int64s([1])], { keepdims: 1 })]);
  g.output('score', score, 'float32', ['N', 1]);
  return g.encode('pairs', '');
}

describe('selected pairs of X X^T', () => {
  // [what, pairs, whole, the candidate stage's kernel calls]
  for (const [what, pairs, whole, want] of [
    ['a few pairs, DLRM order (context pair first): only those computed', [4, 8, 9, 12, 13, 14], false, { pairSelect: 1, pairDots: 0 }],
    ['a few pairs, read whole as well: X X^T kept, the pairs computed again (no more products than X X^T)', [4, 8, 9], true, { pairSelect: 1, pairDots: 1 }],
    ['half of the products or more: X X^T mirrored is cheaper', [1, 2, 3, 6, 7, 11, 4, 8, 9], false, { pairSelect: 0, pairDots: 1 }],
  ] as const)
    it(what, () => {
      const model = importOnnx(pairsGraph(pairs, whole), { context: ['u'] });
      for (const n of [1, 6]) {
        const req = { context: { u: [0.5, -1, 2, 0.25, 1] }, candidates: Array.from({ length: n }, (_, i) => ({ x: Array.from({ length: 15 }, (_, k) => ((i * 7 + k * 3) % 11) / 4 - 1) })) };
        const expected = model.score(req, 'interpret').scores;
        for (const plan of ['rank-aware', 'vanilla'] as const)
          for (const engine of ['wasm', 'js'] as const) {
            const got = model.score(req, plan, engine).scores;
            got.forEach((s, i) => expect(Math.abs(s - expected[i]!), `${plan} ${engine} N=${n}`).toBeLessThan(1e-5));
          }
        const c = model.compiled('wasm');
        const encoded = encodeImportRequest(model.inputs, req);
        const context = c.runContext(encoded.context);
        calls.simd.clear();
        c.runCandidates(context, encoded.candidates, encoded.n);
        expect({ pairSelect: calls.simd.get('pairSelect') ?? 0, pairDots: calls.simd.get('pairDots') ?? 0 }).toEqual(want);
      }
    });
});

/** A split layer written MatMul + Add + Relu over concat(u broadcast, x), then a one-output head; `reread` also adds the bias Add's output to the score. */
function splitLayerGraph(reread: boolean): Uint8Array {
  const g = new GraphBuilder();
  const rand = mulberry32(9);
  g.input('u', 'float32', [1, 3]);
  g.input('x', 'float32', ['N', 5]);
  const rows = g.op('Concat', [g.op('Slice', [g.op('Shape', ['x']), g.int64s([0]), g.int64s([1])]), g.int64s([3])], { axis: 0 });
  const input = g.op('Concat', [g.op('Expand', ['u', rows]), 'x'], { axis: 1 });
  const w = g.floats('w', Float32Array.from({ length: 48 }, () => rand() * 2 - 1), [8, 6]);
  const added = g.op('Add', [g.op('MatMul', [input, w]), g.floats('b', Float32Array.from({ length: 6 }, () => rand() - 0.5), [6])]);
  const hidden = g.op('Relu', [added]);
  const head = g.floats('head', Float32Array.from({ length: 6 }, () => rand() * 2 - 1), [6, 1]);
  let score = g.op('MatMul', [hidden, head]);
  if (reread) score = g.op('Add', [score, g.op('ReduceSum', [added, g.int64s([1])], { keepdims: 1 })]);
  g.output('score', score, 'float32', ['N', 1]);
  return g.encode('split-layer', '');
}

describe("a split layer's bias Add and activation", () => {
  for (const [what, reread, fused] of [['join its GEMM epilogue (no elementwise kernel per candidate)', false, true], ['the activation stays a node when the Add is read again (the bias still joins)', true, false]] as const)
    it(what, () => {
      const model = importOnnx(splitLayerGraph(reread), { context: ['u'] });
      expect(model.program.rewrites.map((r) => r.kind)).toContain('split-linear');
      for (const n of [1, 5]) {
        const req = { context: { u: [0.5, -1, 2] }, candidates: Array.from({ length: n }, (_, i) => ({ x: [i - 2, 0.5, -0.25 * i, 1, 3 - i] })) };
        const expected = model.score(req, 'interpret').scores;
        for (const engine of ['wasm', 'js'] as const) model.score(req, 'rank-aware', engine).scores.forEach((s, i) => expect(Math.abs(s - expected[i]!), `${engine} N=${n}`).toBeLessThan(1e-5));
        const c = model.compiled('wasm');
        const encoded = encodeImportRequest(model.inputs, req);
        const context = c.runContext(encoded.context);
        calls.simd.clear();
        c.runCandidates(context, encoded.candidates, encoded.n);
        expect((calls.simd.get('binaryRows') ?? 0) + (calls.simd.get('unaryRows') ?? 0) === 0).toBe(fused);
      }
    });
});
