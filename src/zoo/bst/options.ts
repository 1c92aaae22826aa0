/** The model.json options of bst (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface BstOptions {
  /** Attention heads of both blocks; the embedding dim is split between them (dim % heads = 0). */
  readonly heads: number;
  /** Hidden width of each block's feed-forward layer. */
  readonly ffn: number;
  /** Hidden sizes of the MLP on the fields and the target block's output. */
  readonly mlp: readonly number[];
}
