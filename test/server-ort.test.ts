/**
 * `rankaware serve --backend ort`: the rank-aware plan on onnxruntime-node behind the same HTTP layer.
 * Scores within 1e-5 of the js reference (native) or the compiled graph (din); a returning context hits
 * the server's context cache with identical scores, and the cache's byte bound evicts; /healthz, /metrics
 * and the v2 routes say ort; a bad request is a 400 naming the field; a full queue is a 503; --plan
 * vanilla is refused at startup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, randomRequest, score } from '../src/index.js';
import { compileModel } from '../src/onnx/native-graph.js';
import { createOrtScorer } from '../src/onnx/ort/node.js';
import { startServer } from '../src/server/serve.js';
import type { RunningServer } from '../src/server/serve.js';

async function call(server: RunningServer, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${server.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

const expectClose = (got: readonly number[], want: readonly number[], what: string) => {
  expect(got.length, what).toBe(want.length);
  got.forEach((x, i) => expect(Math.abs(x - want[i]!), `${what}, candidate ${i}`).toBeLessThanOrEqual(1e-5));
};

describe('serve --backend ort (a native dlrm)', () => {
  const model = randomModel({ arch: 'dlrm', context: 5, target: 2, dim: 8, seed: 21 });
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ model, modelVersion: 'ort-1', backend: 'ort', port: 0, host: '127.0.0.1', idleGcMs: 0, threads: 1, contextCacheMb: 1 });
  });
  afterAll(async () => server?.close());

  it('scores as the js reference, and a returning context hits the cache with the same scores', async () => {
    for (const n of [1, 9, 300]) {
      const request = randomRequest(model.spec, n, n);
      const first = await call(server, '/v1/score', request);
      expect(first.status, first.text).toBe(200);
      expect(first.json).toMatchObject({ backend: 'ort', plan: 'rank-aware', timing: { contextCache: 'miss', tiles: 1 } });
      expectClose(first.json.scores, score(model, request, { backend: 'js' }).scores, `N=${n}`);
      const again = await call(server, '/v1/score', request);
      expect(again.json.timing.contextCache).toBe('hit');
      expect(again.json.scores).toEqual(first.json.scores);
    }
    expect(server.cache.stats).toMatchObject({ hits: 3, misses: 3, handles: 3 });
    expect(server.cache.stats.bytes).toBeGreaterThan(0);
  });

  it('/healthz, /metrics and the v2 routes say ort; v2 infer scores the same', async () => {
    expect((await call(server, '/healthz')).json).toMatchObject({ status: 'ok', backend: 'ort', plan: 'rank-aware', threads: 1 });
    expect((await call(server, '/metrics')).text).toMatch(/rankaware_info\{[^}]*backend="ort"[^}]*mode="onnxruntime cpu"[^}]*\} 1/);
    const request = randomRequest(model.spec, 4, 77);
    const inputs = model.spec.fields.map((f) =>
      f.side === 'context'
        ? { name: f.name, datatype: 'INT64', shape: [1], data: [(request.context as Record<string, number>)[f.name]] }
        : { name: f.name, datatype: 'INT64', shape: [4], data: (request.candidates as Record<string, number>[]).map((c) => c[f.name]) },
    );
    const v2 = await call(server, `/v2/models/${model.spec.name}/infer`, { inputs });
    expect(v2.status, v2.text).toBe(200);
    expect(v2.json.parameters).toMatchObject({ backend: 'ort', plan: 'rank-aware' });
    expect(v2.json.outputs[0].data).toEqual((await call(server, '/v1/score', request)).json.scores);
  });

  it('a bad request is a 400 naming the field, and the next one is unharmed', async () => {
    const request = randomRequest(model.spec, 3, 5);
    const bad = await call(server, '/v1/score', { ...request, candidates: [{ ...(request.candidates as object[])[0], t0: 10 ** 7 }] });
    expect(bad.status).toBe(400);
    expect(bad.json.where).toBe('request.candidates[0].t0');
    expect((await call(server, '/v1/score', request)).status).toBe(200);
  });
});

describe('serve --backend ort: a din, the cache bound, a full queue, and refusals', () => {
  it('din (compiled): the same scores as the compiled graph; a 1-context cache evicts', async () => {
    const model = randomModel({ arch: 'din', context: 2, target: 2, dim: 8, seed: 6, history: 20 });
    const compiled = compileModel(model);
    // Room for about one context's handoff tensors.
    const server = await startServer({ model: compiled, modelVersion: 'din-ort', backend: 'ort', port: 0, host: '127.0.0.1', idleGcMs: 0, contextCacheMb: 0.004 });
    try {
      const requests = [3, 11].map((length) => compiled.randomRequest(16, length, length));
      for (const request of [...requests, ...requests]) {
        const r = await call(server, '/v1/score', request);
        expect(r.status, r.text).toBe(200);
        expectClose(r.json.scores, compiled.score(request, 'rank-aware', 'js').scores, 'din');
      }
      expect(server.cache.stats.evictions).toBeGreaterThan(0);
      expect(server.cache.stats.bytes).toBeLessThanOrEqual(0.004 * 1024 * 1024);
    } finally {
      await server.close();
    }
  });

  it('requests beyond --max-in-flight plus --max-queued get 503 + Retry-After; the others are scored', async () => {
    const model = randomModel({ arch: 'dcnv2', context: 4, target: 2, dim: 16, mlp: [1024, 1024], seed: 8 });
    const server = await startServer({ model, modelVersion: 'q', backend: 'ort', port: 0, host: '127.0.0.1', idleGcMs: 0, maxInFlight: 1, maxQueued: 0, contextCacheMb: 0 });
    try {
      const request = randomRequest(model.spec, 5000, 1);
      const replies = await Promise.all(Array.from({ length: 8 }, () => fetch(`${server.url}/v1/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) })));
      const statuses = replies.map((r) => r.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(503);
      expect(replies.find((r) => r.status === 503)!.headers.get('retry-after')).toBe('1');
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('--plan vanilla with --backend ort is refused at startup', async () => {
    const model = randomModel({ arch: 'dlrm', context: 2, target: 1, dim: 4, seed: 1 });
    await expect(startServer({ model, modelVersion: 'x', backend: 'ort', plan: 'vanilla', port: 0 })).rejects.toThrow(/--plan: expected "rank-aware" with --backend ort/);
  });
});

describe('the ort backend on worker threads (onnxruntime-node blocks the thread that runs it)', () => {
  const model = randomModel({ arch: 'dcnv2', context: 4, target: 2, dim: 16, mlp: [1024, 1024], seed: 8 });
  const compiled = compileModel(model);

  it('scores as on the calling thread, and leaves the event loop free during a run', async () => {
    const here = await createOrtScorer(compiled);
    const there = await createOrtScorer(compiled, { workers: 2 });
    try {
      expect(there.info).toMatchObject({ workers: 2 });
      expect(there.info.reason).toMatch(/on 2 worker threads/);
      const request = randomRequest(model.spec, 3000, 4);
      const want = (await here.score(request)).scores;
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const [a, b] = await Promise.all([there.score(request), there.score(request, { contextKey: 'u1' })]);
      clearInterval(timer);
      expect(a.scores).toEqual(want);
      expectClose(b.scores, want, 'two stages on a worker');
      // Tens of milliseconds of runs: the loop ran its timer meanwhile (on the calling thread it ticks once).
      expect(ticks).toBeGreaterThan(3);
    } finally {
      await here.dispose();
      await there.dispose();
    }
  });

  it('a worker that dies fails its request as unavailable, is replaced, and the next request is scored', async () => {
    const scorer = await createOrtScorer(compiled, { workers: 1 });
    try {
      const request = randomRequest(model.spec, 50, 2);
      const want = (await scorer.score(request)).scores;
      scorer.injectFault(0);
      await expect(scorer.score(request)).rejects.toThrow(/backend "ort".*(died|no live worker)/);
      for (let i = 0; i < 200 && scorer.liveWorkers === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(scorer.liveWorkers).toBe(1);
      expect((await scorer.score(request)).scores).toEqual(want);
    } finally {
      await scorer.dispose();
    }
  });

  it('the server answers /healthz while a long request runs', async () => {
    const server = await startServer({ model, modelVersion: 'h', backend: 'ort', port: 0, host: '127.0.0.1', idleGcMs: 0, contextCacheMb: 0 });
    try {
      const request = randomRequest(model.spec, 8000, 3);
      const order: string[] = [];
      const long = fetch(`${server.url}/v1/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) }).then((r) => {
        order.push('score');
        return r.status;
      });
      await new Promise((r) => setTimeout(r, 30));
      const health = fetch(`${server.url}/healthz`).then((r) => {
        order.push('healthz');
        return r.status;
      });
      expect(await Promise.all([long, health])).toEqual([200, 200]);
      expect(order).toEqual(['healthz', 'score']);
    } finally {
      await server.close();
    }
  });
});
