/** The model.json options of autoint (a leaf: src/model/spec.ts reads it to type ModelSpec). */
import type { AttentionOptions } from '../attention-options.js';

export interface AutoIntOptions extends AttentionOptions {
  /** Hidden sizes of the optional parallel DNN on flatten(embeddings) (+ dense fields). */
  readonly dnn: readonly number[];
}
