/**
 * The backend-neutral plan: typed buffers and a small set of kernels, split into a context stage
 * (runs once per request, every buffer has 1 row) and a candidate stage (runs on any tile of the N
 * candidates; candidate buffers have one row per candidate and read the context buffers as a
 * broadcast row). Backends implement the kernels; architectures only emit plans (src/zoo/<arch>/plan.ts).
 *
 * Rank is a type: a buffer is 'ctx' ([1, width], computed once) or 'cand' ([rows, width]). Every
 * candidate-stage kernel is row-independent, so any split of N into tiles gives the same scores.
 */
import type { Tensor } from '../model/safetensors.js';

export type Rank = 'ctx' | 'cand';
export type Activation = 'none' | 'relu' | 'sigmoid';
/** What part of the model an op belongs to, for FLOP accounting (paper Table 3 columns). */
export type Component = 'embedding' | 'bottom' | 'interaction' | 'cross' | 'attention' | 'fc';

export interface BufferDecl {
  readonly id: number;
  readonly name: string;
  readonly rank: Rank;
  readonly width: number;
}

/** A column range of a buffer. */
export interface Slice {
  readonly buf: number;
  readonly col: number;
  readonly width: number;
}

/** Look up (and pool) one sparse field of the buffer's side into `out`. */
export interface GatherOp {
  readonly kind: 'gather';
  readonly field: number;
  readonly table: string;
  readonly pooling: 'none' | 'sum' | 'mean';
  readonly out: Slice;
}

/** Copy one dense field's values into `out`. */
export interface DenseOp {
  readonly kind: 'dense';
  readonly field: number;
  readonly out: Slice;
}

/** out = src, broadcasting a ctx row to every candidate row when src is ctx and out is cand. */
export interface CopyOp {
  readonly kind: 'copy';
  readonly src: Slice;
  readonly out: Slice;
}

/**
 * out = act(x W^T + bias + add), per group: the input slice is `groups` vectors of width
 * `weight.in`, each mapped to `weight.out` (one weight shared by all groups, as attention
 * projections apply per field). `add` (same width as out) is a ctx row broadcast to every
 * candidate (RankSplitDense's once-per-request term) or a per-row value of the same rank.
 */
export interface LinearOp {
  readonly kind: 'linear';
  readonly x: Slice;
  readonly groups: number;
  /** Weight name in plan.weights, canonical [out, in]. */
  readonly weight: string;
  readonly bias?: string;
  readonly add?: Slice;
  readonly act: Activation;
  readonly out: Slice;
}

/** out[p] = <a_i, b_j> for (i, j) = pairs[p]; vectors of `dim` start at a.col / b.col. */
export interface PairsOp {
  readonly kind: 'pairs';
  readonly a: Slice;
  readonly b: Slice;
  readonly dim: number;
  /** Flat [i0, j0, i1, j1, ...]. */
  readonly pairs: Int32Array;
  readonly out: Slice;
}

/**
 * Target-anchored pairs as one asymmetric matmul (paper 3.3): out[m * bCount + k] = <a_m, b_k>
 * for every vector a_m of `a` (per candidate) and b_k of `b` (usually the ctx vectors).
 */
export interface OuterOp {
  readonly kind: 'outer';
  readonly a: Slice;
  readonly b: Slice;
  readonly dim: number;
  readonly out: Slice;
}

/** DCN update: out = x0 * z + x, elementwise (x0 may be a ctx row). */
export interface CrossOp {
  readonly kind: 'cross';
  readonly x0: Slice;
  readonly z: Slice;
  readonly x: Slice;
  readonly out: Slice;
}

/**
 * FM second order over `count` vectors of `dim` (DeepFM): 0.5 * (|sum e|^2 - sum |e|^2).
 * With `context` (the ctx sum vector and the ctx second-order scalar from fmContext), the result
 * covers context and these vectors together: fm_c + fm_t + <sum_c, sum_t>.
 */
export interface FmOp {
  readonly kind: 'fm';
  readonly src: Slice;
  readonly count: number;
  readonly dim: number;
  readonly context?: { readonly sum: Slice; readonly fm: Slice };
  readonly out: Slice;
}

/** Context part of FmOp: outSum = sum of the ctx vectors, outFm = their second-order scalar. */
export interface FmContextOp {
  readonly kind: 'fmContext';
  readonly src: Slice;
  readonly count: number;
  readonly dim: number;
  readonly outSum: Slice;
  readonly outFm: Slice;
}

/** out = act(bias + sum of every column of every term); terms may be ctx rows. */
export interface SumOp {
  readonly kind: 'sum';
  readonly terms: readonly Slice[];
  readonly bias?: string;
  readonly act: Activation;
  readonly out: Slice;
}

/** A run of `count` attention vectors (each heads*headDim wide) in a buffer. */
export interface AttentionSegment {
  readonly slice: Slice;
  readonly count: number;
}

/**
 * Multi-head attention. Query vectors come from `queries` segments, keys/values from `keys`/`values`
 * segments (ctx or cand). Output vector q goes to slot outSlots[q] of `out` (slot width heads*headDim),
 * act(attention + residual[q]). With `block`, the scores of query segment 0 against key segment 0 are
 * not recomputed: the block holds their per-head row max, row sum of exp and exp-weighted value sum
 * (AttentionContextOp) and the other keys are merged in by log-sum-exp.
 */
export interface AttentionOp {
  readonly kind: 'attention';
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly queries: readonly AttentionSegment[];
  readonly keys: readonly AttentionSegment[];
  readonly values: readonly AttentionSegment[];
  readonly residual?: readonly Slice[];
  readonly block?: Slice;
  readonly act: Activation;
  readonly outSlots: Int32Array;
  readonly out: Slice;
}

/**
 * Once per request: for each head h and query i of `queries` against `keys`/`values` (all ctx),
 * out[(h * count + i) * (2 + headDim) ...] = [max_j s_ij, sum_j exp(s_ij - max), sum_j exp(s_ij - max) v_j].
 */
export interface AttentionContextOp {
  readonly kind: 'attentionContext';
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly queries: AttentionSegment;
  readonly keys: AttentionSegment;
  readonly values: AttentionSegment;
  readonly out: Slice;
}

export type Op = GatherOp | DenseOp | CopyOp | LinearOp | PairsOp | OuterOp | CrossOp | FmOp | FmContextOp | SumOp | AttentionOp | AttentionContextOp;
export type OpKind = Op['kind'];

export interface PlannedOp {
  readonly op: Op;
  readonly component: Component;
}

export type PlanMode = 'vanilla' | 'rank-aware';

export interface Plan {
  readonly mode: PlanMode;
  readonly buffers: readonly BufferDecl[];
  /** Weights the ops read: the model's own, plus slices and permutations made by the planner. */
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly contextOps: readonly PlannedOp[];
  readonly candidateOps: readonly PlannedOp[];
  /** The score column (cand, width 1). */
  readonly output: Slice;
}
