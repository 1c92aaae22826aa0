/**
 * Weights shared across threads: compiled plans on one shared WebAssembly.Memory, the second and later
 * ones reusing the first's weight image; a real worker_threads worker that scores candidates on weights
 * it never placed, from a context state computed on the main thread; context states exported from one
 * compiled plan and imported into another (js and wasm).
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequest, getPlan, RankawareError, score } from '../src/index.js';
import type { Inputs, Plan } from '../src/index.js';
import type { CompiledPlan, ContextPayload } from '../src/backends/backend.js';
import { jsBackend } from '../src/backends/js/index.js';
import { compileOnShared, planSkeleton } from '../src/backends/wasm/index.js';
import { createSharedWasm, createWasmBackend } from '../src/backends/wasm/load.js';
import type { SharedWasm, WasmCompiledPlan, WeightImageRef } from '../src/backends/wasm/index.js';
import { LinearMemory } from '../src/backends/wasm/memory.js';
import { MAX_SHARED_PAGES } from '../src/backends/wasm/module.js';
import { equivalenceCases } from './cases.js';
import type { Case } from './cases.js';

/** float32 kernels against the float64 reference: 1e-5, relative on logits (as test/wasm-backend.test.ts). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-5 * (1 + Math.abs(expected[i]!));
    expect(Math.abs(actual[i]! - expected[i]!), `${what} candidate ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol);
  }
}

/** The first shape of every architecture, a pooled one with an OOV bucket, and dense inputs on either side. */
function someCases(): Case[] {
  const all = equivalenceCases();
  const archs = new Set(all.map((c) => c.model.spec.architecture));
  const picked = [...archs].map((a) => all.find((c) => c.model.spec.architecture === a)!);
  for (const tag of ['pooled', 'dense-context', 'dense-target']) picked.push(all.find((c) => c.name.startsWith('dlrm') && c.name.includes(tag))!);
  return picked;
}

const reference = (c: Case): number[] => score(c.model, c.request, { backend: 'js' }).scores;

/** Bytes of the weights a compiled plan placed. */
const imageBytes = (image: WeightImageRef): number => image.end - image.start;

/** Bytes allocated on a shared memory so far, by every thread (its allocator's pointer). */
const usedBytes = (shared: SharedWasm): number => new LinearMemory(shared.memory, { attach: true }).used;

describe('compiled plans on one shared memory', () => {
  it('the memory is shared, starts small and may grow to 1 GiB', async () => {
    const shared = await createSharedWasm();
    expect(shared.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.memory.buffer.byteLength).toBeLessThanOrEqual(1 << 20);
    expect(MAX_SHARED_PAGES * 65536).toBe(1 << 30);
    // Over the maximum: the module declares 16384 pages, the memory may not grow past them.
    expect(() => shared.memory.grow(MAX_SHARED_PAGES)).toThrow(RangeError);
  });

  it('a second plan with the first one\'s image places no weights, and both score like the reference, interleaved', async () => {
    const shared = await createSharedWasm();
    const cases = someCases();
    const runs = cases.map((c) => ({ c, e: encodeRequest(c.model.spec, c.request), expected: reference(c) }));
    for (const { c, e, expected } of runs) {
      const plan = getPlan(c.model, 'rank-aware');
      const u0 = usedBytes(shared);
      const first = compileOnShared(plan, shared);
      first.runCandidates(first.runContext(e.context), e.candidates);
      const u1 = usedBytes(shared);
      const second = compileOnShared(plan, shared, { image: first.weightImage() });
      second.runCandidates(second.runContext(e.context), e.candidates);
      const u2 = usedBytes(shared);
      // Both allocated the same buffers and scratch; only the first placed weights.
      expect(u2 - u1, c.name).toBe(u1 - u0 - imageBytes(first.weightImage()));
      expect(u2 - u1, c.name).toBeLessThan(u1 - u0);
      expect(second.weightImage()).toEqual(first.weightImage());

      // Interleaved: each plan's context state is its own.
      const ctxFirst = first.runContext(e.context);
      const ctxSecond = second.runContext(e.context);
      expectClose(second.runCandidates(ctxSecond, e.candidates), expected, `${c.name} second`);
      expectClose(first.runCandidates(ctxFirst, e.candidates), expected, `${c.name} first`);
    }
  });

  it('a plan from planSkeleton compiles with an image and scores the same; without one it is refused', async () => {
    const shared = await createSharedWasm();
    const c = someCases()[0]!;
    const plan = getPlan(c.model, 'rank-aware');
    const e = encodeRequest(c.model.spec, c.request);
    const full = compileOnShared(plan, shared);
    const skeleton = planSkeleton(plan);
    for (const [name, t] of skeleton.weights) {
      expect(t.data.length, name).toBe(0);
      expect(t.shape, name).toEqual(plan.weights.get(name)!.shape);
    }
    const fromSkeleton = compileOnShared(skeleton, shared, { image: full.weightImage(), attach: true });
    expect(Array.from(fromSkeleton.runCandidates(fromSkeleton.runContext(e.context), e.candidates))).toEqual(Array.from(full.runCandidates(full.runContext(e.context), e.candidates)));
    expect(() => compileOnShared(skeleton, shared)).toThrow(/planSkeleton/);
    // Another plan's image lacks this plan's weights.
    const other = someCases()[1]!;
    expect(() => compileOnShared(getPlan(other.model, 'rank-aware'), shared, { image: full.weightImage() })).toThrow(RankawareError);
  });

  it('attach refuses a shared memory whose allocator was never initialized', async () => {
    const shared = await createSharedWasm();
    const bare: SharedWasm = { ...shared, memory: new WebAssembly.Memory({ initial: 1, maximum: MAX_SHARED_PAGES, shared: true }) };
    const plan = getPlan(someCases()[0]!.model, 'rank-aware');
    expect(() => compileOnShared(plan, bare, { attach: true })).toThrow(/never initialized/);
  });
});

/**
 * A worker that compiles plans on the shared memory it gets in workerData and scores candidates from
 * imported context states. It loads the TypeScript sources through tsx, so it runs what this test
 * imports, with no build step.
 */
const TSX_API = import.meta.resolve('tsx/esm/api');
const WASM_INDEX = new URL('../src/backends/wasm/index.ts', import.meta.url).href;
const MEMORY = new URL('../src/backends/wasm/memory.ts', import.meta.url).href;
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const tsx = import(${JSON.stringify(TSX_API)});
const wasm = tsx.then(({ tsImport }) => tsImport(${JSON.stringify(WASM_INDEX)}, ${JSON.stringify(WASM_INDEX)}));
const memory = tsx.then(({ tsImport }) => tsImport(${JSON.stringify(MEMORY)}, ${JSON.stringify(MEMORY)}));
const plans = new Map();
parentPort.on('message', async ({ id, kind, key, plan, image, payload, candidates, count }) => {
  try {
    const { compileOnShared } = await wasm;
    if (kind === 'alloc') {
      const { LinearMemory } = await memory;
      const mem = new LinearMemory(workerData.shared.memory, { attach: true });
      const offsets = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        offsets[i] = mem.alloc(1 + (i % 7));
        mem.i32[offsets[i] >> 2] = -1 - i;
      }
      parentPort.postMessage({ id, offsets }, [offsets.buffer]);
    } else if (kind === 'compile') {
      plans.set(key, compileOnShared(plan, workerData.shared, { image, attach: true }));
      parentPort.postMessage({ id });
    } else {
      const compiled = plans.get(key);
      const scores = compiled.runCandidates(compiled.importContext(payload), candidates);
      parentPort.postMessage({ id, scores }, [scores.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.stack || e) });
  }
});
`;

class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: { scores?: Float32Array; offsets?: Int32Array }) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(shared: SharedWasm) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { shared } });
    this.worker.on('message', (m: { id: number; error?: string; scores?: Float32Array; offsets?: Int32Array }) => {
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`worker: ${m.error}`));
      else p.resolve(m);
    });
    this.worker.on('error', (e) => this.pending.forEach((p) => p.reject(e)));
  }

  /** The worker allocates `count` blocks of 1..7 floats and writes -1 - i into block i. */
  async alloc(count: number): Promise<Int32Array> {
    return (await this.call({ kind: 'alloc', count })).offsets!;
  }

  private call(message: object, transfer: ArrayBuffer[] = []): Promise<{ scores?: Float32Array; offsets?: Int32Array }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }

  async compile(key: string, plan: Plan, image: WeightImageRef): Promise<void> {
    await this.call({ kind: 'compile', key, plan, image });
  }

  async score(key: string, payload: ContextPayload, candidates: Inputs): Promise<Float32Array> {
    const transfer = payload.arrays.flatMap((a) => (a ? [a.buffer as ArrayBuffer] : []));
    return (await this.call({ kind: 'score', key, payload, candidates }, transfer)).scores!;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

describe('a worker thread on the weights placed by the main thread', () => {
  let shared: SharedWasm;
  let worker: WorkerClient;
  const cases = someCases();
  const mains: WasmCompiledPlan[] = [];
  let weightsBefore: Uint8Array[];
  /** Bytes the worker allocated on the shared memory (the main thread allocated nothing meanwhile). */
  let byWorker: number;
  let workerScores: Float32Array[];

  beforeAll(async () => {
    shared = await createSharedWasm();
    const requests = cases.map((c) => encodeRequest(c.model.spec, c.request));
    for (const [i, c] of cases.entries()) {
      const main = compileOnShared(getPlan(c.model, 'rank-aware'), shared);
      // A first request sizes the main plan's input scratch, so that the main thread allocates nothing below.
      main.runCandidates(main.runContext(requests[i]!.context), requests[i]!.candidates);
      mains.push(main);
    }
    weightsBefore = mains.map((m) => new Uint8Array(shared.memory.buffer, m.weightImage().start, imageBytes(m.weightImage())).slice());
    const before = usedBytes(shared);
    worker = new WorkerClient(shared);
    for (const [i, c] of cases.entries()) await worker.compile(c.name, planSkeleton(getPlan(c.model, 'rank-aware')), mains[i]!.weightImage());
    // The context stage here, the candidates there; every request in flight at once on the worker.
    workerScores = await Promise.all(cases.map((c, i) => worker.score(c.name, mains[i]!.exportContext(mains[i]!.runContext(requests[i]!.context)), requests[i]!.candidates)));
    byWorker = usedBytes(shared) - before;
  });

  afterAll(async () => {
    await worker.terminate();
  });

  it('scores candidates from a context state computed on the main thread, equal to the main thread\'s scores', () => {
    for (const [i, c] of cases.entries()) {
      const e = encodeRequest(c.model.spec, c.request);
      const main = mains[i]!.runCandidates(mains[i]!.runContext(e.context), e.candidates);
      expect(Array.from(workerScores[i]!), c.name).toEqual(Array.from(main));
      expectClose(workerScores[i]!, reference(c), c.name);
    }
  });

  it('the weights are written once: unchanged after the worker ran, and the worker allocated only its own buffers', () => {
    for (const [i, m] of mains.entries()) {
      const now = new Uint8Array(shared.memory.buffer, m.weightImage().start, imageBytes(m.weightImage()));
      expect(Buffer.compare(now, weightsBefore[i]!), cases[i]!.name).toBe(0);
    }
    // What the worker did, done again here: a plan compiled with the image, candidates from an imported context.
    const u0 = usedBytes(shared);
    for (const [i, c] of cases.entries()) {
      const twin = compileOnShared(planSkeleton(getPlan(c.model, 'rank-aware')), shared, { image: mains[i]!.weightImage() });
      const e = encodeRequest(c.model.spec, c.request);
      twin.runCandidates(twin.importContext(mains[i]!.exportContext(mains[i]!.runContext(e.context))), e.candidates);
    }
    expect(byWorker).toBeGreaterThan(0);
    expect(byWorker).toBe(usedBytes(shared) - u0);
  });

  it('both threads allocate at once (growing the memory) and never get overlapping blocks', async () => {
    const count = 100_000;
    const fromWorker = worker.alloc(count);
    const mem = new LinearMemory(shared.memory, { attach: true });
    const here = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      // Allocate before taking the view: an allocation may grow the memory.
      here[i] = mem.alloc(1 + (i % 7));
      mem.i32[here[i]! >> 2] = i;
    }
    const there = await fromWorker;
    const blocks = [...Array.from(here, (at, i) => [at, i, i]), ...Array.from(there, (at, i) => [at, i, -1 - i])].sort((a, b) => a[0]! - b[0]!);
    blocks.forEach(([at, i, mark], n) => {
      // Each block still holds what its own thread wrote, and ends before the next one starts.
      expect(mem.i32[at! >> 2]).toBe(mark);
      if (n + 1 < blocks.length) expect(at! + (1 + (i! % 7)) * 4).toBeLessThanOrEqual(blocks[n + 1]![0]!);
    });
    expect(usedBytes(shared)).toBeLessThanOrEqual(shared.memory.buffer.byteLength);
  });
});

/** The request of a case with its first single-id context field changed. */
function otherContext(c: Case): Case['request'] {
  const [field, id] = Object.entries(c.request.context).find(([, v]) => typeof v === 'number')!;
  return { ...c.request, context: { ...c.request.context, [field]: ((id as number) + 1) % 20 } };
}

describe('exportContext / importContext', () => {
  /** Run the context stage on `a`, the candidates on `b` (through a structured clone, as a postMessage would). */
  function across(a: CompiledPlan, b: CompiledPlan, c: Case): Float32Array | Float64Array {
    const e = encodeRequest(c.model.spec, c.request);
    const payload = structuredClone(a.exportContext(a.runContext(e.context)));
    const state = b.importContext(payload);
    // b's own context stage runs in between, on another context: the imported state must still be the one it scores with.
    b.runContext(encodeRequest(c.model.spec, otherContext(c)).context);
    return b.runCandidates(state, e.candidates);
  }

  it('js: a context state moves between compiled plans of the same plan', () => {
    for (const c of someCases()) {
      const plan = getPlan(c.model, 'rank-aware');
      const [a, b] = [jsBackend.compile(plan), jsBackend.compile(plan)];
      const e = encodeRequest(c.model.spec, c.request);
      expect(Array.from(across(a, b, c)), c.name).toEqual(Array.from(a.runCandidates(a.runContext(e.context), e.candidates)));
    }
  });

  it('wasm: a context state moves between instances (vanilla and rank-aware plans)', async () => {
    const wasm = await createWasmBackend();
    for (const c of someCases())
      for (const mode of ['vanilla', 'rank-aware'] as const) {
        const plan = getPlan(c.model, mode);
        const [a, b] = [wasm.compile(plan), wasm.compile(plan)];
        const e = encodeRequest(c.model.spec, c.request);
        const scores = across(a, b, c);
        expect(Array.from(scores), `${c.name} ${mode}`).toEqual(Array.from(a.runCandidates(a.runContext(e.context), e.candidates)));
        expectClose(scores, reference(c), `${c.name} ${mode}`);
      }
  });

  it('the payload is a copy: transferring its buffers leaves the state usable', async () => {
    const wasm = await createWasmBackend();
    const c = someCases()[0]!;
    const compiled = wasm.compile(getPlan(c.model, 'rank-aware'));
    const e = encodeRequest(c.model.spec, c.request);
    const state = compiled.runContext(e.context);
    const before = Array.from(compiled.runCandidates(state, e.candidates));
    const payload = compiled.exportContext(state);
    structuredClone(payload, { transfer: payload.arrays.map((a) => a!.buffer as ArrayBuffer) });
    compiled.runContext(encodeRequest(c.model.spec, otherContext(c)).context);
    expect(Array.from(compiled.runCandidates(state, e.candidates))).toEqual(before);
  });

  it('a payload of another backend or another plan is refused, naming the payload', async () => {
    const wasm = await createWasmBackend();
    const [c, d] = someCases();
    const e = encodeRequest(c!.model.spec, c!.request);
    const js = jsBackend.compile(getPlan(c!.model, 'rank-aware'));
    const w = wasm.compile(getPlan(c!.model, 'rank-aware'));
    const wOther = wasm.compile(getPlan(d!.model, 'rank-aware'));
    const jsOther = jsBackend.compile(getPlan(d!.model, 'rank-aware'));
    expect(() => js.importContext(w.exportContext(w.runContext(e.context)))).toThrow(/context payload: expected a js context/);
    expect(() => w.importContext(js.exportContext(js.runContext(e.context)))).toThrow(/context payload: expected a wasm context/);
    expect(() => wOther.importContext(w.exportContext(w.runContext(e.context)))).toThrow(RankawareError);
    expect(() => jsOther.importContext(js.exportContext(js.runContext(e.context)))).toThrow(RankawareError);
  });
});
