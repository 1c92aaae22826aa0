/**
 * Request JSON for an imported model: the field names are the graph's input names. A context input
 * ([1, ...]) takes one value under `context`, a candidate input ([N, ...]) one value in each candidate:
 * an id (int input [1] / [N]), a list of ids ([1, L] / [N, L]; a candidate list has the same length in
 * every candidate, as ONNX tensors are rectangular), or a list of floats ([1, D] / [N, D]). Ids of an input
 * that indexes an embedding table directly are checked against the table's rows.
 */
import { RankawareError, show } from '../errors.js';
import type { InputRole } from './interpreter/rank.js';
import type { Value } from './interpreter/tensor.js';

export interface ImportedInput {
  readonly name: string;
  readonly side: 'context' | 'candidate';
  readonly dtype: 'float' | 'int' | 'bool';
  readonly float32: boolean;
  /** Dims after the leading one: numbers are fixed, -1 is a free list length. */
  readonly inner: readonly number[];
  /** Rows of the table its ids index, when it feeds an embedding Gather directly. */
  readonly rows?: number;
}

export interface EncodedImportRequest {
  readonly context: Map<string, Value>;
  readonly candidates: Map<string, Value>;
  readonly n: number;
}

export function describeInputs(roles: readonly InputRole[], tableRows: ReadonlyMap<string, number>): ImportedInput[] {
  return roles.map(({ input, side }) => ({
    name: input.name,
    side,
    dtype: input.dtype,
    float32: input.float32,
    inner: input.dims.slice(1).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    ...(tableRows.has(input.name) ? { rows: tableRows.get(input.name)! } : {}),
  }));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function expectedOf(input: ImportedInput): string {
  const count = input.inner.reduce((a, d) => a * d, 1);
  const what = input.dtype === 'float' ? 'finite numbers' : input.rows !== undefined ? `ids in [0, ${input.rows})` : 'integers';
  if (input.inner.length === 0) return input.dtype === 'float' ? 'a finite number' : input.rows !== undefined ? `an id in [0, ${input.rows})` : 'an integer';
  if (input.inner.includes(-1)) return `a list of ${what}`;
  return `a list of ${count} ${what}`;
}

/** One input's values for one row, checked; returns the flat list. */
/** `where` names the field, for errors only (a function: it is built only when one is thrown). */
function rowValues(input: ImportedInput, v: unknown, whereOf: () => string): number[] {
  if (v === undefined) throw new RankawareError(whereOf(), expectedOf(input), 'nothing (missing field)', 'missing');
  const list = Array.isArray(v) ? v : [v];
  const fixed = input.inner.includes(-1) ? undefined : input.inner.reduce((a, d) => a * d, 1);
  if (fixed !== undefined && list.length !== fixed) throw new RankawareError(whereOf(), expectedOf(input), show(v));
  // The field's name is built only for an error: this loop runs for every value of every candidate.
  const int = input.dtype !== 'float';
  const rows = input.rows;
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x === 'number' && Number.isFinite(x) && (!int || Number.isInteger(x)) && (rows === undefined || (x >= 0 && x < rows))) continue;
    throw new RankawareError(Array.isArray(v) ? `${whereOf()}[${i}]` : whereOf(), expectedOf(input), show(x));
  }
  return list as number[];
}

/** The dims after the first of an input whose rows hold `width` values (a free list length solved for). */
function innerDims(input: ImportedInput, width: number): readonly number[] {
  if (input.inner.length === 0 || !input.inner.includes(-1)) return input.inner;
  const fixed = Math.max(input.inner.filter((x) => x !== -1).reduce((a, b) => a * b, 1), 1);
  return input.inner.map((d) => (d === -1 ? width / fixed : d));
}

function tensor(input: ImportedInput, rows: number[][], where: string): Value {
  const width = rows[0]?.length ?? 0;
  rows.forEach((r, i) => {
    if (r.length !== width)
      throw new RankawareError(`${where.replace('#', String(i))}.${input.name}`, `a list of ${width} values, like the first candidate's (ONNX inputs are rectangular)`, `a list of ${r.length}`);
  });
  const inner = innerDims(input, width);
  if (!inner.every(Number.isInteger)) throw new RankawareError(`${where.replace('#', '0')}.${input.name}`, expectedOf(input), `a list of ${width}`);
  const data = new Float64Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) data.set(rows[r]!, r * width);
  if (input.float32) for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i]!);
  return { dtype: input.dtype, shape: [rows.length, ...inner], data };
}

function checkKeys(record: Record<string, unknown>, inputs: readonly ImportedInput[], where: string): void {
  for (const key of Object.keys(record))
    if (!inputs.some((i) => i.name === key))
      throw new RankawareError(`${where}.${key}`, `one of the inputs ${inputs.map((i) => i.name).join(', ') || '(none)'}`, `unknown field ${JSON.stringify(key)}`, 'unknown');
}

export function encodeContextInputs(inputs: readonly ImportedInput[], context: unknown): Map<string, Value> {
  const ctx = inputs.filter((i) => i.side === 'context');
  if (!isRecord(context)) throw new RankawareError('request.context', 'an object of context fields', show(context), 'invalid');
  checkKeys(context, ctx, 'request.context');
  return new Map(ctx.map((i) => [i.name, tensor(i, [rowValues(i, context[i.name], () => `request.context.${i.name}`)], 'request.context')]));
}

export function encodeCandidateInputs(inputs: readonly ImportedInput[], candidates: unknown): { feeds: Map<string, Value>; n: number } {
  const cand = inputs.filter((i) => i.side === 'candidate');
  if (!Array.isArray(candidates) || candidates.length === 0) throw new RankawareError('request.candidates', 'a non-empty array of candidates', show(candidates), 'invalid');
  const names = new Set(cand.map((i) => i.name));
  candidates.forEach((c, r) => {
    if (!isRecord(c)) throw new RankawareError(`request.candidates[${r}]`, 'an object of candidate fields', show(c), 'invalid');
    for (const key in c) if (!names.has(key)) checkKeys(c, cand, `request.candidates[${r}]`);
  });
  const feeds = new Map<string, Value>();
  for (const i of cand) {
    // The common case in one pass; anything it does not take goes the checked way, which names what is wrong.
    const fast = candidateColumn(i, candidates as Record<string, unknown>[]);
    if (fast) {
      feeds.set(i.name, fast);
      continue;
    }
    const rows = candidates.map((c, r) => rowValues(i, (c as Record<string, unknown>)[i.name], () => `request.candidates[${r}].${i.name}`));
    feeds.set(i.name, tensor(i, rows, 'request.candidates[#]'));
  }
  return { feeds, n: candidates.length };
}

/**
 * One candidate input's values for every candidate, written straight into its tensor, or undefined at the
 * first value that is not what the input takes (rowValues and tensor then say what and where).
 */
function candidateColumn(input: ImportedInput, candidates: readonly Record<string, unknown>[]): Value | undefined {
  const n = candidates.length;
  const first = candidates[0]![input.name];
  const width = input.inner.includes(-1) ? (Array.isArray(first) ? first.length : 1) : input.inner.reduce((a, d) => a * d, 1);
  const inner = innerDims(input, width);
  if (!inner.every(Number.isInteger)) return undefined;
  const data = new Float64Array(n * width);
  const int = input.dtype !== 'float';
  const rows = input.rows ?? Infinity;
  const ok = (x: unknown): x is number => typeof x === 'number' && (int ? Number.isInteger(x) && (rows === Infinity || (x >= 0 && x < rows)) : Number.isFinite(x));
  for (let r = 0; r < n; r++) {
    const v = candidates[r]![input.name];
    if (Array.isArray(v)) {
      if (v.length !== width) return undefined;
      for (let k = 0; k < width; k++) {
        const x: unknown = v[k];
        if (!ok(x)) return undefined;
        data[r * width + k] = x;
      }
    } else if (width === 1 && ok(v)) data[r] = v;
    else return undefined;
  }
  if (input.float32) for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i]!);
  return { dtype: input.dtype, shape: [n, ...inner], data };
}

export function encodeImportRequest(inputs: readonly ImportedInput[], request: unknown): EncodedImportRequest {
  if (!isRecord(request)) throw new RankawareError('request', 'an object {"context": {...}, "candidates": [...]}', show(request), 'invalid');
  for (const key of Object.keys(request))
    if (key !== 'context' && key !== 'candidates') throw new RankawareError(`request.${key}`, 'only "context" and "candidates"', `unknown key ${JSON.stringify(key)}`, 'unknown');
  const context = encodeContextInputs(inputs, request.context);
  const { feeds, n } = encodeCandidateInputs(inputs, request.candidates);
  return { context, candidates: feeds, n };
}

/**
 * A seeded random request for an imported graph, from its inputs: ids within their tables (0 or 1 for
 * other ints), floats in [-1, 1), a list of `freeLength` for each free dim (multi-dim inputs flattened).
 * The attack suite and `bench` draw their requests from it.
 */
export function randomImportedRequest(inputs: readonly ImportedInput[], n: number, random: () => number, freeLength: number): { context: Record<string, unknown>; candidates: Record<string, unknown>[] } {
  const int = (k: number) => Math.floor(random() * k);
  const lengths = new Map(inputs.map((i) => [i.name, i.inner.reduce((a, d) => a * (d === -1 ? freeLength : d), 1)]));
  const element = (i: ImportedInput) => (i.dtype === 'float' ? random() * 2 - 1 : i.rows !== undefined ? int(Math.max(1, i.rows)) : int(2));
  const value = (i: ImportedInput) => (i.inner.length === 0 ? element(i) : Array.from({ length: lengths.get(i.name)! }, () => element(i)));
  const context = Object.fromEntries(inputs.filter((i) => i.side === 'context').map((i) => [i.name, value(i)]));
  const candidates = Array.from({ length: n }, () => Object.fromEntries(inputs.filter((i) => i.side === 'candidate').map((i) => [i.name, value(i)])));
  return { context, candidates };
}
