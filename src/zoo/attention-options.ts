/** The options every attention architecture shares (a leaf: src/model/spec.ts reads it). */
export interface AttentionOptions {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  /** Divide scores by sqrt(headDim). */
  readonly scaling: boolean;
  /** Add the residual projection x W_res before the ReLU. */
  readonly residual: boolean;
  /** Layout of the Q/K/V/residual matrices: 'in_out' (DeepCTR, x @ W) or 'out_in' (nn.Linear). */
  readonly projectionLayout: 'in_out' | 'out_in';
}
