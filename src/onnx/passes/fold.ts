/** What the rank-aware graph passes (./concat-pieces.ts, ./outer-blocks.ts, ./pair-runs.ts, ./linear-terms.ts) share, report and return. */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis, ShapeTemplate } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';

export type GraphPass = 'concat-pieces' | 'outer-blocks' | 'pair-runs' | 'linear-terms';

export interface GraphFold {
  readonly pass: GraphPass;
  /** The node replaced (in the graph the pass was given). */
  readonly node: GraphNode;
  /** The nodes that compute its output now. */
  readonly terms: readonly GraphNode[];
  readonly what: string;
}

/** Whether two values have the same shape template (at both probes, list axes included). */
export const sameTemplate = (a: ShapeTemplate | undefined, b: ShapeTemplate | undefined): boolean =>
  !!a && !!b && a.at2.join() === b.at2.join() && a.at3.join() === b.at3.join() && a.withL.join() === b.withL.join();

export interface PassResult {
  readonly graph: OnnxGraph;
  readonly folds: readonly GraphFold[];
}

/**
 * What every pass works with: the graph's producers, the rank analysis' templates and classes, the
 * constants (a pass may add some), the nodes it replaces and what it reports; `result` rebuilds the graph.
 */
export class PassScope {
  readonly producers = new Map<string, GraphNode>();
  readonly constants: Map<string, Value>;
  readonly replaced = new Map<GraphNode, GraphNode[]>();
  readonly folds: GraphFold[] = [];

  constructor(
    readonly graph: OnnxGraph,
    readonly rank: RankAnalysis,
  ) {
    for (const node of graph.nodes) for (const o of node.outputs) this.producers.set(o, node);
    this.constants = new Map(graph.constants);
  }

  template(name: string): ShapeTemplate | undefined {
    return this.rank.templates.get(name);
  }

  /** Computed once per request (or folded). */
  isOnce(name: string): boolean {
    const c = this.rank.classes.get(name);
    return c === 'once' || c === 'const';
  }

  /** A constant's value, when the rank analysis folded it. */
  constant(name: string): Value | undefined {
    return this.rank.classes.get(name) === 'const' ? this.rank.folded.get(name) : undefined;
  }

  result(): PassResult {
    if (this.replaced.size === 0) return { graph: this.graph, folds: this.folds };
    return { graph: { ...this.graph, nodes: this.graph.nodes.flatMap((n) => this.replaced.get(n) ?? [n]), constants: this.constants }, folds: this.folds };
  }
}
