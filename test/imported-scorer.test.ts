/**
 * createScorer on an imported graph (src/onnx/scorer): on the calling thread and with worker threads, every
 * request scores exactly as ImportedModel.score does (the same compiled kernels: bit for bit), whole or
 * split across the threads; the context cache by key; each kind of failure (a bad request, a worker that
 * throws, exits or hangs, an abort, a disposed scorer) answers the request concerned with one clear error
 * while the others go on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importOnnx } from '../src/onnx/model.js';
import type { ImportedModel } from '../src/onnx/model.js';
import { randomImportedRequest } from '../src/onnx/request.js';
import { mulberry32 } from '../src/model/random.js';
import { createImportedScorer } from '../src/onnx/scorer/scorer.js';
import type { ImportedScorer } from '../src/onnx/scorer/scorer.js';
import { createScorer } from '../src/node.js';

const zoo = (name: string): ImportedModel => {
  const file = join(import.meta.dirname, '..', '..', 'shared', 'onnx-zoo', name, 'model.onnx');
  return importOnnx(new Uint8Array(readFileSync(file)), { context: 'ctx_', file });
};
const din = zoo('din');
const mmoe = zoo('mmoe');
const requestOf = (model: ImportedModel, n: number, seed: number) => randomImportedRequest(model.inputs, n, mulberry32(seed), 6);

const scorers: ImportedScorer[] = [];
const make = async (model: ImportedModel, options: Parameters<typeof createImportedScorer>[1]) => {
  const s = await createImportedScorer(model, options);
  scorers.push(s);
  return s;
};
afterAll(() => {
  for (const s of scorers) s.dispose();
});

describe('imported graph scorer', () => {
  for (const threads of [1, 2, 3])
    it(`threads ${threads}: 40 requests in flight score as ImportedModel.score, every output by name`, async () => {
      const s = await make(mmoe, { threads });
      expect(s.info.threads).toBe(threads);
      expect(s.info.workers).toBe(threads - 1);
      const requests = Array.from({ length: 40 }, (_, i) => requestOf(mmoe, 1 + ((i * 37) % 300), i + 1));
      const got = await Promise.all(requests.map((r) => s.score(r)));
      got.forEach((g, i) => {
        const want = mmoe.score(requests[i], 'rank-aware', 'wasm');
        expect(g.scores).toEqual(want.scores);
        expect(g.outputs).toEqual(want.outputs);
        expect(g.backend).toBe('wasm');
      });
    });

  it('a large request is split across the threads (its context stage once, on the calling thread)', async () => {
    const s = await make(din, { threads: 2, splitRows: 100 });
    const request = requestOf(din, 333, 7);
    const got = await s.score(request);
    expect(got.timing.tiles).toBe(2);
    expect(got.scores).toEqual(din.score(request, 'rank-aware', 'wasm').scores);
  });

  for (const threads of [1, 2])
    it(`threads ${threads}: the context cache by key (a miss, then hits), bounded in bytes`, async () => {
      const s = await make(din, { threads, maxContextBytes: 1 << 20 });
      const request = requestOf(din, 20, 11);
      const first = await s.score(request, { contextKey: 'user-1' });
      expect(first.timing.contextCache).toBe('miss');
      expect(s.hasContextKey('user-1')).toBe(true);
      const again = await s.score({ ...request, candidates: requestOf(din, 9, 12).candidates }, { contextKey: 'user-1' });
      expect(again.timing.contextCache).toBe('hit');
      expect(again.scores).toEqual(din.score({ ...request, candidates: requestOf(din, 9, 12).candidates }, 'rank-aware', 'wasm').scores);
      expect(s.contextUsage).toMatchObject({ hits: 1, misses: 1, handles: 1 });
      const off = await make(din, { threads });
      await off.score(request, { contextKey: 'user-1' });
      expect(off.hasContextKey('user-1')).toBe(false);
    });

  it('a bad request is refused naming the field, before any thread sees it; the requests beside it are answered', async () => {
    const s = await make(din, { threads: 2 });
    const good = requestOf(din, 30, 3);
    const bad = { context: good.context, candidates: [{ ...good.candidates[0], tgt_item_id: 1e9 }] };
    const results = await Promise.allSettled([s.score(good), s.score(bad), s.score(good)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).toMatch(/^request\.candidates\[0\]\.tgt_item_id: expected an id in \[0, \d+\), received 1000000000$/);
  });

  it('a worker that throws refuses its request with the error, and scores the next', async () => {
    const s = await make(din, { threads: 2 });
    const request = requestOf(din, 10, 5);
    await s.injectFault(0, 'throw');
    await expect(s.score(request, { contextKey: 'k' })).rejects.toThrow('injected fault');
    expect((await s.score(request, { contextKey: 'k' })).scores).toEqual(din.score(request, 'rank-aware', 'wasm').scores);
    expect(s.stats.workersReplaced).toBe(0);
  });

  it('a worker that exits is replaced: its calls are refused with the reason, later requests are scored', async () => {
    const s = await make(din, { threads: 2 });
    await expect(s.injectFault(0, 'exit')).rejects.toThrow(/imported graph worker: expected a live worker thread, received a worker that is gone \(the worker thread exited with code 3\)/);
    const request = requestOf(din, 10, 6);
    expect((await s.score(request, { contextKey: 'k' })).scores).toEqual(din.score(request, 'rank-aware', 'wasm').scores);
    expect(s.stats.workersReplaced).toBe(1);
  });

  it('a worker that hangs is terminated after timeoutMs and replaced', async () => {
    const s = await make(din, { threads: 2, timeoutMs: 500 });
    const request = requestOf(din, 10, 8);
    await s.injectFault(0, 'hang');
    await expect(s.score(request, { contextKey: 'k' })).rejects.toThrow(/no answer within 500 ms \(timeoutMs\)/);
    expect((await s.score(request, { contextKey: 'k' })).scores).toEqual(din.score(request, 'rank-aware', 'wasm').scores);
    expect(s.stats.workersReplaced).toBe(1);
  });

  it('an aborted request is refused with the signal\'s reason; a disposed scorer refuses every request', async () => {
    const s = await make(din, { threads: 2 });
    const request = requestOf(din, 10, 9);
    const controller = new AbortController();
    controller.abort(new Error('the client went away'));
    await expect(s.score(request, { signal: controller.signal })).rejects.toThrow('the client went away');
    s.dispose();
    await expect(s.score(request)).rejects.toThrow('scorer: expected a scorer that is not disposed, received a disposed scorer');
  });

  it('options are checked, naming the option', async () => {
    await expect(createImportedScorer(din, { threads: 0 })).rejects.toThrow('options.threads: expected an integer >= 1, received 0');
    await expect(createImportedScorer(din, { engine: 'webgpu' as 'wasm' })).rejects.toThrow('options.engine: expected "wasm" or "js", received "webgpu"');
    await expect(createImportedScorer(din, { splitRows: 1.5 })).rejects.toThrow('options.splitRows: expected an integer >= 1, received 1.5');
  });

  it('createScorer of the Node entry takes an imported graph', async () => {
    const s = await createScorer(din, { threads: 1, engine: 'js' });
    scorers.push(s);
    const request = requestOf(din, 4, 10);
    expect((await s.score(request)).scores).toEqual(din.score(request, 'rank-aware', 'js').scores);
  });
});
