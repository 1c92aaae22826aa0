/**
 * Node entry point: everything in the browser entry, plus reading and writing model directories.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError } from './errors.js';
import { modelFromFiles, modelToFiles } from './model/model.js';
import type { Model } from './model/model.js';

export * from './index.js';
// ONNX import (Node entry only: the protobuf decoder stays out of the browser bundle).
export { importOnnx, ImportedModel } from './import/model.js';
export type { ImportOptions, ImportedScores } from './import/model.js';
export { importReport, formatReport } from './import/report.js';
export type { ImportReport, NodeReport } from './import/report.js';
export { importToDir, loadImportedDir, isImportedDir } from './import/dir.js';

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
