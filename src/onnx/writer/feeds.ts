/**
 * ONNX feeds for the graph of ./export.ts, built from request JSON: one tensor per field, named after it.
 * Plain typed arrays (no onnxruntime import), so that Node, browsers and the benchmark wrap them in their
 * own runtime's tensor type. Ids pass through unmapped: the graph itself sends OOV-bucket ids to the bucket row.
 */
import { RankawareError } from '../../errors.js';
import type { FieldValue } from '../../model/request.js';
import { encodeRequest } from '../../model/request.js';
import { flatFields, sequenceFields } from '../../model/fields.js';
import { historyInputs, maskInput } from '../../model/sequence.js';
import type { FlatField, ModelSpec } from '../../model/spec.js';

export type OnnxFeed =
  | { readonly type: 'int64'; readonly data: BigInt64Array; readonly dims: readonly number[] }
  | { readonly type: 'float32'; readonly data: Float32Array; readonly dims: readonly number[] };

type Row = Readonly<Record<string, FieldValue>>;

/** The values of one field for every row, as the flat list its input tensor holds, and the list length. */
function flatten(f: FlatField, rows: readonly Row[], at: (row: number) => string): { values: number[]; width: number } {
  const values: number[] = [];
  let width = -1;
  rows.forEach((row, r) => {
    const v = row[f.name]!;
    const list = typeof v === 'number' ? [v] : v;
    if (width < 0) width = list.length;
    else if (list.length !== width)
      throw new RankawareError(
        `${at(r)}.${f.name}`,
        `a list of ${width} ids, like the first candidate's (ONNX inputs are rectangular: every candidate of a pooled field lists the same number of ids)`,
        `a list of ${list.length}`,
      );
    values.push(...list);
  });
  return { values, width };
}

/**
 * Feeds for every field of the model, from a request in the runtime's JSON format. The request is checked
 * like the runtime checks it, so a bad one is refused with the same error naming the field.
 */
export function onnxFeeds(spec: ModelSpec, request: unknown): Record<string, OnnxFeed> {
  encodeRequest(spec, request);
  const { context, candidates } = request as { context: Row; candidates: readonly Row[] };
  const feeds: Record<string, OnnxFeed> = {};
  // Histories at their own length (padded only when empty): the graph's mask input marks the items.
  const masks = new Set(sequenceFields(spec).map(maskInput));
  for (const [name, values] of Object.entries(historyInputs(spec, context, false)))
    feeds[name] = masks.has(name)
      ? { type: 'float32', data: Float32Array.from(values), dims: [1, values.length] }
      : { type: 'int64', data: BigInt64Array.from(values, BigInt), dims: [1, values.length] };
  for (const f of flatFields(spec)) {
    const rows = f.side === 'context' ? [context] : candidates;
    const where = f.side === 'context' ? () => 'request.context' : (r: number) => `request.candidates[${r}]`;
    const { values, width } = flatten(f, rows, where);
    if (f.type === 'dense') {
      feeds[f.name] = { type: 'float32', data: Float32Array.from(values), dims: [rows.length, f.dim] };
    } else {
      const dims = f.pooling === 'none' ? [rows.length] : [rows.length, width];
      feeds[f.name] = { type: 'int64', data: BigInt64Array.from(values, BigInt), dims };
    }
  }
  return feeds;
}
