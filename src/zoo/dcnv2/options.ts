/** The model.json options of dcnv2 (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface Dcnv2Options {
  readonly layers: number;
  /** 0: full W_l [d, d]; r > 0: low rank W_l = U_l V_l (U [d, r], V [r, d]). */
  readonly rank: number;
  /** 'stacked': MLP on x_L. 'parallel': a deep MLP on x_0 beside the cross stack, MLP on cat(x_L, deep). */
  readonly structure: 'stacked' | 'parallel';
  /** Hidden sizes of the parallel deep MLP (parallel only). */
  readonly deep: readonly number[];
  /** Hidden sizes of the top MLP; a 1-unit output layer follows. */
  readonly mlp: readonly number[];
}
