/**
 * A loaded model: its validated spec and its weights in canonical layout. Built from the two files of a
 * model directory (model.json, weights.safetensors) as bytes, so the same code runs in Node and browsers.
 */
import { RankawareError } from '../errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import type { Tensor } from './safetensors.js';
import { parseModelSpec } from './spec.js';
import type { ModelSpec } from './spec.js';
import { declareWeights, isStoredTransposed, loadWeights, storedShape, transpose } from './weights.js';
import type { Weights } from './weights.js';

export interface Model {
  readonly spec: ModelSpec;
  readonly weights: Weights;
}

/** Parse model.json text (or an already-parsed object) and weights.safetensors bytes. */
export function modelFromFiles(modelJson: string | unknown, weightsBytes: Uint8Array, weightsFile = 'weights.safetensors'): Model {
  let json = modelJson;
  if (typeof modelJson === 'string') {
    try {
      json = JSON.parse(modelJson);
    } catch (e) {
      throw new RankawareError('model.json', 'valid JSON', `a parse error (${(e as Error).message})`, 'format');
    }
  }
  const spec = parseModelSpec(json);
  return { spec, weights: loadWeights(spec, readSafetensors(weightsBytes, weightsFile), weightsFile) };
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
