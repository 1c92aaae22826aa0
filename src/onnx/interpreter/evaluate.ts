/**
 * Plain evaluation of a graph (every node, in order, on whatever inputs it is fed): the vanilla forward of
 * an imported model, and the probe runs that measure how each value's shape and FLOPs grow with N.
 */
import { RankawareError } from '../../errors.js';
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import { KERNELS, nodeFlops, nodeWhere } from './ops.js';
import type { Value } from './tensor.js';

export interface Evaluation {
  readonly values: ReadonlyMap<string, Value>;
  /** FLOPs of each node, by node index. */
  readonly flops: readonly number[];
}

/** Run one node on values from `lookup`; a missing input is a graph error naming the node. */
export function runNode(node: GraphNode, lookup: (name: string) => Value | undefined): Value[] {
  const inputs = node.inputs.map((name) => {
    if (name === '') return undefined;
    const v = lookup(name);
    if (!v) throw new RankawareError(nodeWhere(node), `input "${name}" to be defined before the node`, 'an undefined value', 'format');
    return v;
  });
  const outputs = KERNELS[node.op]!(inputs, node);
  return outputs;
}

/** Evaluate every node of the graph in order. */
export function evaluateGraph(graph: OnnxGraph, feeds: ReadonlyMap<string, Value>): Evaluation {
  const values = new Map<string, Value>(graph.constants);
  for (const [k, v] of feeds) values.set(k, v);
  const flops = graph.nodes.map((node) => {
    const inputs = node.inputs.map((n) => (n === '' ? undefined : values.get(n)));
    const outputs = runNode(node, (n) => values.get(n));
    node.outputs.forEach((name, i) => {
      if (outputs[i]) values.set(name, outputs[i]!);
    });
    return nodeFlops(node, inputs, outputs);
  });
  return { values, flops };
}
