/** The model.json options of din (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface DinOptions {
  /** Hidden sizes of the activation unit (the MLP on [h, t, h - t, h * t] that weighs each history item). */
  readonly attention: readonly number[];
  /** The activation unit's activation after each hidden layer. */
  readonly attentionActivation: 'sigmoid' | 'relu';
  /** Hidden sizes of the MLP on the fields and the interest vector. */
  readonly mlp: readonly number[];
}
