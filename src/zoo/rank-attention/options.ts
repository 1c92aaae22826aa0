/** The model.json options of rank-attention (a leaf: src/model/spec.ts reads it to type ModelSpec). */
import type { AttentionOptions } from '../attention-options.js';

export interface RankAttentionOptions extends AttentionOptions {
  readonly mlp: readonly number[];
}
