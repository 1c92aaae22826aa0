/**
 * One cold start, in a fresh process (./child.ts): from nothing loaded to the first scores. Phases:
 * import (the runtime's modules: ours, or the onnxruntime package), load (read the model files, compile
 * the backend module and the plan, or create the session) and the first score of an N-candidate request.
 * What the runtime under test does not do itself (parsing request.json; for the peers, turning it into
 * input tensors) happens before the clock starts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ColdBackend } from './config.js';

export interface ColdProbe {
  readonly backend: ColdBackend;
  /** A model directory (model.json, weights.safetensors, request.json) and its exported vanilla graph. */
  readonly dir: string;
  readonly onnx: string;
}

export interface ColdTimes {
  readonly import_ms: number;
  readonly load_ms: number;
  readonly first_score_ms: number;
  readonly total_ms: number;
  /** Scores of the first request (checked finite and counted by the parent). */
  readonly candidates: number;
}

export async function probeCold(p: ColdProbe): Promise<ColdTimes> {
  const request = JSON.parse(await readFile(join(p.dir, 'request.json'), 'utf8')) as { candidates: unknown[] };
  if (p.backend === 'js' || p.backend === 'wasm') {
    const t0 = performance.now();
    const lib = await import('../node.js');
    const t1 = performance.now();
    const backend = await lib.loadBackend(p.backend);
    const model = await lib.loadModelDir(p.dir);
    lib.compilePlan(lib.getPlan(model, 'rank-aware'), backend.name);
    const t2 = performance.now();
    const { scores } = lib.score(model, request, { backend: backend.name, plan: 'rank-aware' });
    const t3 = performance.now();
    return times(t0, t1, t2, t3, scores.length);
  }
  const { parseModelSpec } = await import('../model/parse-spec.js');
  const { onnxFeeds } = await import('../onnx/writer/feeds.js');
  const feeds = onnxFeeds(parseModelSpec(JSON.parse(await readFile(join(p.dir, 'model.json'), 'utf8'))), request);
  const t0 = performance.now();
  const ort = (p.backend === 'ort-node' ? await import('onnxruntime-node') : await import('onnxruntime-web')) as typeof import('onnxruntime-node');
  const t1 = performance.now();
  const bytes = await readFile(p.onnx);
  const options = p.backend === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {};
  if (p.backend === 'ort-web') (ort as unknown as { env: { wasm: { numThreads: number } } }).env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), options);
  const t2 = performance.now();
  const tensors: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [key, f] of Object.entries(feeds)) tensors[key] = new ort.Tensor(f.type, f.data, f.dims);
  const out = await session.run(tensors);
  const t3 = performance.now();
  return times(t0, t1, t2, t3, Object.values(out)[0]!.size);
}

function times(t0: number, t1: number, t2: number, t3: number, candidates: number): ColdTimes {
  return { import_ms: t1 - t0, load_ms: t2 - t1, first_score_ms: t3 - t2, total_ms: t3 - t0, candidates };
}
