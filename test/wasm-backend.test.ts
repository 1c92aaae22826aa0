/**
 * The WASM backend against the float64 reference: the shared equivalence cases in both plans, the
 * golden PyTorch cases, tiles of odd sizes, both SIMD variants, and flat memory over 10,000 requests.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { compilePlan, encodeRequest, getPlan, loadBackend, score } from '../src/index.js';
import type { Model, RequestJson } from '../src/index.js';
import { createWasmBackend } from '../src/backends/wasm/load.js';
import type { WasmCompiledPlan } from '../src/backends/wasm/index.js';
import { relaxedSimdSupported } from '../src/backends/wasm/module.js';
import { equivalenceCases } from './cases.js';
import { goldenCases } from './golden/cases.js';

/** float32 kernels against the float64 reference: docs/backends.md's 1e-5 on scores; logits relative. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-5 * (1 + Math.abs(expected[i]!));
    expect(Math.abs(actual[i]! - expected[i]!), `${what} candidate ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol);
  }
}

beforeAll(async () => {
  expect((await loadBackend('wasm')).name).toBe('wasm');
});

describe('wasm equals the reference on the equivalence cases', () => {
  for (const c of equivalenceCases()) {
    it(c.name, () => {
      const reference = score(c.model, c.request, { plan: 'vanilla', backend: 'js' }).scores;
      for (const plan of ['vanilla', 'rank-aware'] as const) {
        const result = score(c.model, c.request, { plan, backend: 'wasm' });
        expect(result.backend).toBe('wasm');
        expectClose(result.scores, reference, plan);
      }
    });
  }
});

describe('wasm on the golden PyTorch cases (score_f64 within 1e-5)', () => {
  for (const g of goldenCases()) {
    it(g.name, async () => {
      const model = await g.load();
      for (const r of g.requests)
        for (const plan of ['vanilla', 'rank-aware'] as const) {
          const scores = score(model, r.request, { plan, backend: 'wasm' }).scores;
          scores.forEach((s, i) => expect(Math.abs(s - r.expected[i]!), `${g.name} N=${r.request.candidates.length} ${plan} #${i}`).toBeLessThanOrEqual(1e-5));
        }
    });
  }
});

function scoreWith(model: Model, request: RequestJson, backend: { compile: typeof import('../src/backends/js/index.js').jsBackend.compile }, plan: 'vanilla' | 'rank-aware' = 'rank-aware'): Float32Array | Float64Array {
  const c = backend.compile(getPlan(model, plan));
  const e = encodeRequest(model.spec, request);
  return c.runCandidates(c.runContext(e.context), e.candidates);
}

describe('tiles and variants', () => {
  it('tiles of 8 rows over N = 1, 7, 8, 9, 17 give the reference scores', async () => {
    const wasm = await createWasmBackend({ tileRows: 8 });
    for (const c of equivalenceCases().filter((x) => x.name.startsWith('dlrm') || x.name.startsWith('autoint')).slice(0, 4)) {
      for (const n of [1, 7, 8, 9, 17]) {
        const request = { context: c.request.context, candidates: Array.from({ length: n }, (_, i) => c.request.candidates[i % c.request.candidates.length]!) };
        expectClose(scoreWith(c.model, request, wasm), score(c.model, request, { backend: 'js' }).scores, `${c.name} N=${n}`);
      }
    }
  });

  it('the plain SIMD variant (no FMA) and the relaxed-SIMD variant both match', async () => {
    expect(await relaxedSimdSupported()).toBe(true);
    const c = equivalenceCases()[0]!;
    const reference = score(c.model, c.request, { backend: 'js' }).scores;
    for (const variant of ['simd', 'relaxed-simd'] as const) {
      const wasm = await createWasmBackend({ variant });
      expect(wasm.variant).toBe(variant);
      expectClose(scoreWith(c.model, c.request, wasm), reference, variant);
    }
  });

  it('interleaved requests keep their own context (a context state restores its buffers)', () => {
    const c = equivalenceCases()[0]!;
    const compiled = compilePlan(getPlan(c.model, 'rank-aware'), 'wasm');
    const other = { ...c.request, context: { ...c.request.context, c0: ((c.request.context.c0 as number) + 1) % 50 } };
    const a = encodeRequest(c.model.spec, c.request);
    const b = encodeRequest(c.model.spec, other);
    const ctxA = compiled.runContext(a.context);
    const ctxB = compiled.runContext(b.context);
    expectClose(compiled.runCandidates(ctxA, a.candidates), score(c.model, c.request, { backend: 'js' }).scores, 'A after B');
    expectClose(compiled.runCandidates(ctxB, b.candidates), score(c.model, other, { backend: 'js' }).scores, 'B after A');
  });
});

describe('memory', () => {
  it('linear memory does not grow over 10,000 requests', () => {
    const c = equivalenceCases().find((x) => x.name.startsWith('dlrm K4'))!;
    const compiled = compilePlan(getPlan(c.model, 'rank-aware'), 'wasm') as unknown as { memoryBytes: number } & ReturnType<typeof compilePlan>;
    const e = encodeRequest(c.model.spec, c.request);
    compiled.runCandidates(compiled.runContext(e.context), e.candidates);
    const before = compiled.memoryBytes;
    for (let i = 0; i < 10_000; i++) compiled.runCandidates(compiled.runContext(e.context), e.candidates);
    expect(compiled.memoryBytes).toBe(before);
  });
});

describe('engines without SIMD', () => {
  it('get the js backend and are told why', async () => {
    vi.resetModules();
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      const select = await import('../src/backends/select.js');
      const loaded = await select.loadBackend('wasm');
      expect(loaded.name).toBe('js');
      expect(loaded.reason).toMatch(/no WebAssembly SIMD/);
    } finally {
      validate.mockRestore();
      vi.resetModules();
    }
  });
});

describe('a context stage split by columns of its last layer (what the scorer spreads over threads)', () => {
  const cases = equivalenceCases().filter((c) => /^(dlrm|deepfm|dcnv2|rdcn|autoint|rank-attention) /.test(c.name)).slice(0, 24);
  it('joined shares give the same context state, hence the same scores, for every architecture and odd widths', () => {
    let split = 0;
    for (const c of cases) {
      const compiled = compilePlan(getPlan(c.model, 'rank-aware'), 'wasm') as WasmCompiledPlan;
      if (compiled.contextSplitWidth === 0) continue;
      split++;
      const { context, candidates } = encodeRequest(c.model.spec, c.request);
      const whole = compiled.runCandidates(compiled.runContext(context), candidates);
      const width = compiled.contextSplitWidth;
      for (const shares of [2, 3]) {
        const chunk = Math.max(16, Math.ceil(width / shares / 16) * 16);
        const ranges: [number, number][] = [];
        for (let lo = 0; lo < width; lo += chunk) ranges.push([lo, Math.min(width, lo + chunk)]);
        // As the scorer does: begin once; the other threads' shares on the begun buffers (as a worker
        // would, which overwrites this plan's ctx buffers); then this thread's share on its own buffers
        // after beginning again.
        const begun = compiled.beginContext(context);
        const others = ranges.slice(1).map(([lo, hi]) => ({ lo, values: compiled.contextColumns(begun, lo, hi) }));
        compiled.beginContext(context);
        const own = { lo: 0, values: compiled.contextColumns(undefined, ranges[0]![0], ranges[0]![1]) };
        const state = compiled.finishContext(begun, [own, ...others]);
        expect(Array.from(compiled.runCandidates(state, candidates)), `${c.name}, ${ranges.length} shares`).toEqual(Array.from(whole));
      }
    }
    expect(split).toBeGreaterThan(10);
  });

  it('refuses a column range that does not start on a 16-column panel or leaves the layer', () => {
    const c = cases[0]!;
    const compiled = compilePlan(getPlan(c.model, 'rank-aware'), 'wasm') as WasmCompiledPlan;
    const { context } = encodeRequest(c.model.spec, c.request);
    const w = compiled.contextSplitWidth;
    for (const [lo, hi] of [[8, w], [0, w + 1], [16, 16], [-16, w]] as const)
      expect(() => compiled.contextColumns(compiled.beginContext(context), lo, hi)).toThrow(`context columns: expected [lo, hi) within [0, ${w}), lo a multiple of 16, received [${lo}, ${hi})`);
  });
});
