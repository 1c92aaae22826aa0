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
