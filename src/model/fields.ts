/**
 * The fields of a spec by kind, and the rows of a field's table: read by the planners, the weight
 * declarations and the loaders (apart from spec.ts, so that the zoo can use them without a cycle).
 */
import type { DenseField, ModelSpec, SparseField } from './spec.js';

export function sparseFields(spec: ModelSpec): SparseField[] {
  return spec.fields.filter((f): f is SparseField => f.type === 'sparse');
}
export function denseFields(spec: ModelSpec): DenseField[] {
  return spec.fields.filter((f): f is DenseField => f.type === 'dense');
}

/** Rows of a field's embedding table (vocab, plus one OOV row when declared). */
export function tableRows(f: SparseField): number {
  return f.oov === 'bucket' ? f.vocab + 1 : f.vocab;
}
