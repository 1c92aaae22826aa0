/**
 * A sequence field in a request (docs/sequences.md): the history's ids under the field's name, oldest
 * first, and each side feature's ids under `<name>.<feature>`, one per item. Checked here (ids in the
 * table, features as long as the history, at most maxLength items or the last maxLength kept), then laid
 * out as the graph's inputs: the ids left-padded to a length bucket with `<name>.mask` 1 on the items and 0
 * on the padding, which the graph multiplies or adds away, so that no padded item changes a score. The
 * buckets keep the number of compiled shapes small (each new length compiles a program).
 */
import { RankawareError, show } from '../errors.js';
import { sequenceFields, sequenceTable } from './fields.js';
import type { ModelSpec, SequenceField } from './spec.js';

/** The request keys of a sequence field: its ids, then each side feature's. */
export function historyKeys(f: SequenceField): string[] {
  return [f.name, ...f.features.map((x) => `${f.name}.${x.name}`)];
}

/** The graph input that marks real items (1) and padding (0). */
export function maskInput(f: SequenceField): string {
  return `${f.name}.mask`;
}

export interface History {
  /** Item ids, oldest first, after truncation. */
  readonly ids: number[];
  /** Each side feature's ids, aligned with `ids`. */
  readonly features: number[][];
}

function idList(v: unknown, rows: number, at: string, what: string): number[] {
  if (!Array.isArray(v)) throw new RankawareError(at, `a list of ${what} (oldest first; [] for none)`, show(v), v === undefined ? 'missing' : 'invalid');
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= rows) throw new RankawareError(`${at}[${i}]`, `an id in [0, ${rows})`, show(x));
  }
  return v as number[];
}

/** The field's history in a context object, checked; longer than maxLength: truncated or refused. */
export function readHistory(spec: ModelSpec, f: SequenceField, context: Readonly<Record<string, unknown>>, where: string): History {
  const rows = sequenceTable(spec, f).vocab;
  const at = `${where}.${f.name}`;
  let ids = idList(Object.hasOwn(context, f.name) ? context[f.name] : undefined, rows, at, `item ids in [0, ${rows}) (the table of "${f.table}")`);
  let features = f.features.map((x) => {
    const key = `${f.name}.${x.name}`;
    const list = idList(Object.hasOwn(context, key) ? context[key] : undefined, x.vocab, `${where}["${key}"]`, `ids in [0, ${x.vocab}), one per item of "${f.name}"`);
    if (list.length !== ids.length) throw new RankawareError(`${where}["${key}"]`, `a list of ${ids.length} ids (one per item of "${f.name}")`, `a list of ${list.length}`);
    return list;
  });
  if (ids.length > f.maxLength) {
    if (f.overflow === 'error')
      throw new RankawareError(at, `at most ${f.maxLength} items (the field's maxLength; its overflow is "error")`, `a list of ${ids.length}`);
    // Keep the most recent maxLength items: the list is oldest first.
    ids = ids.slice(ids.length - f.maxLength);
    features = features.map((l) => l.slice(l.length - f.maxLength));
  }
  return { ids, features };
}

/**
 * The padded length a history of `length` items runs at: 1 for an empty one (all padding), multiples of 8
 * up to 64, then of 32, never above maxLength (at most 7 padded items up to 64, at most 1/3 above).
 */
export function lengthBucket(length: number, maxLength: number): number {
  if (length === 0) return 1;
  const step = length <= 64 ? 8 : 32;
  return Math.min(Math.ceil(length / step) * step, Math.max(maxLength, length));
}

/**
 * The graph inputs of every sequence field of a context (already checked by encodeContext): ids, mask and
 * features, left-padded with id 0 and mask 0 to the length bucket (`pad` false: to one item only when empty).
 */
export function historyInputs(spec: ModelSpec, context: Readonly<Record<string, unknown>>, pad = true, where = 'request.context'): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const f of sequenceFields(spec)) {
    const h = readHistory(spec, f, context, where);
    const length = pad ? lengthBucket(h.ids.length, f.maxLength) : Math.max(h.ids.length, 1);
    const padding = new Array<number>(length - h.ids.length).fill(0);
    out[f.name] = [...padding, ...h.ids];
    out[maskInput(f)] = [...padding, ...h.ids.map(() => 1)];
    f.features.forEach((x, i) => (out[`${f.name}.${x.name}`] = [...padding, ...h.features[i]!]));
  }
  return out;
}
