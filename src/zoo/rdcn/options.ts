/** The model.json options of rdcn (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface RdcnOptions {
  readonly layers: number;
  readonly mlp: readonly number[];
}
