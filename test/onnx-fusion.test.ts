/**
 * The compiler's fusions are taken exactly when the pattern holds: scaled dot-product attention becomes the
 * one attentionRows kernel (counted here on the js engine, whose kernel module this file wraps) unless an
 * intermediate has another reader; the scores agree with the float64 interpreter either way (the op by
 * op comparison with onnxruntime is test/onnx-ops.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { GraphBuilder } from '../src/onnx/writer/graph.js';
import { importOnnx } from '../src/onnx/model.js';
import { mulberry32 } from '../src/model/random.js';

const calls = vi.hoisted(() => ({ attention: 0 }));
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
