/**
 * The Open Inference Protocol (KServe v2) routes of `rankaware serve`: an infer request of one tensor per
 * field scores exactly what /v1/score scores for the same request (native model with single ids, pooled
 * lists and dense vectors on both sides; a DIN with a history and a side feature); the response and the
 * metadata follow the protocol's schema; every malformed tensor gets a 400 naming it; an unknown model 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, randomRequest } from '../src/index.js';
import type { Model, RequestJson } from '../src/index.js';
import type { Field } from '../src/model/spec.js';
import { compileModel } from '../src/onnx/native-graph.js';
import { startServer } from '../src/server/serve.js';
import type { RunningServer } from '../src/server/serve.js';

async function call(server: RunningServer, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

/**
 * A request with the candidates' lists cut to one length per field: a tensor's rows have one length
 * (ragged lists are /v1/score's).
 */
function evenRequest(model: Model, n: number, seed: number): RequestJson {
  const request = randomRequest(model.spec, n, seed);
  const pooled = new Set(model.spec.fields.filter((f) => f.type === 'sparse' && f.pooling !== 'none').map((f) => f.name));
  const candidates = (request.candidates as Record<string, number | number[]>[]).map((c) => {
    const row: Record<string, number | number[]> = {};
    for (const [k, v] of Object.entries(c)) row[k] = Array.isArray(v) && pooled.has(k) ? [...v, ...v, ...v, 1].slice(0, 3) : v;
    return row;
  });
  return { context: request.context, candidates };
}

/** A request JSON as the protocol's tensors, as a KServe client would build them (flat, row-major). */
function toTensors(model: Model, request: RequestJson) {
  const inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] = [];
  const context = request.context as Record<string, number | number[]>;
  const candidates = request.candidates as Record<string, number | number[]>[];
  for (const f of model.spec.fields) {
    const datatype = f.type === 'dense' ? 'FP32' : 'INT64';
    const names = f.type === 'sequence' ? [f.name, ...f.features.map((x) => `${f.name}.${x.name}`)] : [f.name];
    for (const name of names) {
      if (f.side === 'context') {
        const v = context[name]!;
        inputs.push({ name, datatype, shape: Array.isArray(v) ? [1, v.length] : [1], data: Array.isArray(v) ? v : [v] });
      } else {
        const rows = candidates.map((c) => c[name]!);
        const width = Array.isArray(rows[0]) ? (rows[0] as number[]).length : 0;
        inputs.push({ name, datatype, shape: width ? [rows.length, width] : [rows.length], data: rows.flat() });
      }
    }
  }
  return { id: 'req-7', inputs, outputs: [{ name: 'scores' }] };
}

const fields: Field[] = [
  { name: 'user', type: 'sparse', side: 'context', vocab: 50, dim: 8, pooling: 'none', oov: 'error' },
  { name: 'item', type: 'sparse', side: 'target', vocab: 60, dim: 8, pooling: 'none', oov: 'error' },
  { name: 'recent', type: 'sparse', side: 'context', vocab: 60, dim: 8, pooling: 'mean', oov: 'error' },
  { name: 'tags', type: 'sparse', side: 'target', vocab: 20, dim: 8, pooling: 'sum', oov: 'error' },
  { name: 'page', type: 'dense', side: 'context', dim: 3 },
  { name: 'price', type: 'dense', side: 'target', dim: 2 },
];

describe('Open Inference Protocol (KServe v2) on a native model', () => {
  const model = randomModel({ arch: 'dcnv2', context: 0, target: 0, dim: 8, fields, seed: 31 });
  let server: RunningServer;
  const name = model.spec.name;

  beforeAll(async () => {
    server = await startServer({ model, modelVersion: 'v-test', port: 0, host: '127.0.0.1', idleGcMs: 0, threads: 1 });
  });
  afterAll(async () => server?.close());

  it('scores an infer request exactly as /v1/score scores the same request, and answers in the protocol schema', async () => {
    for (const n of [1, 7, 40]) {
      const request = evenRequest(model, n, n);
      const v1 = await call(server, '/v1/score', request);
      expect(v1.status).toBe(200);
      const v2 = await call(server, `/v2/models/${name}/infer`, toTensors(model, request));
      expect(v2.status, JSON.stringify(v2.json)).toBe(200);
      expect(v2.json).toMatchObject({ model_name: name, model_version: 'v-test', id: 'req-7', parameters: { backend: v1.json.backend, plan: 'rank-aware' } });
      expect(v2.json.outputs).toHaveLength(1);
      const [out] = v2.json.outputs;
      expect(out).toMatchObject({ name: 'scores', datatype: 'FP32', shape: [n] });
      expect(out.data).toEqual(v1.json.scores);
    }
  });

  it('takes data nested by the shape, and a version path', async () => {
    const request = evenRequest(model, 5, 3);
    const flat = toTensors(model, request);
    const nested = { inputs: flat.inputs.map((t) => (t.shape.length === 2 ? { ...t, data: Array.from({ length: t.shape[0]! }, (_, r) => t.data.slice(r * t.shape[1]!, (r + 1) * t.shape[1]!)) } : t)) };
    const a = await call(server, `/v2/models/${name}/infer`, flat);
    const b = await call(server, `/v2/models/${name}/versions/v-test/infer`, nested);
    expect(b.status).toBe(200);
    expect(b.json.outputs[0].data).toEqual(a.json.outputs[0].data);
    expect(b.json.id).toBeUndefined();
  });

  it('describes the model: one input per field with its datatype and shape, the scores output', async () => {
    const meta = await call(server, `/v2/models/${name}`);
    expect(meta.status).toBe(200);
    expect(meta.json).toEqual({
      name,
      versions: ['v-test'],
      platform: 'rankaware',
      inputs: [
        { name: 'user', datatype: 'INT64', shape: [1] },
        { name: 'item', datatype: 'INT64', shape: [-1] },
        { name: 'recent', datatype: 'INT64', shape: [1, -1] },
        { name: 'tags', datatype: 'INT64', shape: [-1, -1] },
        { name: 'page', datatype: 'FP32', shape: [1, 3] },
        { name: 'price', datatype: 'FP32', shape: [-1, 2] },
      ],
      outputs: [{ name: 'scores', datatype: 'FP32', shape: [-1] }],
    });
    expect(await call(server, '/v2/health/live')).toEqual({ status: 200, json: { live: true } });
    expect(await call(server, '/v2/health/ready')).toEqual({ status: 200, json: { ready: true } });
    expect(await call(server, `/v2/models/${name}/ready`)).toEqual({ status: 200, json: { ready: true } });
    expect((await call(server, '/v2')).json).toMatchObject({ name: 'rankaware', extensions: [] });
  });

  it('refuses each malformed tensor with a 400 naming it, and an unknown model with a 404; the next request is unharmed', async () => {
    const request = evenRequest(model, 4, 9);
    const good = toTensors(model, request);
    const edit = (name: string, change: Record<string, unknown>) => ({ inputs: good.inputs.map((t) => (t.name === name ? { ...t, ...change } : t)) });
    const cases: [unknown, string, RegExp][] = [
      [[1, 2], 'request', /an object \{"inputs"/],
      [{ inputs: [] }, 'request.inputs', /non-empty list/],
      [{ ...good, extra: 1 }, 'request.extra', /only the keys/],
      [{ ...good, outputs: [{ name: 'logits' }] }, 'request.outputs[0].name', /"scores"/],
      [{ inputs: [...good.inputs, { ...good.inputs[0]! }] }, 'request.inputs["user"]', /one tensor per field/],
      [{ inputs: [...good.inputs, { name: 'nope', shape: [1], datatype: 'INT64', data: [1] }] }, 'request.inputs[6].name', /one of the model's fields/],
      [edit('item', { datatype: 'FP32' }), 'request.inputs["item"].datatype', /integer type/],
      [edit('price', { datatype: 'BYTES' }), 'request.inputs["price"].datatype', /FP32/],
      [edit('user', { shape: [2], data: [1, 2] }), 'request.inputs["user"].shape', /the context is one row/],
      [edit('recent', { shape: [1] }), 'request.inputs["recent"].shape', /\[1, L\]/],
      [edit('price', { shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }), 'request.inputs["price"].shape', /4 rows, as "tags" has/],
      [edit('item', { data: [1, 2] }), 'request.inputs["item"].data', /4 values/],
      [edit('item', { data: 'x' }), 'request.inputs["item"].data', /an array/],
      [edit('item', { data: [1, 2, 3, 999] }), 'request.candidates[3].item', /./],
    ];
    for (const [body, where, expected] of cases) {
      const r = await call(server, `/v2/models/${name}/infer`, body);
      expect(r.status, JSON.stringify(body).slice(0, 200)).toBe(400);
      expect(r.json.where, r.json.error).toBe(where);
      expect(r.json.error).toMatch(expected);
    }
    const missing = await call(server, `/v2/models/other/infer`, good);
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ where: 'model name', received: '"other"' });
    const after = await call(server, `/v2/models/${name}/infer`, good);
    expect(after.status).toBe(200);
    expect(after.json.outputs[0].data).toEqual((await call(server, '/v1/score', request)).json.scores);
  });
});

describe('Open Inference Protocol on a din (a history and its side feature as [1, L] tensors)', () => {
  const model = randomModel({ arch: 'din', context: 2, target: 2, dim: 8, seed: 5, history: 12 });
  let server: RunningServer;

  beforeAll(async () => {
    // Served as `rankaware serve` serves a din directory: compiled from its export.
    server = await startServer({ model: compileModel(model), modelVersion: 'din-1', port: 0, host: '127.0.0.1', idleGcMs: 0, threads: 1 });
  });
  afterAll(async () => server?.close());

  it('scores as /v1/score does, the empty history too', async () => {
    for (const length of [7, 0]) {
      const request = randomRequest(model.spec, 9, length + 1, length);
      const v1 = await call(server, '/v1/score', request);
      expect(v1.status, JSON.stringify(v1.json)).toBe(200);
      const v2 = await call(server, `/v2/models/${model.spec.name}/infer`, toTensors(model, request));
      expect(v2.status, JSON.stringify(v2.json)).toBe(200);
      expect(v2.json.outputs[0].data).toEqual(v1.json.scores);
    }
  });
});
