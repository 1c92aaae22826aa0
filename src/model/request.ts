/**
 * Request JSON -> encoded inputs. `{"context": {field: value}, "candidates": [{field: value}, ...]}`.
 * Every refusal names the field (with the candidate index), the expected and the received value.
 * Encoded inputs are flat typed arrays a backend reads directly: for each sparse field CSR-style
 * offsets into a list of table rows (OOV ids already mapped to the bucket row), for each dense field
 * rows x dim floats.
 */
import { historyKeys, readHistory } from './sequence.js';
import { RankawareError, show } from '../errors.js';
import type { DenseField, Field, ModelSpec, Side, SparseField } from './spec.js';

export type FieldValue = number | readonly number[];
export interface RequestJson {
  readonly context: Readonly<Record<string, FieldValue>>;
  readonly candidates: readonly Readonly<Record<string, FieldValue>>[];
}

/** Ids of one sparse field for `rows` rows: row r owns ids[offsets[r] .. offsets[r+1]). */
export interface SparseInput {
  readonly offsets: Int32Array;
  readonly ids: Int32Array;
}

/** Inputs of one side: 1 row for the context, N rows for the candidates. Keyed by field index. */
export interface Inputs {
  readonly rows: number;
  readonly sparse: ReadonlyMap<number, SparseInput>;
  readonly dense: ReadonlyMap<number, Float32Array>;
}

export interface EncodedRequest {
  readonly context: Inputs;
  readonly candidates: Inputs;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function idOf(f: SparseField, v: unknown, whereOf: () => string): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new RankawareError(whereOf(), `an integer id in [0, ${f.vocab})`, show(v));
  if (v >= 0 && v < f.vocab) return v;
  if (f.oov === 'bucket') return f.vocab;
  throw new RankawareError(whereOf(), `an id in [0, ${f.vocab}) (the field's vocab; declare "oov": "bucket" to map unknown ids)`, show(v));
}

/** What a field's value looks like, as the refusal of a missing value says it. */
function expectedValue(f: Field): string {
  if (f.type === 'dense') return `a list of ${f.dim} finite numbers`;
  if (f.type === 'sequence') return 'a list of item ids (oldest first; [] for none)';
  return f.pooling === 'none' ? `an id in [0, ${f.vocab})` : `a list of ids (field pooling is "${f.pooling}")`;
}

/** Each key a request may hold (field names, a sequence's side-feature keys) and its field, per spec. */
const declaredKeys = new WeakMap<ModelSpec, ReadonlyMap<string, Field>>();

function keysOf(spec: ModelSpec): ReadonlyMap<string, Field> {
  let keys = declaredKeys.get(spec);
  if (!keys) {
    const map = new Map<string, Field>();
    // The first field declaring a key wins, as a search in field order would find it.
    for (const f of spec.fields) for (const key of f.type === 'sequence' ? historyKeys(f) : [f.name]) if (!map.has(key)) map.set(key, f);
    declaredKeys.set(spec, (keys = map));
  }
  return keys;
}

/**
 * Encodes one side's rows. This runs for every field of every candidate, so the places named in errors
 * are built only when one is thrown (whereOf), and a one-id field's ids go straight into their array.
 */
class SideEncoder {
  private readonly fields: { field: Field; index: number }[];
  private readonly keys: ReadonlyMap<string, Field>;
  /** A one-id field's ids, one per row; a pooled field's ids in a growing list. */
  private readonly singleIds = new Map<number, Int32Array>();
  private readonly sparseIds = new Map<number, number[]>();
  private readonly sparseOffsets = new Map<number, number[]>();
  private readonly denseValues = new Map<number, Float32Array>();
  private row = 0;

  constructor(
    private readonly spec: ModelSpec,
    private readonly side: Side,
    private readonly rows: number,
  ) {
    this.keys = keysOf(spec);
    this.fields = spec.fields.map((field, index) => ({ field, index })).filter((e) => e.field.side === side);
    for (const { field, index } of this.fields) {
      if (field.type === 'sparse') {
        if (field.pooling === 'none') this.singleIds.set(index, new Int32Array(rows));
        else {
          this.sparseIds.set(index, []);
          this.sparseOffsets.set(index, [0]);
        }
      } else if (field.type === 'dense') {
        this.denseValues.set(index, new Float32Array(rows * field.dim));
      }
    }
  }

  add(values: unknown, whereOf: () => string): void {
    if (!isRecord(values)) throw new RankawareError(whereOf(), 'an object of field values', show(values));
    for (const key of Object.keys(values)) {
      // A sequence's side features come under `<sequence>.<feature>`.
      const declared = this.keys.get(key);
      if (declared?.side === this.side) continue;
      if (!declared)
        throw new RankawareError(`${whereOf()}.${key}`, `a field the model declares (${this.fields.map((e) => e.field.name).join(', ')})`, 'an unknown field', 'unknown');
      const home = declared.side === 'context' ? 'request.context' : 'each candidate';
      throw new RankawareError(`${whereOf()}.${key}`, `no ${declared.side} field here (it belongs in ${home})`, `${declared.side} field "${key}"`, 'unknown');
    }
    for (const { field, index } of this.fields) {
      const at = () => `${whereOf()}.${field.name}`;
      // Own keys only: a field named like an Object.prototype member ("constructor") is missing, not a function.
      const v = Object.hasOwn(values, field.name) ? values[field.name] : undefined;
      if (v === undefined) throw new RankawareError(at(), expectedValue(field), 'nothing (missing field)', 'missing');
      // A history is checked here; its graph inputs are laid out by historyInputs (the plans of din and bst are compiled graphs).
      if (field.type === 'sequence') readHistory(this.spec, field, values, whereOf());
      else if (field.type === 'dense') this.addDense(field, index, v, at);
      else this.addSparse(field, index, v, at);
    }
    this.row++;
  }

  private addSparse(f: SparseField, index: number, v: unknown, at: () => string): void {
    if (f.pooling === 'none') {
      const ids = this.singleIds.get(index)!;
      if (Array.isArray(v)) {
        if (v.length !== 1) throw new RankawareError(at(), `one id (field pooling is "none")`, `a list of ${v.length} ids`);
        ids[this.row] = idOf(f, v[0], () => `${at()}[0]`);
      } else {
        ids[this.row] = idOf(f, v, at);
      }
      return;
    }
    const ids = this.sparseIds.get(index)!;
    if (!Array.isArray(v)) throw new RankawareError(at(), `a list of ids (field pooling is "${f.pooling}")`, show(v));
    for (let i = 0; i < v.length; i++) ids.push(idOf(f, v[i], () => `${at()}[${i}]`));
    this.sparseOffsets.get(index)!.push(ids.length);
  }

  private addDense(f: DenseField, index: number, v: unknown, at: () => string): void {
    if (!Array.isArray(v) || v.length !== f.dim)
      throw new RankawareError(at(), `a list of ${f.dim} finite numbers`, Array.isArray(v) ? `a list of ${v.length}` : show(v));
    const out = this.denseValues.get(index)!;
    const base = this.row * f.dim;
    // An index loop reads a hole as undefined (refused), as Array.from did.
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      // Math.fround: a value beyond float32 range would become Infinity in the kernels.
      if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) throw new RankawareError(`${at()}[${i}]`, 'a finite number within float32 range (|x| < 3.4e38)', show(x));
      out[base + i] = x;
    }
  }

  finish(): Inputs {
    const sparse = new Map<number, SparseInput>();
    for (const { field, index } of this.fields) {
      if (field.type !== 'sparse') continue;
      const single = this.singleIds.get(index);
      if (single) {
        const offsets = new Int32Array(this.rows + 1);
        for (let r = 0; r <= this.rows; r++) offsets[r] = r;
        sparse.set(index, { offsets, ids: single });
      }
      else sparse.set(index, { offsets: Int32Array.from(this.sparseOffsets.get(index)!), ids: Int32Array.from(this.sparseIds.get(index)!) });
    }
    return { rows: this.rows, sparse, dense: this.denseValues };
  }
}

/** Encode the context of a request alone (one row). */
export function encodeContext(spec: ModelSpec, context: unknown): Inputs {
  if (context === undefined) throw new RankawareError('request.context', 'an object of context field values', 'nothing (missing)', 'missing');
  const enc = new SideEncoder(spec, 'context', 1);
  enc.add(context, () => 'request.context');
  const encoded = enc.finish();
  encodedContexts.set(encoded, spec);
  return encoded;
}

/** Each context encodeContext returned, with the spec it was encoded for. */
const encodedContexts = new WeakMap<Inputs, ModelSpec>();

/** The spec an encodeContext result was encoded for; undefined for inputs that encodeContext did not return. */
export function contextSpecOf(inputs: Inputs): ModelSpec | undefined {
  return encodedContexts.get(inputs);
}

/** Encode a list of candidates (N rows). */
export function encodeCandidates(spec: ModelSpec, candidates: unknown): Inputs {
  if (!Array.isArray(candidates)) throw new RankawareError('request.candidates', 'a non-empty array of candidates', show(candidates), candidates === undefined ? 'missing' : 'invalid');
  if (candidates.length === 0) throw new RankawareError('request.candidates', 'a non-empty array of candidates', 'an empty array');
  const enc = new SideEncoder(spec, 'target', candidates.length);
  // An index loop, not forEach: a hole in a JS array must be refused, not skipped.
  for (let i = 0; i < candidates.length; i++) enc.add(candidates[i], () => `request.candidates[${i}]`);
  return enc.finish();
}

/** The request's outer shape: an object with the keys "context" and "candidates" only. */
export function checkRequestShape(request: unknown): asserts request is { context: unknown; candidates: unknown } {
  if (!isRecord(request)) throw new RankawareError('request', 'an object {"context": {...}, "candidates": [...]}', show(request));
  for (const key of Object.keys(request))
    if (key !== 'context' && key !== 'candidates')
      throw new RankawareError(`request.${key}`, 'only the keys "context" and "candidates"', 'an unknown key', 'unknown');
}

export function encodeRequest(spec: ModelSpec, request: unknown): EncodedRequest {
  checkRequestShape(request);
  return { context: encodeContext(spec, request.context), candidates: encodeCandidates(spec, request.candidates) };
}

/** Rows [start, end) of candidate inputs, sharing no state with the source (a tile). */
export function sliceInputs(inputs: Inputs, start: number, end: number): Inputs {
  const sparse = new Map<number, SparseInput>();
  for (const [index, s] of inputs.sparse) {
    const base = s.offsets[start]!;
    const offsets = new Int32Array(end - start + 1);
    for (let r = start; r <= end; r++) offsets[r - start] = s.offsets[r]! - base;
    sparse.set(index, { offsets, ids: s.ids.slice(base, s.offsets[end]!) });
  }
  const dense = new Map<number, Float32Array>();
  for (const [index, d] of inputs.dense) {
    const dim = d.length / inputs.rows;
    dense.set(index, d.slice(start * dim, end * dim));
  }
  return { rows: end - start, sparse, dense };
}
