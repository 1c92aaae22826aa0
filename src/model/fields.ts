/**
 * The fields of a spec by kind, and the rows of a field's table: read by the planners, the weight
 * declarations and the loaders (apart from spec.ts, so that the zoo can use them without a cycle).
 */
import { RankawareError } from '../errors.js';
import type { DenseField, FlatField, ModelSpec, SequenceField, SparseField } from './spec.js';

export function sparseFields(spec: ModelSpec): SparseField[] {
  return spec.fields.filter((f): f is SparseField => f.type === 'sparse');
}
export function denseFields(spec: ModelSpec): DenseField[] {
  return spec.fields.filter((f): f is DenseField => f.type === 'dense');
}

/** The fields that are one vector per row (all but sequences), in declared order: what the native plans read. */
export function flatFields(spec: ModelSpec): FlatField[] {
  return spec.fields.filter((f): f is FlatField => f.type !== 'sequence');
}

export function sequenceFields(spec: ModelSpec): SequenceField[] {
  return spec.fields.filter((f): f is SequenceField => f.type === 'sequence');
}

/** The sparse target field whose embedding table a sequence's items index (parse-spec checks it exists). */
export function sequenceTable(spec: ModelSpec, f: SequenceField): SparseField {
  const t = sparseFields(spec).find((s) => s.name === f.table);
  if (!t) throw new RankawareError(`model.json field "${f.name}".table`, 'the name of a sparse target field', JSON.stringify(f.table));
  return t;
}

/** Rows of a field's embedding table (vocab, plus one OOV row when declared). */
export function tableRows(f: SparseField): number {
  return f.oov === 'bucket' ? f.vocab + 1 : f.vocab;
}
