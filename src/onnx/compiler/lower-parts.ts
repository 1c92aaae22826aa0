/**
 * What the lowerings share (lower.ts, lower-movement.ts, lower-linear.ts, the fusions): reading inputs, refusing what has
 * no lowering, and emitting a webgpu dispatch.
 */
import { RankawareError } from '../../errors.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import { fail } from '../interpreter/kernel-parts.js';
import { nodeWhere } from '../interpreter/ops.js';
import type { Value } from '../interpreter/tensor.js';
import { size } from '../interpreter/tensor.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import type { GpuEntry, GpuParam } from './gpu.js';

export type Inputs = readonly (CValue | undefined)[];

export const known = (v: CValue | undefined): Value | undefined => (v && v.kind === 'known' ? v.value : undefined);

/** A known one-element value's number (a scale, an epsilon, an exponent), else undefined. */
export const scalar = (v: CValue | undefined): number | undefined => (v?.kind === 'known' && size(v.value.shape) === 1 ? v.value.data[0] : undefined);

/** A dispatch of the webgpu engine; its parameters are made once the slots have offsets. */
export function gpuEmit(b: ProgramBuilder, reads: readonly RTensor[], writes: readonly RTensor[], entry: GpuEntry, params: () => GpuParam[], threads: number, elidable = false): void {
  b.emit(reads, writes, () => b.store.gpu!.step(entry, params(), threads), true, elidable);
}
export const isInt = (t: RTensor) => (t.dtype === 'float' ? 0 : 1);

export function need(node: GraphNode, ins: Inputs, i: number): CValue {
  const v = ins[i];
  if (!v) fail(node, `input ${i}`, 'nothing');
  return v;
}

export function unsupported(node: GraphNode, what: string): never {
  throw new RankawareError(nodeWhere(node), `what the compiler lowers to float32 kernels (${what}); score with --plan interpret to run the graph on the float64 interpreter`, `this node`, 'unknown');
}
