/**
 * The graphs of ../shared/onnx-zoo (architectures outside the native six, written the way torch.onnx.export
 * writes them) imported and scored compiled onto the float32 kernels (wasm and js engines, rank-aware and
 * vanilla plans) against the case's onnxruntime scores, and on the float64 interpreter against its float64
 * scores.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../src/onnx/model.js';

const zoo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'onnx-zoo');

interface ZooCase {
  readonly requests: readonly { readonly n: number; readonly request: unknown; readonly expected: { readonly score_onnxruntime: number[]; readonly score_f64: number[] } }[];
}

// din expands its query to the history's length L, read with Shape from a context value: the candidate
// stage must read the request's L, not the import probes' (it failed every rank-aware request before).
describe.each(['two_tower', 'din', 'mmoe', 'dcnv2_ln', 'masknet'])('onnx-zoo %s', (name) => {
  const dir = join(zoo, name);
  const cases = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as ZooCase;
  const model = importOnnx(readFileSync(join(dir, 'model.onnx')), { context: 'ctx_', file: `${name}/model.onnx` });

  it.each([
    ['rank-aware', 'wasm'],
    ['vanilla', 'wasm'],
    ['rank-aware', 'js'],
    ['vanilla', 'js'],
  ] as const)('compiled: scores every request (N = 1, 7, 256) on the %s plan (%s) within 1e-5 of onnxruntime', (plan, engine) => {
    for (const r of cases.requests) {
      const result = model.score(r.request, plan, engine);
      expect(result.backend).toBe(engine);
      expect(result.scores.length).toBe(r.n);
      result.scores.forEach((s, i) => expect(Math.abs(s - r.expected.score_onnxruntime[i]!), `candidate ${i} of ${r.n}`).toBeLessThanOrEqual(1e-5));
    }
  });

  it.each(['interpret', 'interpret-vanilla'] as const)('the float64 interpreter (%s) scores every request within 1e-9 of float64', (plan) => {
    for (const r of cases.requests) {
      const { scores } = model.score(r.request, plan);
      expect(scores.length).toBe(r.n);
      scores.forEach((s, i) => expect(Math.abs(s - r.expected.score_f64[i]!)).toBeLessThanOrEqual(1e-9));
    }
  });
});

describe('the linear-terms pass on onnx-zoo din (DIN activation unit on [q, k, q - k, q * k])', () => {
  const dir = join(zoo, 'din');
  const model = importOnnx(readFileSync(join(dir, 'model.onnx')), { context: 'ctx_', file: 'din/model.onnx' });

  it('folds the first layer into three terms: q per candidate, k once per request, q * k per candidate per item', () => {
    expect(model.staged.folds).toHaveLength(1);
    const fold = model.staged.folds[0]!;
    expect(fold.node.name).toBe('/attention/local_att/dnn/linears.0/MatMul');
    const terms = fold.terms.filter((n) => n.op === 'MatMul');
    expect(terms.map((n) => model.staged.rank.classes.get(n.outputs[0]!))).toEqual(['cand', 'once', 'cand']);
    // Template shapes at N = 2, L = 1: q [2, 1, 36], k [1, 1, 36] (moves with L), the product [2, 1, 36] (moves with L).
    expect(terms.map((n) => model.staged.rank.templates.get(n.outputs[0]!)!.withL)).toEqual([[false, false, false], [false, true, false], [false, true, false]]);
    // The graph as exported keeps the MatMul for the vanilla plan.
    expect(model.graph.nodes).toContain(fold.node);
    expect(model.staged.graph.nodes).not.toContain(fold.node);
  });

  it('a request with a history of 20 scores the same on every plan (compiled, interpreter) as the vanilla interpreter', () => {
    const cases = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as ZooCase;
    const r = cases.requests[2]!;
    const want = model.score(r.request, 'interpret-vanilla').scores;
    for (const [plan, engine] of [['rank-aware', 'wasm'], ['rank-aware', 'js'], ['interpret', 'js']] as const)
      model.score(r.request, plan, engine).scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
  });
});
