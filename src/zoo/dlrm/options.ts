/** The model.json options of dlrm (a leaf: src/model/spec.ts reads it to type ModelSpec). */
export interface DlrmOptions {
  /** Hidden sizes of the bottom MLP over the dense fields; the last equals the embedding dim. */
  readonly bottomMlp: readonly number[];
  /** Hidden sizes of the top MLP; a 1-unit output layer follows. */
  readonly topMlp: readonly number[];
  /** 'dlrm': pairs (1,0),(2,0),(2,1),...; 'torchrec': (0,1),(0,2),...,(1,2),... */
  readonly pairOrder: 'dlrm' | 'torchrec';
  /** 'dense+pairs': top input is cat(bottom output, pairs); 'embeddings+pairs': cat(flatten(all vectors), pairs). */
  readonly topInput: 'dense+pairs' | 'embeddings+pairs';
}
