/**
 * Pieces shared by the sequence architectures (din, bst): their one history field and the width of the
 * MLP that reads the fields beside what the history gives.
 */
import { RankawareError } from '../errors.js';
import { denseFields, sequenceFields, sequenceTable, sparseFields } from '../model/fields.js';
import type { ModelSpec, SequenceField, SparseField } from '../model/spec.js';

export interface History {
  readonly field: SequenceField;
  /** The target field whose table the history shares: the candidate item, the query of the attention. */
  readonly target: SparseField;
  readonly dim: number;
}

/** The model's one sequence field and its table's target field. */
export function historyOf(spec: ModelSpec): History {
  const seqs = sequenceFields(spec);
  if (seqs.length !== 1)
    throw new RankawareError('model.json fields', `one field of type "sequence" (the user history ${spec.architecture} attends over)`, `${seqs.length}`);
  const target = sequenceTable(spec, seqs[0]!);
  return { field: seqs[0]!, target, dim: target.dim };
}

/** The MLP's input: every sparse and dense field in declared order, then the history's vector of `dim`. */
export function headInputWidth(spec: ModelSpec): number {
  return sparseFields(spec).reduce((a, f) => a + f.dim, 0) + denseFields(spec).reduce((a, f) => a + f.dim, 0) + historyOf(spec).dim;
}
