/**
 * loadModel and modelFromFiles: a model from a URL (a real HTTP server), from bytes, Blobs, Responses and
 * Files, and from paths in Node; and the one-line refusals of what a download gets wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RankawareError } from '../src/errors.js';
import { modelFromFiles, modelToFiles } from '../src/model/model.js';
import type { Model } from '../src/model/model.js';
import { loadModel as loadModelBrowser } from '../src/model/load.js';
import type { LoadProgress } from '../src/model/load.js';
import { randomModel, randomRequest } from '../src/model/random.js';
import { loadModel, saveModelDir } from '../src/node.js';
import { score } from '../src/engine.js';

const model = randomModel({ arch: 'dcnv2', context: 2, target: 3, dim: 6 });
const { modelJson, weightsBytes: stored } = modelToFiles(model);
const weightsBytes = new Uint8Array(stored) as Uint8Array<ArrayBuffer>;
const request = randomRequest(model.spec, 9, 3);
const expected = score(model, request, { backend: 'js' }).scores;

function expectSameModel(loaded: Model): void {
  const got = score(loaded, request, { backend: 'js' }).scores;
  expect(got).toEqual(expected);
}

/** The RankawareError a promise rejects with; it must be one line. */
async function refusedWith(p: Promise<unknown>): Promise<RankawareError> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(e instanceof RankawareError)) throw new Error(`expected a RankawareError, got ${String(e)}`);
  expect(e.message).not.toContain('\n');
  return e;
}

const TFJS = JSON.stringify({ format: 'layers-model', generatedBy: 'keras v2.15', modelTopology: {}, weightsManifest: [] });

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const send = (status: number, type: string, body: string | Uint8Array) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (url === '/good/model.json' || url === '/truncated/model.json' || url === '/html-weights/model.json') return send(200, 'application/json', modelJson);
    if (url === '/good/weights.safetensors') return send(200, 'application/octet-stream', weightsBytes);
    if (url === '/truncated/weights.safetensors') {
      // The server announces the whole file, sends half, and drops the connection.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': weightsBytes.byteLength });
      res.write(weightsBytes.subarray(0, weightsBytes.byteLength >> 1), () => res.destroy());
      return;
    }
    if (url === '/html/model.json' || url === '/html/weights.safetensors' || url === '/html-weights/weights.safetensors') return send(200, 'text/html; charset=utf-8', '<!doctype html><title>app</title>');
    if (url === '/tfjs/model.json') return send(200, 'application/json', TFJS);
    if (url === '/tfjs/weights.safetensors') return send(200, 'application/octet-stream', weightsBytes);
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('loadModel from a URL', () => {
  it('loads a directory URL, with or without the slash, or its model.json, reporting the weights download', async () => {
    const progress: LoadProgress[] = [];
    expectSameModel(await loadModel(`${base}/good/`, { onProgress: (p) => progress.push(p) }));
    const weights = progress.filter((p) => p.file === 'weights.safetensors');
    expect(weights.at(-1)).toEqual({ file: 'weights.safetensors', loaded: weightsBytes.byteLength, total: weightsBytes.byteLength });
    expectSameModel(await loadModel(`${base}/good`));
    expectSameModel(await loadModelBrowser(new URL(`${base}/good/model.json`)));
  });

  it('refuses a 404, naming model.json when both files are missing', async () => {
    const e = await refusedWith(loadModel(`${base}/nothing-here/`));
    expect(e.message).toMatch(/nothing-here\/model\.json: expected HTTP 200 \(the file\), received HTTP 404 Not Found/);
  });

  it('refuses a truncated download', async () => {
    const e = await refusedWith(loadModel(`${base}/truncated/`));
    expect(e.message).toContain(`truncated/weights.safetensors: expected ${weightsBytes.byteLength} bytes (its Content-Length), received `);
  });

  it('refuses an HTML page in place of model.json or of the weights', async () => {
    const e = await refusedWith(loadModel(`${base}/html/model.json`));
    expect(e.message).toMatch(/html\/model\.json: expected JSON \(application\/json\), received text\/html \(an HTML page/);
    const w = await refusedWith(loadModel(`${base}/html-weights/`));
    expect(w.message).toContain('html-weights/weights.safetensors: expected binary safetensors (application/octet-stream), received text/html');
  });

  it('refuses a model.json of another format, saying which', async () => {
    const e = await refusedWith(loadModel(`${base}/tfjs/`));
    expect(e.message).toBe('model.json format: expected "rankaware-model", received a TensorFlow.js model.json (format "layers-model"): convert the model with rankaware import (ONNX) first');
  });

  it('refuses an unreachable server and a URL that does not parse', async () => {
    const e = await refusedWith(loadModelBrowser('http://127.0.0.1:1/m/'));
    expect(e.message).toMatch(/^http:\/\/127\.0\.0\.1:1\/m\/(model\.json|weights\.safetensors): expected a reachable URL, received a failed request/);
    const bad = await refusedWith(loadModelBrowser('not a url'));
    expect(bad.message).toBe('loadModel URL: expected an absolute URL (or, in a page, one relative to it), received "not a url"');
  });
});

describe('loadModel and modelFromFiles from bytes, Blobs, Responses and Files', () => {
  const json = new TextEncoder().encode(modelJson);

  it('takes model.json as text, bytes (Uint8Array, ArrayBuffer) or an object, and weights as Uint8Array or ArrayBuffer', () => {
    expectSameModel(modelFromFiles(json, weightsBytes));
    expectSameModel(modelFromFiles(json.slice().buffer, weightsBytes.slice().buffer));
    expectSameModel(modelFromFiles(JSON.parse(modelJson) as Record<string, unknown>, weightsBytes));
    // A view into a larger buffer (as Node's Buffer pool gives).
    const padded = new Uint8Array(weightsBytes.byteLength + 16);
    padded.set(weightsBytes, 16);
    expectSameModel(modelFromFiles(modelJson, padded.subarray(16)));
  });

  it('takes Responses and Blobs (returning a promise)', async () => {
    expectSameModel(await modelFromFiles(new Response(modelJson, { headers: { 'content-type': 'application/json' } }), new Response(weightsBytes)));
    expectSameModel(await modelFromFiles(new Blob([modelJson]), new Blob([weightsBytes])));
    const e = await refusedWith(modelFromFiles(modelJson, new Response('gone', { status: 404 })));
    expect(e.message).toBe('weights.safetensors: expected HTTP 200 (the file), received HTTP 404');
  });

  it('loadModel takes {modelJson, weights} and the picked Files, in any order', async () => {
    expectSameModel(await loadModel({ modelJson, weights: weightsBytes }));
    expectSameModel(await loadModel([new File([weightsBytes], 'weights.safetensors'), new File([modelJson], 'model.json')]));
    const e = await refusedWith(loadModel([new File([modelJson], 'model.json')]));
    expect(e.message).toBe('files: expected model.json and weights.safetensors (the two files of a model directory), received "model.json"');
  });

  it('refuses what is not bytes, or not a model source, in one line', async () => {
    const e = await refusedWith(loadModel({ modelJson, weights: 'weights.safetensors' as unknown as Uint8Array }));
    expect(e.message).toBe('weights.safetensors: expected bytes (an ArrayBuffer, a Uint8Array, a Blob or a Response), received "weights.safetensors"');
    const n = await refusedWith(loadModel(42 as unknown as string));
    expect(n.message).toBe('loadModel source: expected a URL, {modelJson, weights}, or the files model.json and weights.safetensors, received number');
  });
});

describe('loadModel from a path (Node)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rankaware-load-'));
    await saveModelDir(model, join(dir, 'm'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('loads a directory, its model.json, or a file: URL', async () => {
    expectSameModel(await loadModel(join(dir, 'm')));
    expectSameModel(await loadModel(join(dir, 'm', 'model.json')));
    expectSameModel(await loadModel(pathToFileURL(join(dir, 'm'))));
  });

  it('refuses a missing directory', async () => {
    const e = await refusedWith(loadModel(join(dir, 'none')));
    expect(e.message).toBe(`${join(dir, 'none')}: expected a model directory (model.json and weights.safetensors) or its model.json, received no such file or directory`);
  });
});
