/**
 * A LayerNorm written by hand (FuxiCTR, MaskNet: ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div,
 * then Mul by a scale and Add a bias) fused into the one LayerNormalization kernel: nine passes over the
 * rows become one. Each intermediate must be read only by the next node of the pattern (the centred value
 * by Pow and Div), so nothing else sees the values the fused kernel never writes.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { attr } from '../interpreter/kernel-parts.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import { layerNormOf } from './lower.js';
import { scalar } from './lower-parts.js';

export interface FusionView {
  /** The one node that reads `name` (in this stage), when it is the only reader. */
  readonly sole: (name: string) => GraphNode | undefined;
  readonly users: (name: string) => readonly GraphNode[];
  readonly read: (name: string, node: GraphNode) => CValue | undefined;
}

/** ReduceMean over the last axis with keepdims. */
function lastAxisMean(node: GraphNode, ins: readonly (CValue | undefined)[], rank: number): boolean {
  if (node.op !== 'ReduceMean' || attr(node, 'keepdims', 1) !== 1) return false;
  const axes = (node.attrs.get('axes') as number[] | undefined) ?? (ins[1]?.kind === 'known' ? [...ins[1].value.data] : undefined);
  return !!axes && axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1);
}

const other = (node: GraphNode, name: string) => (node.inputs[0] === name ? node.inputs[1]! : node.inputs[0]!);

export function decomposedLayerNorm(mean: GraphNode, ins: readonly (CValue | undefined)[], v: FusionView, b: ProgramBuilder): { absorbed: GraphNode[]; output: string; value: RTensor } | undefined {
  const x = ins[0];
  if (x?.kind !== 'tensor' || x.dtype !== 'float' || !lastAxisMean(mean, ins, x.shape.length)) return undefined;
  const xName = mean.inputs[0]!;
  const sub = v.sole(mean.outputs[0]!);
  if (!sub || sub.op !== 'Sub' || sub.inputs[0] !== xName || sub.inputs[1] !== mean.outputs[0]) return undefined;
  const centred = sub.outputs[0]!;
  const readers = v.users(centred);
  const pow = readers.find((n) => n.op === 'Pow');
  const div = readers.find((n) => n.op === 'Div');
  if (readers.length !== 2 || !pow || !div || pow.inputs[0] !== centred || div.inputs[0] !== centred || scalar(v.read(pow.inputs[1]!, pow)) !== 2) return undefined;
  const variance = v.sole(pow.outputs[0]!);
  if (!variance || !lastAxisMean(variance, variance.inputs.map((n) => (n ? v.read(n, variance) : undefined)), x.shape.length)) return undefined;
  const addEps = v.sole(variance.outputs[0]!);
  const eps = addEps?.op === 'Add' ? scalar(v.read(other(addEps, variance.outputs[0]!), addEps)) : undefined;
  if (!addEps || eps === undefined) return undefined;
  const sqrt = v.sole(addEps.outputs[0]!);
  if (!sqrt || sqrt.op !== 'Sqrt' || div.inputs[1] !== sqrt.outputs[0] || v.sole(sqrt.outputs[0]!) !== div) return undefined;
  const absorbed = [sub, pow, variance, addEps, sqrt, div];
  let output = div.outputs[0]!;
  // The affine part, when its parameters are constants.
  const param = (node: GraphNode | undefined, op: string): RTensor | undefined => {
    if (!node || node.op !== op) return undefined;
    const p = v.read(other(node, output), node);
    if (p?.kind !== 'known' || p.value.dtype !== 'float') return undefined;
    return b.operand(p, 'float');
  };
  const mulNode = v.sole(output);
  const scale = param(mulNode, 'Mul');
  if (scale) {
    absorbed.push(mulNode!);
    output = mulNode!.outputs[0]!;
  }
  const addNode = v.sole(output);
  const bias = param(addNode, 'Add');
  if (bias) {
    absorbed.push(addNode!);
    output = addNode!.outputs[0]!;
  }
  try {
    return { absorbed, output, value: layerNormOf(mean, b, x, x.shape.length - 1, eps, scale, bias) };
  } catch {
    // A scale that does not broadcast as LayerNorm's does: leave the nodes as they are.
    return undefined;
  }
}
