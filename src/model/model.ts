/**
 * A loaded model: its validated spec and its weights in canonical layout. Built from the two files of a
 * model directory (model.json, weights.safetensors) as bytes, so the same code runs in Node and browsers.
 */
import { RankawareError, show } from '../errors.js';
import { isReadable, readAll } from './fetch.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import type { Tensor } from './safetensors.js';
import { parseModelSpec } from './parse-spec.js';
import type { Model } from './spec.js';
import { declareWeights, isStoredTransposed, loadWeights, storedShape, transpose } from './weights.js';

export type { Model } from './spec.js';

/** model.json as text, as its bytes, or already parsed. */
export type ModelJsonInput = string | ArrayBuffer | ArrayBufferView | { readonly [key: string]: unknown };
/** weights.safetensors as bytes. */
export type WeightsInput = ArrayBuffer | ArrayBufferView;

/**
 * Parse model.json (text, bytes or an already-parsed object) and weights.safetensors bytes. With a
 * Response or Blob for either (fetch(), a File from an <input>), the files are read first and a promise
 * is returned.
 */
export function modelFromFiles(modelJson: ModelJsonInput, weights: WeightsInput, weightsFile?: string): Model;
export function modelFromFiles(modelJson: ModelJsonInput | Response | Blob, weights: WeightsInput | Response | Blob, weightsFile?: string): Promise<Model>;
export function modelFromFiles(modelJson: ModelJsonInput | Response | Blob, weights: WeightsInput | Response | Blob, weightsFile = 'weights.safetensors'): Model | Promise<Model> {
  if (isReadable(modelJson) || isReadable(weights))
    return Promise.all([isReadable(modelJson) ? readAll(modelJson, 'model.json', 'json') : modelJson, isReadable(weights) ? readAll(weights, weightsFile, 'binary') : weights]).then(
      ([json, bytes]) => modelFromFiles(json, bytes, weightsFile),
    );
  const spec = parseModelSpec(parseModelJson(modelJson));
  return { spec, weights: loadWeights(spec, readSafetensors(asBytes(weights, weightsFile), weightsFile), weightsFile) };
}

/** model.json's value: parsed from text or UTF-8 bytes, or taken as given. */
function parseModelJson(modelJson: unknown): unknown {
  let text: string;
  if (typeof modelJson === 'string') text = modelJson;
  else if (modelJson instanceof ArrayBuffer || ArrayBuffer.isView(modelJson)) text = new TextDecoder().decode(asBytes(modelJson, 'model.json'));
  else if (modelJson !== null && typeof modelJson === 'object' && !Array.isArray(modelJson)) return modelJson;
  else throw new RankawareError('model.json', 'its text, its bytes or its parsed object', show(modelJson), 'format');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RankawareError('model.json', 'valid JSON', `a parse error (${(e as Error).message})`, 'format');
  }
}

function asBytes(data: unknown, file: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && data instanceof SharedArrayBuffer)) return new Uint8Array(data);
  throw new RankawareError(file, 'bytes (an ArrayBuffer, a Uint8Array, a Blob or a Response)', show(data), 'format');
}

/** The two files of a model directory: model.json text and weights.safetensors bytes (stored layout). */
export function modelToFiles(model: Model): { modelJson: string; weightsBytes: Uint8Array } {
  const stored = new Map<string, Tensor>();
  for (const decl of declareWeights(model.spec)) {
    const t = model.weights.get(decl.name)!;
    const shape = storedShape(model.spec, decl);
    stored.set(decl.name, isStoredTransposed(model.spec, decl) ? { shape, data: transpose(t) } : t);
  }
  return { modelJson: JSON.stringify(model.spec, null, 2) + '\n', weightsBytes: writeSafetensors(stored) };
}
