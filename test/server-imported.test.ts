/**
 * `rankaware serve` on an imported graph that is not one of the six (onnx-zoo two_tower): the compiled graph
 * behind the same HTTP layer as a native model. Scores equal the library's, a returning context hits the
 * context cache with the same scores, a bad request gets a 400 naming the field, /healthz and /metrics say
 * how it is served, and more than one thread is refused at startup.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importToDir } from '../src/onnx/dir.js';
import { randomImportedRequest } from '../src/onnx/request.js';
import { mulberry32 } from '../src/model/random.js';
import { loadServedModel, startServer } from '../src/server/serve.js';
import type { RunningServer } from '../src/server/serve.js';
import type { ImportedModel } from '../src/onnx/model.js';

const zoo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'onnx-zoo');

async function post(server: RunningServer, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`${server.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // /metrics is text
  }
  return { status: res.status, json, text };
}

describe('serving an imported graph (compiled)', () => {
  let dir: string;
  let server: RunningServer;
  let model: ImportedModel;

  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'rankaware-serve-imported-')), 'two_tower');
    await importToDir(join(zoo, 'two_tower', 'model.onnx'), 'ctx_', dir);
    const served = await loadServedModel(dir);
    model = served.model as ImportedModel;
    server = await startServer({ ...served, port: 0, host: '127.0.0.1', idleGcMs: 0 });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('scores as the library does, and a returning context hits the cache with the same scores', async () => {
    const request = randomImportedRequest(model.inputs, 37, mulberry32(3), 8);
    const want = model.score(request, 'rank-aware', 'wasm').scores;
    const first = await post(server, '/v1/score', request);
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ scores: want, backend: 'wasm', plan: 'rank-aware' });
    const again = await post(server, '/v1/score', { ...request, candidates: request.candidates.slice(0, 5) });
    expect(again.status).toBe(200);
    expect(again.json.scores).toEqual(want.slice(0, 5));
    expect((again.json.timing as { contextCache?: string }).contextCache).toBe('hit');
    expect(server.cache.stats.hits).toBeGreaterThanOrEqual(1);
  });

  it('a bad request gets a 400 naming the field, and the server goes on', async () => {
    const request = randomImportedRequest(model.inputs, 3, mulberry32(4), 8);
    const bad = { ...request, candidates: [{ ...request.candidates[0]!, tgt_item_id: 10 ** 9 }] };
    const reply = await post(server, '/v1/score', bad);
    expect(reply.status).toBe(400);
    expect(String((reply.json.error as { message?: string } | undefined)?.message ?? reply.text)).toMatch(/request\.candidates\[0\]\.tgt_item_id: expected an id in \[0, \d+\)/);
    expect((await post(server, '/v1/score', request)).status).toBe(200);
  });

  it('the Open Inference Protocol (/v2/models/NAME/infer): tensors named after the graph inputs, the same scores', async () => {
    const request = randomImportedRequest(model.inputs, 6, mulberry32(5), 4);
    const meta = await post(server, `/v2/models/${model.name}`);
    expect(meta.status).toBe(200);
    const metaInputs = meta.json.inputs as { name: string; shape: number[] }[];
    expect(metaInputs.map((i) => i.name).sort()).toEqual(model.inputs.map((i) => i.name).sort());
    const context = request.context as Record<string, unknown>;
    const inputs = model.inputs.map((input) => {
      const values = input.side === 'context' ? [context[input.name]] : (request.candidates as Record<string, unknown>[]).map((c) => c[input.name]);
      const width = Array.isArray(values[0]) ? (values[0] as unknown[]).length : 0;
      expect(metaInputs.find((i) => i.name === input.name)!.shape).toHaveLength(width ? 2 : 1);
      return { name: input.name, datatype: input.dtype === 'float' ? 'FP32' : 'INT64', shape: width ? [values.length, width] : [values.length], data: values.flat() };
    });
    const v2 = await post(server, `/v2/models/${model.name}/infer`, { inputs });
    expect(v2.status, v2.text).toBe(200);
    expect((v2.json.outputs as { data: number[] }[])[0]!.data).toEqual((await post(server, '/v1/score', request)).json.scores);
  });

  it('/healthz and /metrics say how it is served', async () => {
    const health = await post(server, '/healthz');
    expect(health.json).toMatchObject({ status: 'ok', backend: 'wasm', plan: 'rank-aware', threads: 1 });
    const metrics = await post(server, '/metrics');
    expect(metrics.text).toMatch(/rankaware_info\{[^}]*backend="wasm"[^}]*\} 1/);
  });

  it('--threads 2: a worker thread beside the calling thread, the same scores, the context cache on the workers', async () => {
    const served = await loadServedModel(dir);
    const two = await startServer({ ...served, port: 0, host: '127.0.0.1', idleGcMs: 0, threads: 2 });
    try {
      expect((await post(two, '/healthz')).json).toMatchObject({ status: 'ok', threads: 2 });
      const requests = Array.from({ length: 12 }, (_, i) => randomImportedRequest(model.inputs, 40, mulberry32(50 + i), 8));
      const replies = await Promise.all(requests.map((r) => post(two, '/v1/score', r)));
      replies.forEach((reply, i) => {
        expect(reply.status).toBe(200);
        expect(reply.json.scores).toEqual(model.score(requests[i], 'rank-aware', 'wasm').scores);
      });
      await post(two, '/v1/score', requests[0]);
      expect(two.cache.stats.hits).toBeGreaterThanOrEqual(1);
    } finally {
      await two.close();
    }
  });
});
