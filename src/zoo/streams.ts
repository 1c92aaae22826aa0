/** A rule of the two-stream architectures (rdcn, rank-attention): a context stream and a target stream. */
import { RankawareError } from '../errors.js';
import { sparseFields } from '../model/fields.js';
import type { ModelSpec } from '../model/spec.js';

/** At least one sparse field on each side: each stream starts from its side's embeddings. */
export function requireBothStreams(spec: ModelSpec): void {
  if (!spec.fields.some((f) => f.side === 'context' && f.type === 'sparse'))
    throw new RankawareError('model.json fields', `at least one sparse context field (${spec.architecture} has a context stream)`, 'none');
  if (!sparseFields(spec).some((f) => f.side === 'target'))
    throw new RankawareError('model.json fields', `at least one sparse target field (${spec.architecture} has a target stream)`, 'none');
}
