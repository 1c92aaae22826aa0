/** The model.json options of deepfm (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface DeepFmOptions {
  /** Hidden sizes of the DNN on flatten(embeddings) (+ dense fields); `output.weight` maps its last layer to 1. */
  readonly dnn: readonly number[];
}
