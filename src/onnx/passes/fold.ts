/** What the rank-aware graph passes (./concat-pieces.ts, ./outer-blocks.ts, ./pair-runs.ts, ./linear-terms.ts) report and return. */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';

export type GraphPass = 'concat-pieces' | 'outer-blocks' | 'pair-runs' | 'linear-terms';

export interface GraphFold {
  readonly pass: GraphPass;
  /** The node replaced (in the graph the pass was given). */
  readonly node: GraphNode;
  /** The nodes that compute its output now. */
  readonly terms: readonly GraphNode[];
  readonly what: string;
}

export interface PassResult {
  readonly graph: OnnxGraph;
  readonly folds: readonly GraphFold[];
}
