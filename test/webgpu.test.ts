/**
 * The WebGPU backend in Node (Dawn, the `webgpu` package; SwiftShader on a machine without a GPU, set up
 * by vitest.config.ts): the shared equivalence suite against the float64 js reference, weights and tiles
 * split below the binding limit, device loss mid-request, WGSL compile errors, the fallback policy.
 *
 * No skipping: if no adapter can be had here, these tests fail (the fallback itself is tested with a
 * route that has no device).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, compileWgsl, DeviceLostError, encodeRequest, getPlan, loadBackend, randomModel, randomRequest, routePlan, score, scoreAsync, GpuCompiledPlan, RankawareError } from '../src/index.js';
import type { GpuRuntime, Model, RequestJson } from '../src/index.js';
import { equivalenceCases } from './cases.js';

/** DESIGN.md section 3: scores within 1e-4 absolute of the float64 reference on WebGPU (f32 throughout). */
const TOLERANCE = 1e-4;

let runtime: GpuRuntime;
beforeAll(async () => {
  const got = await acquireGpu();
  if ('reason' in got) throw new Error(`no WebGPU device in this test process: ${got.reason}`);
  runtime = got.runtime;
}, 60_000);

function maxDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

async function gpuScores(model: Model, request: RequestJson, plan: 'vanilla' | 'rank-aware', gpu = {}) {
  return scoreAsync(model, request, { backend: 'webgpu', plan, gpu });
}

describe('WebGPU equals the js reference on the shared equivalence cases', () => {
  for (const c of equivalenceCases())
    for (const plan of ['rank-aware', 'vanilla'] as const)
      it(`${c.name} (${plan})`, async () => {
        const reference = score(c.model, c.request, { plan }).scores;
        const result = await gpuScores(c.model, c.request, plan);
        expect(result.backend, result.reason).toBe('webgpu');
        expect(result.scores.every(Number.isFinite)).toBe(true);
        expect(maxDiff(result.scores, reference)).toBeLessThanOrEqual(TOLERANCE);
      });
});
