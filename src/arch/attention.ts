/**
 * Pieces shared by the attention architectures (AutoInt, rank-attention).
 */
import type { AttentionOptions } from '../model/spec.js';
import type { Slice } from '../plan/ir.js';
import type { PlanBuilder } from '../plan/builder.js';

export interface Projections {
  readonly q: Slice;
  readonly k: Slice;
  readonly v: Slice;
  readonly r?: Slice;
}

/** Q, K, V (and residual) projections of `count` field vectors, one shared weight per projection. */
export function projections(b: PlanBuilder, x: Slice, count: number, prefix: string, o: AttentionOptions): Projections {
  const p = (n: string) => b.linear(x, `${prefix}.${n}`, undefined, 'none', `${prefix}.${n}`, count);
  return { q: p('query'), k: p('key'), v: p('value'), r: o.residual ? p('residual') : undefined };
}

export function attentionScale(o: AttentionOptions): number {
  return o.scaling ? 1 / Math.sqrt(o.headDim) : 1;
}

/** Output slots in order: 0, 1, ..., n-1. */
export function identitySlots(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}
