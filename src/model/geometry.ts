/**
 * Geometry of each architecture derived from its spec: the vectors that interact, the pair order,
 * the width of every layer input. Shared by the weight declarations, the planner and the ONNX
 * exporter so that all three agree on one vanilla layout.
 */
import type { DenseField, FlatField, ModelSpec, Side, SparseField, SpecOf } from './spec.js';
import { denseFields, flatFields, sparseFields } from './fields.js';

/** The embedding dim shared by all sparse fields (architectures that interact field vectors). */
export function embeddingDim(spec: ModelSpec): number {
  return sparseFields(spec)[0]!.dim;
}

/** The side of a value computed from several fields: context only if every input is context. */
export function sideOf(fields: readonly FlatField[]): Side {
  return fields.some((f) => f.side === 'target') ? 'target' : 'context';
}

// ----- DLRM ---------------------------------------------------------------------------------

/** One interacting vector of DLRM: the bottom-MLP output over the dense fields, or a sparse field. */
export type DlrmVector = { readonly kind: 'bottom'; readonly side: Side } | { readonly kind: 'field'; readonly field: SparseField; readonly side: Side };

export interface DlrmGeometry {
  readonly dim: number;
  readonly dense: readonly DenseField[];
  readonly denseWidth: number;
  /** [bottom output (when dense fields exist), sparse fields in declared order]. */
  readonly vectors: readonly DlrmVector[];
  /** Pairs (i, j) of vector indices in the model's pair order. */
  readonly pairs: readonly (readonly [number, number])[];
  /** Width of the top-MLP input: [bottom output | flatten(vectors)] then the pairs. */
  readonly topInputWidth: number;
  /** Column where the pairs start in the top-MLP input. */
  readonly pairsOffset: number;
}

export function dlrmGeometry(spec: SpecOf<'dlrm'>): DlrmGeometry {
  const dim = embeddingDim(spec);
  const dense = denseFields(spec);
  const vectors: DlrmVector[] = [];
  if (dense.length > 0) vectors.push({ kind: 'bottom', side: sideOf(dense) });
  for (const f of sparseFields(spec)) vectors.push({ kind: 'field', field: f, side: f.side });
  const pairs = pairOrder(vectors.length, spec.options.pairOrder);
  const lead = spec.options.topInput === 'embeddings+pairs' ? vectors.length * dim : dense.length > 0 ? dim : 0;
  return {
    dim,
    dense,
    denseWidth: dense.reduce((a, f) => a + f.dim, 0),
    vectors,
    pairs,
    topInputWidth: lead + pairs.length,
    pairsOffset: lead,
  };
}

/**
 * 'dlrm': facebookresearch/dlrm interact_features, li/lj = (i, j) for i in range(n) for j in range(i).
 * 'torchrec': torchrec InteractionArch, torch.triu_indices(n, n, offset=1): (i, j) for i < j row-major.
 */
export function pairOrder(n: number, order: 'dlrm' | 'torchrec'): [number, number][] {
  const pairs: [number, number][] = [];
  if (order === 'dlrm') {
    for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) pairs.push([i, j]);
  } else {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
  }
  return pairs;
}

// ----- concatenated inputs (DCNv2 x0, rDCN streams, DNN inputs) ---------------------------------

/** A vector made by concatenating fields: each field's column range in it. */
export interface Concat {
  readonly fields: readonly FlatField[];
  readonly offsets: readonly number[];
  readonly width: number;
}

export function concatOf(fields: readonly FlatField[]): Concat {
  const offsets: number[] = [];
  let width = 0;
  for (const f of fields) {
    offsets.push(width);
    width += f.dim;
  }
  return { fields, offsets, width };
}

/** DCNv2 x0 = every field (sparse vectors and dense values) in declared order. */
export function dcnInput(spec: ModelSpec): Concat {
  return concatOf(flatFields(spec));
}

/** rDCN c0 (context fields) and T0 (target fields), each in declared order. */
export function rdcnStreams(spec: ModelSpec): { readonly context: Concat; readonly target: Concat } {
  return {
    context: concatOf(flatFields(spec).filter((f) => f.side === 'context')),
    target: concatOf(flatFields(spec).filter((f) => f.side === 'target')),
  };
}

/** DeepCTR's combined_dnn_input: flatten(sparse embeddings in declared order), then the dense values. */
export function dnnInput(spec: ModelSpec): Concat {
  return concatOf([...sparseFields(spec), ...denseFields(spec)]);
}

// ----- attention ------------------------------------------------------------------------------

/** Width of each field vector entering attention layer l (D for l = 0, heads * headDim after). */
export function attentionWidth(spec: SpecOf<'autoint' | 'rank-attention'>, layer: number): number {
  return layer === 0 ? embeddingDim(spec) : spec.options.heads * spec.options.headDim;
}

/** Hidden sizes followed by the 1-unit output layer. */
export function withOutput(hidden: readonly number[]): number[] {
  return [...hidden, 1];
}
