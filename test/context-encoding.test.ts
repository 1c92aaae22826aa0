/**
 * One encoding of a request's context per server request: the context cache derives its key from the
 * encoded context, and on a miss the scorer's context stage runs on that same encoding (encodeContext is
 * counted through a module mock). And the scorer's `encodedContext` option: the same scores, and refused
 * when encodeContext did not make it for the scorer's model.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScorer, encodeContext, modelToFiles, randomModel, randomRequest, score } from '../src/index.js';
import type { Inputs, Model } from '../src/index.js';
import { ContextCache, modelDigest } from '../src/server/context-cache.js';
import { startServer } from '../src/server/serve.js';
import type { RunningServer } from '../src/server/serve.js';

const encodes = vi.hoisted(() => ({ count: 0 }));
vi.mock('../src/model/request.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/model/request.js')>();
  return {
    ...actual,
    encodeContext: (...args: Parameters<typeof actual.encodeContext>) => {
      encodes.count++;
      return actual.encodeContext(...args);
    },
  };
});

const model = randomModel({ arch: 'dlrm', context: 5, target: 3, dim: 7, mlp: [16, 8], seed: 3 });

function served(m: Model) {
  const files = modelToFiles(m);
  return { model: m, modelVersion: modelDigest(files.modelJson, files.weightsBytes) };
}

/** POST a request; the context encodings it cost and the reply. */
async function counted(server: RunningServer, request: unknown): Promise<{ encodings: number; status: number; json: any }> {
  const before = encodes.count;
  const res = await fetch(new URL('/v1/score', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) });
  return { encodings: encodes.count - before, status: res.status, json: await res.json() };
}

describe('a server request encodes its context once', () => {
  let on: RunningServer;
  let off: RunningServer;
  beforeAll(async () => {
    on = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 1 });
    off = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 1, contextCacheMb: 0 });
  });
  afterAll(async () => {
    await on?.close();
    await off?.close();
  });

  it('on a cache miss (key and context stage share it), on a hit, and with the cache off', async () => {
    const request = randomRequest(model.spec, 9, 21);
    const expected = score(model, request, { backend: 'wasm' }).scores;
    const miss = await counted(on, request);
    expect(miss.status).toBe(200);
    expect(miss.json.timing.contextCache).toBe('miss');
    expect(miss.encodings).toBe(1);
    const hit = await counted(on, request);
    expect(hit.json.timing.contextCache).toBe('hit');
    expect(hit.encodings).toBe(1);
    const plain = await counted(off, request);
    expect(plain.json.timing.contextCache).toBe('off');
    expect(plain.encodings).toBe(1);
    for (const r of [miss, hit, plain]) expect(r.json.scores).toEqual(expected);
  });

  it('a context that does not encode is refused with its own error, as before', async () => {
    const request = randomRequest(model.spec, 2, 22);
    const bad = await counted(on, { ...request, context: { ...request.context, c0: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^request\.context\.c0: expected an integer id/);
    expect(bad.encodings).toBe(1);
  });
});

describe("the scorer's encodedContext option", () => {
  it('gives the same scores without encoding again, and is refused unless encodeContext made it for this model', async () => {
    const scorer = await createScorer(model, { backend: 'wasm', threads: 1 });
    try {
      const request = randomRequest(model.spec, 5, 23);
      const plain = await scorer.score(request);
      const encodedContext = encodeContext(model.spec, request.context);
      const before = encodes.count;
      const pre = await scorer.score(request, { encodedContext });
      expect(encodes.count).toBe(before);
      expect(pre.scores).toEqual(plain.scores);
      const other = randomModel({ arch: 'dlrm', context: 5, target: 3, dim: 7, mlp: [16, 8], seed: 4 });
      const forged = { rows: 1, sparse: new Map(), dense: new Map() };
      for (const wrong of [encodeContext(other.spec, request.context), forged])
        await expect(scorer.score(request, { encodedContext: wrong })).rejects.toThrow(/^options\.encodedContext: expected encodeContext\(model\.spec, request\.context\) with this scorer's model, received inputs that encodeContext did not make for this model$/);
    } finally {
      scorer.dispose();
    }
  });
});

describe("the context cache's lookup", () => {
  it('gives the encoding on a miss only: a hit holds none while it waits, and Scorer.hasContextKey counts nothing', async () => {
    const scorer = await createScorer(model, { backend: 'wasm', threads: 1, maxContextBytes: 1 << 20 });
    try {
      const cache = new ContextCache(scorer, model, served(model).modelVersion, 1 << 20);
      const request = randomRequest(model.spec, 4, 24);
      const miss = cache.lookup(request.context)!;
      expect(miss.encodedContext).toBeDefined();
      expect(scorer.hasContextKey(miss.contextKey)).toBe(false);
      await scorer.score(request, { contextKey: miss.contextKey, encodedContext: miss.encodedContext as Inputs });
      const usage = scorer.contextUsage;
      const hit = cache.lookup(request.context)!;
      expect(hit).toEqual({ contextKey: miss.contextKey });
      expect(scorer.hasContextKey(hit.contextKey)).toBe(true);
      expect(scorer.contextUsage).toEqual(usage);
    } finally {
      scorer.dispose();
    }
  });
});
