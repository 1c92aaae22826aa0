/**
 * What the interpreter's rewrites share: a traced input's parts (context or candidate columns), the
 * Rewrite record every rewrite returns, and the row layout of a field-major block. A module of its own so
 * that the linear rewrites (rewrites.ts) and the block rewrites (block-rewrites.ts) both build on it
 * without importing each other.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import type { Value } from './tensor.js';

/** A run of columns of a traced input, read from one graph value (flattened after its first axis). */
export interface Part {
  readonly name: string;
  readonly width: number;
  /** once: read from the context stage (a const part counts as once). */
  readonly once: boolean;
}

export type RewriteKind = 'split-linear' | 'pair-products' | 'row-projection' | 'fm-split' | 'attention-lse';

/**
 * A split linear layer as data, for the compiler (src/onnx/compiler) to lower onto its GEMM: the once
 * columns' rows of the weight and the per-candidate columns' rows, each [columns, outDim] (alpha folded),
 * and the bias.
 */
export interface SplitLinearWeights {
  readonly once: Float64Array;
  readonly cand: Float64Array;
  readonly bias?: Float64Array;
  readonly outDim: number;
  readonly outShape: (n: number) => number[];
}

export interface Rewrite {
  readonly kind: RewriteKind;
  /** split-linear only: its weights. */
  readonly linear?: SplitLinearWeights;
  /** The block rewrites (pair-products, fm-split, row-projection, attention-lse): which stacked rows are context. */
  readonly rows?: RowMap;
  /** row-projection: the constant [D, O] the rows are projected by. */
  readonly weight?: Value;
  /** fm-split: the node's output shape for n candidates. */
  readonly outShape?: (n: number) => number[];
  /** attention-lse: the heads and the Q/K/V projections ([D, heads * headDim] each). */
  readonly attention?: AttentionBlock;
  readonly node: GraphNode;
  readonly parts: readonly Part[];
  /** The once-stage value this rewrite stores (`<output>#once`). */
  readonly onceName: string;
  readonly flopsOnce: number;
  readonly flopsPerCandidate: number;
  readonly what: string;
  /** Context stage: read once parts (stored with 1 row) and write onceName. */
  once(read: (name: string) => Value): Value;
  /** Candidate stage: rows of every part, the stored once value, and N; returns the node's output. */
  cand(read: (name: string) => Value, stored: Value, n: number): Value;
}

export interface AttentionBlock {
  readonly heads: number;
  readonly headDim: number;
  /** The scores' divisor (1 without scaling). */
  readonly scale: number;
  /** The output's axes: [N, heads, F, headDim] (batch-first) or [heads, N, F, headDim]. */
  readonly layout: 'batch-first' | 'head-first';
  readonly q: Value;
  readonly k: Value;
  readonly v: Value;
}

export interface RowMap {
  readonly f: number;
  readonly d: number;
  readonly onceRows: number[];
  readonly candRows: number[];
}

/** Row-major [rows, width] view of the parts of one side, concatenated: [rows, sum of widths]. */
export function gatherParts(parts: readonly Part[], read: (name: string) => Value, rows: number): Float64Array {
  const width = parts.reduce((a, p) => a + p.width, 0);
  const out = new Float64Array(rows * width);
  let col = 0;
  for (const p of parts) {
    const v = read(p.name);
    const stride = v.shape[0] === 1 ? 0 : p.width; // a once part is one row shared by all
    for (let r = 0; r < rows; r++) out.set(v.data.subarray(r * stride, r * stride + p.width), r * width + col);
    col += p.width;
  }
  return out;
}
