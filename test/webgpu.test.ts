/**
 * The WebGPU backend in Node (Dawn, the `webgpu` package; SwiftShader on a machine without a GPU, set up
 * by vitest.config.ts): the shared equivalence suite against the float64 js reference, weights and tiles
 * split, contexts interleaved, WGSL compile errors, the fallback policy, and a device destroyed mid-request
 * (last: it replaces the process's device).
 *
 * No skipping: if no adapter can be had here, these tests fail (the no-device fallback is tested with a
 * child process that has no Vulkan driver).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu, compileWgsl, createScorer, encodeRequest, getPlan, GpuCompiledPlan, interleavedFields, loadBackend, randomModel, randomRequest, RankawareError, routePlan, score, scoreAsync } from '../src/index.js';
import type { GpuRuntime } from '../src/index.js';
import { saveModelDir } from '../src/node.js';
import { equivalenceCases } from './cases.js';

/** docs/backends.md: scores within 1e-4 absolute of the float64 reference on WebGPU (f32 throughout). */
const TOLERANCE = 1e-4;

let runtime: GpuRuntime;
beforeAll(async () => {
  const got = await acquireGpu();
  if ('reason' in got) throw new Error(`no WebGPU device in this test process: ${got.reason}`);
  runtime = got.runtime;
}, 60_000);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const cases = equivalenceCases();

describe('WebGPU equals the js reference on the shared equivalence cases', () => {
  for (const c of cases)
    for (const plan of ['rank-aware', 'vanilla'] as const)
      it(`${c.name} (${plan})`, async () => {
        const reference = score(c.model, c.request, { plan }).scores;
        const result = await scoreAsync(c.model, c.request, { backend: 'webgpu', plan });
        expect(result.backend, result.reason).toBe('webgpu');
        expect(result.reason).toMatch(/^WebGPU on /);
        expect(result.scores.every(Number.isFinite)).toBe(true);
        expect(maxDiff(result.scores, reference)).toBeLessThanOrEqual(TOLERANCE);
      });
});

describe('splits', () => {
  // Small enough that tables and linear weights split on these models (a weight's smallest chunk is 4 units).
  const weightChunkBytes = 512;
  const split = [
    ...cases.filter((c) => c.name.startsWith('dcnv2 K4 M3 D3')),
    // A pooled mean context field over a split table: each chunk adds its rows, the last divides.
    (() => {
      const fields = interleavedFields(2, 2, 3, 60);
      fields.push({ name: 'tags_mean', type: 'sparse', side: 'context', vocab: 90, dim: 3, pooling: 'mean', oov: 'error' });
      fields.push({ name: 'seen_sum', type: 'sparse', side: 'target', vocab: 70, dim: 3, pooling: 'sum', oov: 'error' });
      const model = randomModel({ arch: 'dcnv2', context: 2, target: 2, dim: 3, fields, mlp: [6], output: 'none', seed: 77, vocab: 60 });
      return { name: 'dcnv2 with pooled fields', model, request: randomRequest(model.spec, 11, 78) };
    })(),
  ];
  for (const c of split)
    it(`weights over ${weightChunkBytes} bytes split into chunks, candidates in tiles of 2: ${c.name}`, async () => {
      const plan = getPlan(c.model, 'rank-aware');
      const gpu = await GpuCompiledPlan.compile(plan, runtime, { weightChunkBytes, tileRows: 2 });
      try {
        expect(gpu.stats.splitWeights).toBeGreaterThan(0);
        const encoded = encodeRequest(c.model.spec, c.request);
        const scores = await gpu.runCandidatesAsync(gpu.runContext(encoded.context), encoded.candidates);
        expect(gpu.lastTiles).toBe(Math.ceil(c.request.candidates.length / 2));
        expect(maxDiff(scores, score(c.model, c.request).scores)).toBeLessThanOrEqual(TOLERANCE);
      } finally {
        gpu.destroy();
      }
    });

  it('refuses a weight whose smallest chunk cannot fit, naming the weight', async () => {
    const c = cases[0]!;
    await expect(GpuCompiledPlan.compile(getPlan(c.model, 'rank-aware'), runtime, { weightChunkBytes: 32 })).rejects.toThrow(/weight ".*": expected .* fits one binding \(32 bytes\)/);
  });
});

describe('contexts', () => {
  it('interleaved contexts each score as their own (the snapshot is restored when another ran between)', async () => {
    const c = cases[0]!;
    const gpu = await GpuCompiledPlan.compile(getPlan(c.model, 'rank-aware'), runtime);
    try {
      const other = randomRequest(c.model.spec, c.request.candidates.length, 4242);
      const a = encodeRequest(c.model.spec, c.request);
      const b = encodeRequest(c.model.spec, { context: other.context, candidates: c.request.candidates });
      const ctxA = gpu.runContext(a.context);
      const ctxB = gpu.runContext(b.context);
      const refA = score(c.model, c.request).scores;
      const refB = score(c.model, { context: other.context, candidates: c.request.candidates }).scores;
      expect(maxDiff(refA, refB)).toBeGreaterThan(1e-3);
      expect(maxDiff(await gpu.runCandidatesAsync(ctxA, a.candidates), refA)).toBeLessThanOrEqual(TOLERANCE);
      expect(maxDiff(await gpu.runCandidatesAsync(ctxB, b.candidates), refB)).toBeLessThanOrEqual(TOLERANCE);
      expect(maxDiff(await gpu.runCandidatesAsync(ctxA, a.candidates), refA)).toBeLessThanOrEqual(TOLERANCE);
      // Exported and imported, a context scores the same.
      const imported = gpu.importContext(await gpu.exportContextAsync(ctxB));
      expect(maxDiff(await gpu.runCandidatesAsync(imported, b.candidates), refB)).toBeLessThanOrEqual(TOLERANCE);
      // A released context is refused, and so is a payload of another backend.
      gpu.releaseContext(ctxA);
      await expect(gpu.runCandidatesAsync(ctxA, a.candidates)).rejects.toThrow(/context: expected a live context, received a released context/);
      expect(() => gpu.importContext({ backend: 'js', arrays: [new Float64Array(3)] })).toThrow(RankawareError);
    } finally {
      gpu.destroy();
    }
  });
});

describe('errors and fallback policy', () => {
  it('a WGSL compile error is refused with the kernel name and its line', async () => {
    const error = await compileWgsl(runtime, 'broken.wgsl', '\nfn broken( -> f32 { return 1.0; }\n').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RankawareError);
    expect((error as Error).message).toMatch(/^WebGPU kernel broken\.wgsl: expected WGSL that compiles, received broken\.wgsl line 2:\d+: /);
  });

  it("'webgpu' by name runs every request on the device; the cost model's threshold sends small ones to WASM", async () => {
    const c = cases[0]!;
    const small = await scoreAsync(c.model, c.request, { backend: 'webgpu', minGpuFlops: 1e12 });
    expect(small.backend).toBe('wasm');
    expect(small.reason).toMatch(/^cost model: .* below the GPU's break-even .*; wasm answered/);
    expect(maxDiff(small.scores, score(c.model, c.request).scores)).toBeLessThanOrEqual(1e-5);
  });

  it("'auto' picks WebGPU on a hardware adapter and WASM on a CPU emulation, saying why", async () => {
    const loaded = await loadBackend('auto');
    if (runtime.software) {
      expect(loaded.name).toBe('wasm');
      expect(loaded.reason).toMatch(/^auto: the only WebGPU adapter is .*, a CPU emulation/);
    } else {
      expect(loaded.name).toBe('webgpu');
      expect(loaded.minGpuFlops).toBeGreaterThan(0);
    }
  });

  it('the scorer runs WebGPU requests from the calling thread and says which backend answered', async () => {
    const c = cases[0]!;
    const scorer = await createScorer(c.model, { backend: 'webgpu', threads: 2 });
    try {
      expect(scorer.info).toMatchObject({ backend: 'webgpu', mode: 'gpu', threads: 1, workers: 0 });
      expect(scorer.info.gpu!.pipelines).toBeGreaterThan(0);
      const reference = score(c.model, c.request).scores;
      const ctx = await scorer.context(c.request.context);
      for (let i = 0; i < 2; i++) {
        const result = await scorer.score({ context: ctx, candidates: c.request.candidates });
        expect(result.backend).toBe('webgpu');
        expect(maxDiff(result.scores, reference)).toBeLessThanOrEqual(TOLERANCE);
      }
      ctx.release();
      // Two requests at once, one of a single candidate: each gets its own scores.
      const [x, y] = await Promise.all([scorer.score(c.request), scorer.score({ context: c.request.context, candidates: c.request.candidates.slice(0, 1) })]);
      expect(maxDiff(x.scores, reference)).toBeLessThanOrEqual(TOLERANCE);
      expect(Math.abs(y.scores[0]! - reference[0]!)).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      scorer.dispose();
    }
  });

  it('without a Vulkan driver the CLI falls back to WASM and prints why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rankaware-webgpu-'));
    const c = cases[0]!;
    await saveModelDir(c.model, dir);
    const requestFile = join(dir, 'request.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(requestFile, JSON.stringify(c.request));
    const env: NodeJS.ProcessEnv = { ...process.env, RANKAWARE_SWIFTSHADER: '0' };
    delete env.VK_ICD_FILENAMES;
    delete env.LD_LIBRARY_PATH;
    const run = spawnSync(process.execPath, ['bin/rankaware.js', 'score', '--model', dir, '--request', requestFile, '--backend', 'webgpu'], { env, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { backend: string; reason: string; scores: number[] };
    expect(out.backend).toBe('wasm');
    expect(out.reason).toMatch(/^no WebGPU adapter.*; using wasm \(WASM/);
    expect(maxDiff(out.scores, score(c.model, c.request).scores)).toBeLessThanOrEqual(1e-5);
  }, 60_000);
});

describe('device loss', () => {
  it('a device destroyed mid-request: that request is answered by WASM, the next by a fresh device', async () => {
    const c = cases.find((x) => x.name.startsWith('autoint K4 M3 D6'))!;
    const reference = score(c.model, c.request).scores;
    const route = await routePlan(getPlan(c.model, 'rank-aware'), await loadBackend('webgpu'));
    const gpu = route.gpuPlan!;
    const encoded = encodeRequest(c.model.spec, c.request);
    const context = route.runContext(encoded.context);
    // The tiles are submitted before runCandidates first awaits: the device dies with them in flight.
    const pending = route.runCandidates(context, encoded.candidates);
    gpu.runtime.device.destroy();
    const result = await pending;
    expect(result.backend).toBe('wasm');
    expect(result.reason).toMatch(/^the WebGPU device was lost during the request \(destroyed.*\); wasm answered/);
    expect(maxDiff(result.scores, reference)).toBeLessThanOrEqual(1e-5);
    // The same route keeps answering, on WASM.
    const again = await route.runCandidates(context, encoded.candidates);
    expect(again.backend).toBe('wasm');
    expect(again.reason).toMatch(/^the WebGPU device was lost \(destroyed/);
    // A new request gets a new device.
    const next = await scoreAsync(c.model, c.request, { backend: 'webgpu' });
    expect(next.backend, next.reason).toBe('webgpu');
    expect(maxDiff(next.scores, reference)).toBeLessThanOrEqual(TOLERANCE);
  }, 120_000);
});
