/**
 * Pieces shared by the attention architectures (AutoInt, rank-attention): their common options and
 * planner helpers.
 */
import { bool, oneOf, positiveInt, SPEC_LIMITS } from '../model/parse.js';
import type { Json } from '../model/parse.js';
import type { Slice } from '../plan/ir.js';
import type { PlanBuilder } from '../plan/builder.js';
import type { AttentionOptions } from './attention-options.js';

export type { AttentionOptions } from './attention-options.js';


export const ATTENTION_KEYS = ['layers', 'heads', 'headDim', 'scaling', 'residual', 'projectionLayout'];

export function parseAttention(o: Json, at: string): AttentionOptions {
  return {
    layers: positiveInt(o.layers, `${at}.layers`, 1, SPEC_LIMITS.layers),
    heads: positiveInt(o.heads, `${at}.heads`, 1, SPEC_LIMITS.heads),
    headDim: positiveInt(o.headDim, `${at}.headDim`),
    scaling: bool(o.scaling, `${at}.scaling`, false),
    residual: bool(o.residual, `${at}.residual`, true),
    projectionLayout: oneOf(o.projectionLayout, ['in_out', 'out_in'] as const, `${at}.projectionLayout`, 'in_out'),
  };
}

/** The options `rankaware init` gives an attention model. */
export function attentionDefaults(dim: number): AttentionOptions {
  return { layers: 2, heads: 2, headDim: Math.max(1, Math.ceil(dim / 2)), scaling: true, residual: true, projectionLayout: 'in_out' };
}

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
