/**
 * The Node entry's createScorer: `backend: 'ort'` gives the ort backend's scorer (onnxruntime-node,
 * loaded then), anything else the scorer of src/onnx/scorer/create.ts. Kept out of the page entries so
 * that a bundler never meets the import of onnxruntime-node.
 */
import type { Model } from '../../model/model.js';
import type { Scorer } from '../../scheduler/scorer.js';
import type { ScorerOptions } from '../../scheduler/types.js';
import { ImportedModel } from '../model.js';
import { compileModel } from '../native-graph.js';
import { createScorer as createCpuScorer } from '../scorer/create.js';
import type { ImportedScorer, ImportedScorerOptions } from '../scorer/scorer.js';
import { createOrtScorer } from './node.js';
import type { OrtScorer, OrtScorerOptions } from './scorer.js';

export type OrtBackendOptions = OrtScorerOptions & { readonly backend: 'ort' };

export function createScorer(model: Model | ImportedModel, options: OrtBackendOptions): Promise<OrtScorer>;
export function createScorer(model: Model, options?: ScorerOptions): Promise<Scorer>;
export function createScorer(model: ImportedModel, options?: ImportedScorerOptions): Promise<ImportedScorer>;
export function createScorer(model: Model | ImportedModel, options: ScorerOptions | ImportedScorerOptions | OrtBackendOptions = {}): Promise<Scorer | ImportedScorer | OrtScorer> {
  if ((options as { backend?: unknown }).backend === 'ort') {
    const { backend: _, ...ort } = options as OrtBackendOptions;
    return createOrtScorer(model instanceof ImportedModel ? model : compileModel(model), ort);
  }
  return model instanceof ImportedModel ? createCpuScorer(model, options as ImportedScorerOptions) : createCpuScorer(model, options as ScorerOptions);
}
