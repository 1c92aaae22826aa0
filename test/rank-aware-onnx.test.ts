/**
 * The rank-aware plan as ONNX (src/onnx/rank-aware-onnx.ts) and the ort backend that runs it
 * (src/onnx/ort/): on onnxruntime-node, the one-graph form and the two stages apart score every
 * equivalence case (the native architectures on odd shapes, compiled from their export), din and bst,
 * the onnx-zoo graphs and the golden PyTorch graphs within 1e-5 of the vanilla graph on onnxruntime (or
 * of the case's reference); the scorer's context cache, its refusals, and the CLI.
 */
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-node';
import { compileModel, createScorer, exportRankAwareOnnx, importOnnx, randomModel, RankawareError, saveModelDir } from '../src/node.js';
import type { ImportedModel, Model } from '../src/node.js';
import type { Value } from '../src/onnx/interpreter/tensor.js';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { nativeFeeds } from '../src/onnx/ort/native-feeds.js';
import { OrtScorer } from '../src/onnx/ort/scorer.js';
import type { OrtRuntime } from '../src/onnx/ort/scorer.js';
import { equivalenceCases } from './cases.js';
import { runCli } from './helpers.js';

const TOLERANCE = 1e-5;
const zoo = fileURLToPath(new URL('../../shared/onnx-zoo/', import.meta.url));
const golden = fileURLToPath(new URL('../../shared/golden/cases/', import.meta.url));
const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };

function tensor(v: Value): ort.Tensor {
  if (v.dtype === 'float') return new ort.Tensor('float32', Float32Array.from(v.data), [...v.shape]);
  if (v.dtype === 'int') return new ort.Tensor('int64', BigInt64Array.from(v.data, (x) => BigInt(x)), [...v.shape]);
  return new ort.Tensor('bool', Uint8Array.from(v.data), [...v.shape]);
}

/** The one-graph form's and the two stages' scores of a request on onnxruntime-node. */
async function rankAwareOnOrt(m: ImportedModel, request: unknown): Promise<{ single: Float32Array; staged: Float32Array; vanilla?: Float32Array }> {
  const graphs = exportRankAwareOnnx(m);
  const encoded = m.encode(request);
  const feeds = (names: readonly { name: string }[], from: Map<string, Value>) => Object.fromEntries(names.map(({ name }) => [name, tensor(from.get(name)!)]));
  const out = graphs.manifest.outputs[0]!;
  const single = await ort.InferenceSession.create(graphs.single, options);
  const singleScores = (await single.run({ ...feeds(graphs.manifest.contextInputs, encoded.context), ...feeds(graphs.manifest.candidateInputs, encoded.candidates) }))[out]!.data as Float32Array;
  const context = await ort.InferenceSession.create(graphs.context, options);
  const candidates = await ort.InferenceSession.create(graphs.candidates, options);
  const handoff = await context.run(feeds(graphs.manifest.contextInputs, encoded.context));
  const staged = (await candidates.run({ ...feeds(graphs.manifest.candidateInputs, encoded.candidates), ...Object.fromEntries(graphs.manifest.handoff.map((h) => [h.name, handoff[h.from]!])) }))[out]!.data as Float32Array;
  return { single: singleScores, staged };
}

/** The vanilla graph's scores on onnxruntime-node (the model's own feeds). */
async function vanillaOnOrt(bytes: Uint8Array, m: ImportedModel, request: unknown): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, options);
  const encoded = m.encode(request);
  const all = new Map([...encoded.context, ...encoded.candidates]);
  const feeds = Object.fromEntries(session.inputNames.map((name) => [name, tensor(all.get(name)!)]));
  return (await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}, candidate ${i}`).toBeLessThanOrEqual(TOLERANCE);
}

/** A runtime whose runs take `msOf(graph)` (busy waiting) and give 0.5 for every output: the ort backend's thread choice, measured. */
function timedRuntime(msOf: (graph: string) => number): OrtRuntime {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  return {
    name: 'a fake onnxruntime',
    defaultProviders: ['cpu'],
    sessionOptions: (threads) => ({ threads }),
    start: async () => ({
      run: async (graph, feeds, outputs) => {
        busy(msOf(graph));
        const n = Math.max(...Object.values(feeds).map((t) => t.dims[0] ?? 1));
        return Object.fromEntries(outputs.map((o) => [o, { type: 'float32', data: new Float32Array(n).fill(0.5), dims: [n, 1] }]));
      },
      dispose: async () => {},
    }),
  };
}

describe('the rank-aware plan as ONNX, on onnxruntime-node', () => {
  it('every equivalence case (native architectures, odd shapes), compiled from its export: one graph and two stages equal the vanilla graph', async () => {
    const cases = equivalenceCases();
    for (const c of cases) {
      const m = compileModel(c.model);
      const vanilla = await vanillaOnOrt(exportOnnx(c.model), m, c.request);
      const { single, staged } = await rankAwareOnOrt(m, c.request);
      expectClose(single, vanilla, `${c.name}: one graph`);
      expectClose(staged, vanilla, `${c.name}: two stages`);
    }
    expect(cases.length).toBeGreaterThan(30);
  }, 120_000);

  it('din and bst (histories of 0, 1, 9 and 30 items, N = 1, 5, 17)', async () => {
    for (const arch of ['din', 'bst'] as const) {
      const model = randomModel({ arch, context: 2, target: 2, dim: 5, seed: 11, history: 40, ...(arch === 'bst' ? { options: { heads: 1 } } : {}) });
      const m = compileModel(model);
      for (const [n, length] of [[1, 0], [5, 1], [17, 9], [5, 30]] as const) {
        const request = m.randomRequest(n, 3 + n, length);
        const vanilla = await vanillaOnOrt(exportOnnx(model), m, request);
        const { single, staged } = await rankAwareOnOrt(m, request);
        expectClose(single, vanilla, `${arch} L=${length} N=${n}: one graph`);
        expectClose(staged, vanilla, `${arch} L=${length} N=${n}: two stages`);
      }
    }
  }, 60_000);

  it.each(['two_tower', 'din', 'mmoe', 'dcnv2_ln', 'masknet'])('onnx-zoo %s: every request within 1e-5 of its onnxruntime reference', async (name) => {
    const m = importOnnx(readFileSync(join(zoo, name, 'model.onnx')), { context: 'ctx_' });
    const cases = JSON.parse(readFileSync(join(zoo, name, 'case.json'), 'utf8')) as { requests: { request: unknown; expected: { score_onnxruntime: number[] } }[] };
    for (const r of cases.requests) {
      const { single, staged } = await rankAwareOnOrt(m, r.request);
      expectClose(single, r.expected.score_onnxruntime, `${name}: one graph`);
      expectClose(staged, r.expected.score_onnxruntime, `${name}: two stages`);
    }
  });

  it.each(['autoint', 'dcnv2_parallel_lowrank', 'dcnv2_stacked', 'deepfm', 'dlrm', 'dlrm_flat', 'rdcn'])('golden %s: the vanilla graph on onnxruntime, within 1e-5', async (name) => {
    const bytes = new Uint8Array(readFileSync(join(golden, name, 'model.onnx')));
    const m = importOnnx(bytes, { context: 'ctx_' });
    for (const n of [1, 13]) {
      const request = m.randomRequest(n, 7, 3);
      const { single, staged } = await rankAwareOnOrt(m, request);
      const vanilla = await vanillaOnOrt(bytes, m, request);
      expectClose(single, vanilla, `${name}: one graph`);
      expectClose(staged, vanilla, `${name}: two stages`);
    }
  });

  it('writes split-linear as ONNX: the context columns of a DLRM top layer are multiplied once, in the context graph', () => {
    const m = compileModel(randomModel({ arch: 'dlrm', context: 6, target: 2, dim: 8, seed: 3 }));
    const graphs = exportRankAwareOnnx(m);
    expect(graphs.manifest.handoff.some((h) => h.name.endsWith('#once'))).toBe(true);
    expect(graphs.manifest.contextInputs.map((i) => i.name)).toEqual(m.inputs.filter((i) => i.side === 'context').map((i) => i.name));
    expect(graphs.manifest.candidateInputs.map((i) => i.name)).toEqual(m.inputs.filter((i) => i.side === 'candidate').map((i) => i.name));
  });

  it('writes row-projection as ONNX for rows 48 wide or more: AutoInt\'s context field rows are projected once, and the scores stay exact', async () => {
    // Narrower rows are left to the graph's own MatMul (measured faster on onnxruntime), exact as well.
    const narrow = randomModel({ arch: 'autoint', context: 5, target: 3, dim: 6, seed: 8 });
    const n = compileModel(narrow);
    const narrowGraphs = exportRankAwareOnnx(n);
    for (const rw of n.program.rewrites.filter((r) => r.kind === 'row-projection')) expect(narrowGraphs.manifest.handoff.map((h) => h.name)).not.toContain(rw.onceName);
    const few = n.randomRequest(7, 4, 2);
    expectClose((await rankAwareOnOrt(n, few)).single, await vanillaOnOrt(exportOnnx(narrow), n, few), 'd = 6, one graph');
    const model = randomModel({ arch: 'autoint', context: 5, target: 3, dim: 48, seed: 8 });
    const m = compileModel(model);
    const projections = m.program.rewrites.filter((rw) => rw.kind === 'row-projection');
    expect(projections.length).toBeGreaterThanOrEqual(1);
    const graphs = exportRankAwareOnnx(m);
    // Each projection's context rows [5, o] cross from the context stage.
    for (const rw of projections) expect(graphs.manifest.handoff.map((h) => h.name)).toContain(rw.onceName);
    const context = await ort.InferenceSession.create(graphs.context, options);
    const request = m.randomRequest(11, 4, 2);
    const encoded = m.encode(request);
    const out = await context.run(Object.fromEntries(graphs.manifest.contextInputs.map(({ name }) => [name, tensor(encoded.context.get(name)!)])));
    for (const rw of projections) expect(out[rw.onceName]!.dims).toEqual([5, rw.weight!.shape[1]]);
    const { single, staged } = await rankAwareOnOrt(m, request);
    const vanilla = await vanillaOnOrt(exportOnnx(model), m, request);
    expectClose(single, vanilla, 'one graph');
    expectClose(staged, vanilla, 'two stages');
  });
});

describe('the ort backend (createScorer({ backend: "ort" }))', () => {
  const model: Model = randomModel({ arch: 'dcnv2', context: 4, target: 3, dim: 6, seed: 21 });
  const compiled = compileModel(model);

  it('scores as the wasm plan does, on one graph; with a context key, misses then hits, and evicts the least recent', async () => {
    const scorer = await createScorer(model, { backend: 'ort', maxContexts: 2 });
    try {
      expect(scorer.info).toMatchObject({ backend: 'ort', plan: 'rank-aware', threads: 1, executionProviders: ['cpu'], maxContexts: 2 });
      const requests = [1, 2, 3].map((s) => compiled.randomRequest(9, s, 2));
      for (const r of requests) expectClose((await scorer.score(r)).scores, compiled.score(r, 'rank-aware', 'wasm').scores, 'no key');
      const keyed = async (i: number) => scorer.score(requests[i]!, { contextKey: `user-${i}` });
      expect((await keyed(0)).timing.contextCache).toBe('miss');
      const hit = await keyed(0);
      expect(hit.timing.contextCache).toBe('hit');
      expectClose(hit.scores, compiled.score(requests[0], 'rank-aware', 'wasm').scores, 'a hit');
      // Other candidates under the same key: the cached context, this request's candidates.
      const moreCandidates = { context: requests[0]!.context, candidates: requests[1]!.candidates };
      expectClose((await scorer.score(moreCandidates, { contextKey: 'user-0' })).scores, compiled.score(moreCandidates, 'rank-aware', 'wasm').scores, 'a hit, new candidates');
      await keyed(1);
      await keyed(2); // user-0 was used before user-1 last: user-0 goes
      expect((await keyed(1)).timing.contextCache).toBe('hit');
      expect((await keyed(0)).timing.contextCache).toBe('miss');
    } finally {
      await scorer.dispose();
    }
  });

  it('encodes a native request straight into tensors: every equivalence case, din and bst score as the js engine does; a pooled candidate field must be rectangular', async () => {
    const models = [...equivalenceCases().map((c) => ({ name: c.name, model: c.model, request: c.request as unknown })), ...(['din', 'bst'] as const).map((arch) => {
      const model = randomModel({ arch, context: 2, target: 2, dim: 4, seed: 6, history: 12 });
      return { name: arch, model, request: compileModel(model).randomRequest(5, 3, 9) as unknown };
    })];
    for (const { name, model, request } of models) {
      const m = compileModel(model);
      // (The direct path takes every input of these graphs: the scorer does not fall back to the general one.)
      const { manifest } = exportRankAwareOnnx(m);
      expect(nativeFeeds(model.spec, manifest.contextInputs, manifest.candidateInputs), name).toBeDefined();
      const scorer = await createScorer(model, { backend: 'ort' });
      try {
        expectClose((await scorer.score(request)).scores, m.score(request, 'rank-aware', 'js').scores, name);
      } finally {
        await scorer.dispose();
      }
    }
    // A candidate field of several ids: every candidate lists as many as the first (ONNX tensors are rectangular).
    const pooled = randomModel({ arch: 'dcnv2', context: 2, target: 2, dim: 4, seed: 3 });
    const spec = { ...pooled.spec, fields: pooled.spec.fields.map((f) => (f.side === 'target' && f.type === 'sparse' && f.name === pooled.spec.fields.find((g) => g.side === 'target')!.name ? { ...f, pooling: 'mean' as const } : f)) };
    const model = { ...pooled, spec };
    const field = spec.fields.find((f) => f.side === 'target')!.name;
    const m = compileModel(model);
    const scorer = await createScorer(model, { backend: 'ort' });
    try {
      const request = m.randomRequest(3, 4, 1) as { context: Record<string, unknown>; candidates: Record<string, unknown>[] };
      const square = { ...request, candidates: request.candidates.map((c, i) => ({ ...c, [field]: [i, i + 1] })) };
      expectClose((await scorer.score(square)).scores, m.score(square, 'rank-aware', 'js').scores, 'pooled, 2 ids each');
      const ragged = { ...square, candidates: square.candidates.map((c, i) => (i === 2 ? { ...c, [field]: [1, 2, 3] } : c)) };
      const refused = await scorer.score(ragged).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RankawareError);
      expect((refused as Error).message).toBe(((await Promise.resolve().then(() => m.encode(ragged)).catch((e: unknown) => e)) as Error).message);
      expect((refused as Error).message).toMatch(new RegExp(`request\\.candidates\\[2\\]\\.${field}.*a list of 2 values.*a list of 3`));
    } finally {
      await scorer.dispose();
    }
  }, 120_000);

  it('takes an imported graph and a din model (its history rules in front)', async () => {
    const m = importOnnx(readFileSync(join(zoo, 'din', 'model.onnx')), { context: 'ctx_' });
    const request = (JSON.parse(readFileSync(join(zoo, 'din', 'case.json'), 'utf8')) as { requests: { request: unknown; expected: { score_onnxruntime: number[] } }[] }).requests[1]!;
    const imported = await createScorer(m, { backend: 'ort' });
    expectClose((await imported.score(request.request)).scores, request.expected.score_onnxruntime, 'zoo din');
    await imported.dispose();
    const din = randomModel({ arch: 'din', context: 2, target: 1, dim: 4, seed: 5, history: 12 });
    const scorer = await createScorer(din, { backend: 'ort' });
    const r = compileModel(din).randomRequest(4, 9, 7);
    expectClose((await scorer.score(r)).scores, compileModel(din).score(r, 'rank-aware', 'js').scores, 'din');
    const outside = { ...r, context: { ...r.context, history: [1, 1_000_000] } };
    const refused = await scorer.score(outside).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RankawareError);
    expect((refused as Error).message).toMatch(/history/);
    await scorer.dispose();
  });

  it('refuses bad input naming the field, bad options, and a disposed scorer', async () => {
    const scorer = await createScorer(model, { backend: 'ort' });
    const good = compiled.randomRequest(2, 1, 1);
    const first = Object.keys(good.context)[0]!;
    const bad = await scorer.score({ ...good, context: { ...good.context, [first]: 'x' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RankawareError);
    expect((bad as Error).message).toContain(first);
    const key = await scorer.score(good, { contextKey: 7 as unknown as string }).catch((e: unknown) => e);
    expect((key as Error).message).toMatch(/options\.contextKey: expected a string/);
    // The scorer still answers after refusals.
    expectClose((await scorer.score(good)).scores, compiled.score(good, 'rank-aware', 'wasm').scores, 'after refusals');
    await scorer.dispose();
    expect(((await scorer.score(good).catch((e: unknown) => e)) as RankawareError).kind).toBe('unavailable');
    expect((await createScorer(model, { backend: 'ort', threads: 0 }).catch((e: unknown) => e)) as Error).toBeInstanceOf(RankawareError);
    expect(((await createScorer(model, { backend: 'ort', executionProviders: [] }).catch((e: unknown) => e)) as Error).message).toMatch(/executionProviders/);
    expect(((await createScorer(model, { backend: 'ort', executionProviders: ['no-such-provider'] }).catch((e: unknown) => e)) as Error).message).toMatch(/backend "ort".*no-such-provider/);
  });

  it('with two intra-op threads: a small request runs on the one-thread sessions, a large one on both threads, the same scores', async () => {
    const dlrm = randomModel({ arch: 'dlrm', context: 3, target: 2, dim: 4, seed: 21 });
    const m = compileModel(dlrm);
    const vanilla = exportOnnx(dlrm);
    // Before any measurement: up to 64 candidates on one thread, more on both (deterministic).
    const fresh = await createScorer(dlrm, { backend: 'ort', threads: 2 });
    const large = m.randomRequest(65, 3, 1);
    const first = await fresh.score(large);
    expect(first.timing.threads).toBe(2);
    expectClose(first.scores, await vanillaOnOrt(vanilla, m, large), 'N=65 on two threads');
    await fresh.dispose();
    // Each size on a scorer of its own: what runs where is measured later on (the next test), and a
    // loaded machine may measure one thread slower even for small requests.
    for (const n of [1, 9, 40]) {
      const scorer = await createScorer(dlrm, { backend: 'ort', threads: 2, maxContexts: 4 });
      try {
        expect(scorer.info.reason).toMatch(/2 intra-op threads \(or one, for requests of a size measured faster on one; at first, those under 1 ms on one\)/);
        const request = m.randomRequest(n, n, 1);
        const r = await scorer.score(request);
        expect(r.timing.threads, `N=${n}`).toBe(1);
        expectClose(r.scores, await vanillaOnOrt(vanilla, m, request), `N=${n} on one thread`);
        // (The first one-thread run, a cold session's, is no sample: the rule still holds.)
        const cached = await scorer.score(request, { contextKey: `u${n}` });
        expect(cached.timing.threads, `N=${n}, cached`).toBe(1);
        expectClose(cached.scores, r.scores, `N=${n}, the candidate stage on one thread`);
      } finally {
        await scorer.dispose();
      }
    }
    // 20000 candidates, and no size as large measured on one thread: both threads, the same scores.
    const scorer = await createScorer(dlrm, { backend: 'ort', threads: 2 });
    try {
      const huge = m.randomRequest(20_000, 5, 1);
      const r = await scorer.score(huge);
      expect(r.timing.threads).toBe(2);
      expectClose(r.scores, m.score(huge, 'rank-aware', 'js').scores, 'N=20000 on two threads');
    } finally {
      await scorer.dispose();
    }
  }, 60_000);

  it('with two intra-op threads: the sessions measured faster for a request size run it, one request in 16 (of 8 candidates or more) tries the others, a cold first run is no sample', async () => {
    const dlrm = randomModel({ arch: 'dlrm', context: 3, target: 2, dim: 4, seed: 21 });
    const m = compileModel(dlrm);
    let oneMs = 0;
    let allMs = 0;
    const scorer = await OrtScorer.start(m, { threads: 2 }, timedRuntime((graph) => (graph.endsWith('-one') ? oneMs : allMs)));
    const request = m.randomRequest(16, 1, 1);
    const run = async (count: number) => {
      const threads: number[] = [];
      for (let i = 0; i < count; i++) threads.push((await scorer.score(request)).timing.threads);
      return threads;
    };
    const twos = (xs: number[]) => xs.filter((t) => t === 2).length;
    try {
      // A cold first run (30 ms for 16 candidates) is no sample: small requests stay on one thread.
      oneMs = 30;
      expect(await run(1)).toEqual([1]);
      oneMs = 0.2;
      allMs = 0.6;
      expect((await run(14)).every((t) => t === 1)).toBe(true);
      // Faster on one thread: one request in 16 runs on two (the probes), the rest on one.
      expect(twos(await run(64))).toBe(4);
      // Slower on one thread for good: two threads take over; one request in 16 still tries one.
      oneMs = 1.2;
      allMs = 0.3;
      await run(32);
      expect(twos(await run(32))).toBe(30);
      // Fast on one thread again: the probes find it, and one thread takes the requests back.
      oneMs = 0.1;
      await run(16 * 6);
      expect(twos(await run(32))).toBe(2);
      // Requests under 8 candidates are no samples, so none is sent to probe.
      const tiny = m.randomRequest(4, 2, 1);
      const small: number[] = [];
      for (let i = 0; i < 40; i++) small.push((await scorer.score(tiny)).timing.threads);
      expect(twos(small)).toBe(0);
    } finally {
      await scorer.dispose();
    }
  });

  it('with two intra-op threads: the one-graph form and the candidate stage alone (a cached context) are measured apart', async () => {
    const dlrm = randomModel({ arch: 'dlrm', context: 3, target: 2, dim: 4, seed: 21 });
    const m = compileModel(dlrm);
    // One thread is faster on the one-graph form, two on the candidate stage alone.
    const ms: Record<string, number> = { 'single-one': 0.2, single: 0.6, 'candidates-one': 0.6, candidates: 0.2, context: 0 };
    const scorer = await OrtScorer.start(m, { threads: 2, maxContexts: 4 }, timedRuntime((graph) => ms[graph]!));
    const request = m.randomRequest(16, 1, 1);
    try {
      const uncached: number[] = [];
      const cached: number[] = [];
      for (let i = 0; i < 160; i++) {
        uncached.push((await scorer.score(request)).timing.threads);
        cached.push((await scorer.score(request, { contextKey: 'u' })).timing.threads);
      }
      // Once both kinds are measured in each (3 probes after a cold one: 64 requests), only the probes
      // run on the other kind: one thread for the one-graph form, two for the candidate stage.
      expect(uncached.slice(112).filter((t) => t === 2).length).toBe(3);
      expect(cached.slice(112).filter((t) => t === 1).length).toBe(3);
    } finally {
      await scorer.dispose();
    }
  });

  it('says how to install onnxruntime-node when it does not load', async () => {
    vi.resetModules();
    vi.doMock('onnxruntime-node', () => {
      throw new Error('Cannot find package onnxruntime-node');
    });
    try {
      const { loadOrt } = await import('../src/onnx/ort/node.js');
      const e = await loadOrt().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(/^backend "ort": expected the onnxruntime-node package installed beside rankaware \(npm install onnxruntime-node\), received it does not load/);
    } finally {
      vi.doUnmock('onnxruntime-node');
      vi.resetModules();
    }
  });
});

describe('the ort backend on onnxruntime-web (as a page runs it, here its wasm provider in Node)', () => {
  it('scores as the vanilla graph on onnxruntime-node, with and without the context cache; refuses workers', async () => {
    const ortWeb = await import('onnxruntime-web');
    ortWeb.env.wasm.numThreads = 1;
    const model = randomModel({ arch: 'dcnv2', context: 4, target: 3, dim: 6, seed: 17 });
    const m = compileModel(model);
    const { createOrtWebScorer } = await import('../src/onnx/browser.js');
    const scorer = await createOrtWebScorer(m, { ort: ortWeb, maxContexts: 4 });
    try {
      expect(scorer.info.reason).toMatch(/on onnxruntime-web, wasm/);
      for (const n of [1, 37]) {
        const request = m.randomRequest(n, n, 3);
        const vanilla = await vanillaOnOrt(exportOnnx(model), m, request);
        expectClose((await scorer.score(request)).scores, vanilla, `N=${n}, one graph`);
        const miss = await scorer.score(request, { contextKey: `u${n}` });
        const hit = await scorer.score(request, { contextKey: `u${n}` });
        expect([miss.timing.contextCache, hit.timing.contextCache]).toEqual(['miss', 'hit']);
        expectClose(hit.scores, vanilla, `N=${n}, cached context`);
      }
    } finally {
      await scorer.dispose();
    }
    await expect(createOrtWebScorer(m, { ort: ortWeb, workers: 2 } as never)).rejects.toThrow(/options\.workers: expected no workers option on onnxruntime-web/);
  }, 60_000);
});

describe('the CLI: export-onnx --plan rank-aware and score --backend ort', () => {
  it('writes the three graphs and their manifest; score --backend ort prints the js scores within 1e-5', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rankaware-ort-'));
    const model = randomModel({ arch: 'rdcn', context: 3, target: 2, dim: 4, seed: 8 });
    await saveModelDir(model, join(dir, 'model'));
    const request = compileModel(model).randomRequest(6, 4, 1);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'request.json'), JSON.stringify(request));
    const exported = await runCli('export-onnx', '--model', join(dir, 'model'), '--plan', 'rank-aware', '--out', join(dir, 'ra'));
    expect(exported.code, exported.err).toBe(0);
    expect((await readdir(join(dir, 'ra'))).sort()).toEqual(['candidates.onnx', 'context.onnx', 'rank-aware.json', 'rank-aware.onnx']);
    const manifest = JSON.parse(await readFile(join(dir, 'ra', 'rank-aware.json'), 'utf8')) as { format: string; handoff: unknown[] };
    expect(manifest.format).toBe('rankaware-rank-aware-onnx');
    const onOrt = await runCli('score', '--model', join(dir, 'model'), '--request', join(dir, 'request.json'), '--backend', 'ort');
    expect(onOrt.code, onOrt.err).toBe(0);
    const js = await runCli('score', '--model', join(dir, 'model'), '--request', join(dir, 'request.json'), '--backend', 'js');
    const [a, b] = [JSON.parse(onOrt.out) as { scores: number[]; backend: string }, JSON.parse(js.out) as { scores: number[] }];
    expect(a.backend).toBe('ort');
    expectClose(a.scores, b.scores, 'cli');
    const vanilla = await runCli('score', '--model', join(dir, 'model'), '--request', join(dir, 'request.json'), '--backend', 'ort', '--plan', 'vanilla');
    expect(vanilla.code).not.toBe(0);
    expect(vanilla.err).toMatch(/--plan: expected "rank-aware" with --backend ort/);
    expect(exported.out + exported.err).not.toMatch(/fused/);
    // A DLRM's export says what it fused.
    await saveModelDir(randomModel({ arch: 'dlrm', context: 3, target: 2, dim: 4, seed: 8 }), join(dir, 'dlrm'));
    const dlrm = await runCli('export-onnx', '--model', join(dir, 'dlrm'), '--plan', 'rank-aware', '--out', join(dir, 'dlrm-ra'));
    expect(dlrm.code, dlrm.err).toBe(0);
    expect(dlrm.out + dlrm.err).toMatch(/fused in the candidate stage: pair-gram /);
    const badPlan = await runCli('export-onnx', '--model', join(dir, 'model'), '--plan', 'fast', '--out', join(dir, 'x'));
    expect(badPlan.err).toMatch(/--plan: expected "vanilla" .* or "rank-aware"/);
  }, 60_000);
});

