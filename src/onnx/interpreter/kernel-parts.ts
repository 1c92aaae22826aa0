/**
 * What the interpreter's kernels share: the Kernel type, errors that name the node, and the readers of
 * attributes, inputs and axes.
 */
import { RankawareError, show } from '../../errors.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import type { Value } from './tensor.js';

export type Kernel = (inputs: readonly (Value | undefined)[], node: GraphNode) => Value[];

/** Where a node is, for error messages. */
export function nodeWhere(node: GraphNode): string {
  return `node "${node.name}" (${node.op})`;
}

export function fail(node: GraphNode, expected: string, received: string): never {
  throw new RankawareError(nodeWhere(node), expected, received, 'invalid');
}

/** A numeric attribute (every attribute these kernels read by this helper is an int or a float). */
export function attr(node: GraphNode, name: string, fallback: number): number {
  const v = node.attrs.get(name);
  return typeof v === 'number' ? v : fallback;
}

export function need(node: GraphNode, inputs: readonly (Value | undefined)[], i: number): Value {
  const v = inputs[i];
  if (!v) fail(node, `input ${i}`, 'nothing');
  return v;
}

export function axisOf(node: GraphNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(node, `an axis in [${-rank}, ${rank})`, show(axis));
  return a;
}

/** Axes from input `i` (opset >= 13 style) or the `axes` attribute. */
export function axesOf(node: GraphNode, inputs: readonly (Value | undefined)[], i: number): number[] | undefined {
  const v = inputs[i];
  if (v) return [...v.data];
  const a = node.attrs.get('axes') as number[] | undefined;
  return a ? [...a] : undefined;
}

/**
 * The most elements a value may hold (2^27: 1 GiB of float64). A shape read from the data (Expand's
 * target, ConstantOfShape, Tile's repeats, Range's count) is checked against it, so that a corrupt or
 * hostile graph gets a one-line refusal, not an allocation failure.
 */
export const MAX_ELEMENTS = 2 ** 27;

/** A shape computed from data: non-negative integer dims, and at most MAX_ELEMENTS in all. */
export function checkShape(node: GraphNode, dims: readonly number[], what: string): number[] {
  if (!dims.every((d) => Number.isInteger(d) && d >= 0)) fail(node, `${what} of non-negative integers`, `[${dims.slice(0, 8).join(', ')}${dims.length > 8 ? ', ...' : ''}]`);
  const total = dims.reduce((a, d) => a * d, 1);
  if (total > MAX_ELEMENTS) fail(node, `${what} of at most ${MAX_ELEMENTS} elements`, `[${dims.slice(0, 8).join(', ')}] (${total} elements)`);
  return [...dims];
}
