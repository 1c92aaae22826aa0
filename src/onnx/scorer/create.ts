/**
 * createScorer for any model: a native one (the worker pool of src/scheduler) or an imported graph
 * (./scorer.ts), which also scores din and bst models (compiled from their export). The Node entry and `rankaware/onnx` export this one; the page entry's createScorer takes
 * native models only, so that a page that does not import graphs does not ship the compiler.
 */
import type { Model } from '../../model/model.js';
import { createScorer as createNativeScorer } from '../../scheduler/scorer.js';
import type { Scorer } from '../../scheduler/scorer.js';
import type { ScorerOptions } from '../../scheduler/types.js';
import { ImportedModel } from '../model.js';
import { createImportedScorer } from './scorer.js';
import { compileModel } from '../native-graph.js';
import { hasNativePlan } from '../../zoo/registry.js';
import type { ImportedScorer, ImportedScorerOptions } from './scorer.js';

/** A native model of an architecture without a native plan (din, bst) is scored as its compiled graph. */
export function createScorer(model: Model, options?: ScorerOptions): Promise<Scorer>;
export function createScorer(model: ImportedModel, options?: ImportedScorerOptions): Promise<ImportedScorer>;
export function createScorer(model: Model | ImportedModel, options: ScorerOptions | ImportedScorerOptions = {}): Promise<Scorer | ImportedScorer> {
  if (model instanceof ImportedModel) return createImportedScorer(model, options as ImportedScorerOptions);
  if (!hasNativePlan(model.spec)) return createImportedScorer(compileModel(model), options as ImportedScorerOptions) as unknown as Promise<Scorer>;
  return createNativeScorer(model, options as ScorerOptions);
}
