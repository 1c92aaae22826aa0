/**
 * Node entry point: everything in the browser entry, plus reading and writing model directories, and a
 * loadModel that also takes file paths.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RankawareError } from './errors.js';
import { modelFromFiles, modelToFiles } from './model/model.js';
import type { Model } from './model/model.js';
import { loadModel as loadModelFrom } from './model/load.js';
import { isImportedDir } from './onnx/dir.js';
import type { LoadModelOptions, ModelSource } from './model/load.js';

export * from './index.js';
// ONNX import (Node entry only: the protobuf decoder stays out of the browser bundle).
export { importOnnx, ImportedModel } from './onnx/model.js';
export type { ImportOptions, ImportedScores } from './onnx/model.js';
export { importReport, formatReport } from './onnx/report.js';
export type { ImportReport, NodeReport } from './onnx/report.js';
export { importToDir, loadImportedDir, isImportedDir, isCompiledDir, loadCompiledDir } from './onnx/dir.js';
export { compileModel } from './onnx/native-graph.js';
export { requestFlops } from './onnx/request-flops.js';
// The rank-aware plan as ONNX, and the ort backend that runs it on onnxruntime-node (loaded when asked for).
export { exportRankAwareOnnx, RANK_AWARE_FORMAT } from './onnx/rank-aware-onnx.js';
export type { RankAwareOnnx, RankAwareManifest } from './onnx/rank-aware-onnx.js';
export { OrtScorer } from './onnx/ort/scorer.js';
export { createOrtScorer, loadOrt } from './onnx/ort/node.js';
export { createOrtWebScorer } from './onnx/ort/web.js';
export type { OrtWebScorerOptions } from './onnx/ort/web.js';
export type { OrtScorerOptions, OrtScoreOptions, OrtScorerInfo, OrtScores } from './onnx/ort/scorer.js';
export type { RequestFlops } from './onnx/request-flops.js';
export { historyInputs, lengthBucket, readHistory } from './model/sequence.js';
// createScorer that also takes an imported graph (it shadows the native-only one of the browser entry).
export { createScorer } from './onnx/ort/create.js';
export type { OrtBackendOptions } from './onnx/ort/create.js';
export { createImportedScorer, ImportedScorer } from './onnx/scorer/scorer.js';
export type { ImportedScorerOptions } from './onnx/scorer/scorer.js';

async function readOrExplain(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RankawareError(path, 'a readable file', code === 'ENOENT' ? 'no such file' : String(code ?? e), 'missing');
  }
}

/** Load DIR/model.json and DIR/weights.safetensors. */
export async function loadModelDir(dir: string): Promise<Model> {
  const json = (await readOrExplain(join(dir, 'model.json'))).toString('utf8');
  const file = join(dir, 'weights.safetensors');
  const bytes = await readOrExplain(file);
  return modelFromFiles(json, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/** Write DIR/model.json and DIR/weights.safetensors (creating DIR). */
export async function saveModelDir(model: Model, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { modelJson, weightsBytes } = modelToFiles(model);
  await writeFile(join(dir, 'model.json'), modelJson);
  await writeFile(join(dir, 'weights.safetensors'), weightsBytes);
}

/** A string that is a file path rather than a URL (no scheme, or a Windows drive letter). */
function isPath(source: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(source) || /^[a-z]:[\\/]/i.test(source);
}

/**
 * loadModel of the browser entry (URLs, bytes, Responses, Files), plus paths: a model directory, its
 * model.json, or a file: URL of either.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  const path = typeof source === 'string' && isPath(source) ? source : (source instanceof URL && source.protocol === 'file:') || (typeof source === 'string' && source.startsWith('file:')) ? fileURLToPath(source) : undefined;
  if (path === undefined) return loadModelFrom(source, options);
  const dir = path.endsWith('.json') ? dirname(path) : path;
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new RankawareError(path, 'a model directory (model.json and weights.safetensors) or its model.json', info ? 'a file' : 'no such file or directory', 'missing');
  if (await isImportedDir(dir))
    throw new RankawareError(dir, 'a rankaware model directory', 'a directory made by `rankaware import` (load it with loadImportedDir)', 'format');
  return loadModelDir(dir);
}
