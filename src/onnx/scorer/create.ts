/**
 * createScorer for any model: a native one (the worker pool of src/scheduler) or an imported graph
 * (./scorer.ts). The Node entry and `rankaware/onnx` export this one; the page entry's createScorer takes
 * native models only, so that a page that does not import graphs does not ship the compiler.
 */
import type { Model } from '../../model/model.js';
import { createScorer as createNativeScorer } from '../../scheduler/scorer.js';
import type { Scorer } from '../../scheduler/scorer.js';
import type { ScorerOptions } from '../../scheduler/types.js';
import { ImportedModel } from '../model.js';
import { createImportedScorer } from './scorer.js';
import type { ImportedScorer, ImportedScorerOptions } from './scorer.js';

export function createScorer(model: Model, options?: ScorerOptions): Promise<Scorer>;
export function createScorer(model: ImportedModel, options?: ImportedScorerOptions): Promise<ImportedScorer>;
export function createScorer(model: Model | ImportedModel, options: ScorerOptions | ImportedScorerOptions = {}): Promise<Scorer | ImportedScorer> {
  return model instanceof ImportedModel ? createImportedScorer(model, options as ImportedScorerOptions) : createNativeScorer(model, options as ScorerOptions);
}
