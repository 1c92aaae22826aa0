/**
 * Which backend runs by default and by preference list. The first test runs before anything has loaded
 * a backend in this file's process: score() on WASM must not need a prior loadBackend().
 */
import { describe, expect, it } from 'vitest';
import { createScorer, loadBackend, randomModel, randomRequest, RankawareError, score, scoreAsync } from '../src/index.js';

const model = randomModel({ arch: 'deepfm', context: 2, target: 2, dim: 5 });
const request = randomRequest(model.spec, 11, 4);
const WASM = 'WASM with relaxed-SIMD FMA';

describe('backend defaults and preferences', () => {
  it('score() runs on WASM with no loadBackend() first, by default and by name', () => {
    const named = score(model, request, { backend: 'wasm' });
    expect(named.backend).toBe('wasm');
    const byDefault = score(model, request);
    expect(byDefault).toMatchObject({ backend: 'wasm', reason: WASM });
    const js = score(model, request, { backend: 'js' });
    expect(js.backend).toBe('js');
    byDefault.scores.forEach((s, i) => expect(Math.abs(s - js.scores[i]!)).toBeLessThan(1e-6));
  });

  it('scoreAsync, loadBackend and createScorer default to auto: WASM here (the only WebGPU adapter, if any, is a CPU emulation)', async () => {
    const loaded = await loadBackend();
    expect(loaded.requested).toBe('auto');
    expect(loaded.name).toBe('wasm');
    expect((await scoreAsync(model, request)).backend).toBe('wasm');
    const scorer = await createScorer(model, { threads: 1 });
    try {
      expect(scorer.info.backend).toBe('wasm');
      expect(scorer.info.backendReason).toMatch(/WASM/);
    } finally {
      scorer.dispose();
    }
  });

  it('a preference list takes its first entry that runs here', async () => {
    expect(score(model, request, { backends: ['webgpu', 'js'] })).toMatchObject({ backend: 'js', reason: 'the float64 reference backend (not webgpu: WebGPU reads scores back asynchronously (use scoreAsync or createScorer))' });
    expect(score(model, request, { backends: ['wasm', 'js'] }).backend).toBe('wasm');
    expect((await scoreAsync(model, request, { backends: ['js', 'wasm'] })).backend).toBe('js');
    const scorer = await createScorer(model, { threads: 1, backends: ['js'] });
    try {
      expect(scorer.info.backend).toBe('js');
    } finally {
      scorer.dispose();
    }
  });

  it('refuses bad preferences in one line', async () => {
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(RankawareError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused(() => score(model, request, { backends: [] }))).toBe('backends: expected a non-empty list such as ["webgpu", "wasm"], received []');
    expect(refused(() => score(model, request, { backends: ['wasm', 'cuda' as 'js'] }))).toBe('backends[1]: expected "auto", "wasm", "webgpu" or "js", received "cuda"');
    expect(refused(() => score(model, request, { backend: 'wasm', backends: ['js'] }))).toBe('backends: expected either backend or backends, not both, received backend "wasm" and backends ["js"]');
    expect(refused(() => score(model, request, { backend: 'webgpu' }))).toMatch(/^backend: expected "auto", "wasm" or "js" for the synchronous score\(\)/);
    expect(refused(() => score(model, request, { backends: ['webgpu'] }))).toBe('backends: expected one CPU backend of ["webgpu"] for the synchronous score(), received not webgpu: WebGPU reads scores back asynchronously (use scoreAsync or createScorer)');
    await expect(loadBackend('gpu' as 'js')).rejects.toThrow('backend: expected "auto", "wasm", "webgpu" or "js", received "gpu"');
  });
});
