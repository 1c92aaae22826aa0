/**
 * Data movement (Transpose, Expand, Tile, Slice, Concat, Split, Gather by known indices, a context row
 * repeated to N rows) as one kernel: each output element copies one element of one source. Which one is
 * computed at compile time by the interpreter itself (its kernel run on the sources' element positions),
 * so every movement op has exactly the interpreter's semantics. The map is stored as runs of consecutive
 * elements (a concatenation of rows: runs of a piece's width) or, when runs are mostly single elements (a
 * transpose), as one source offset per element.
 */
import type { Elements } from './types.js';

/** Source k's element i has position offsets[k] + i in the map the interpreter computes. */
export interface Sources {
  readonly offsets: readonly number[];
}

/** A copy plan: runs [source, from, to, length] or one absolute source per element (when runs are short). */
export type MovePlan =
  | { readonly kind: 'runs'; readonly runs: Int32Array }
  | { readonly kind: 'map'; readonly source: Int32Array; readonly from: Int32Array };

/** The plan for an output whose elements are the positions `map` (float64 from the interpreter). */
export function movePlan(map: Float64Array, offsets: readonly number[]): MovePlan {
  const n = map.length;
  const sourceOf = (p: number) => {
    let k = offsets.length - 1;
    while (k > 0 && offsets[k]! > p) k--;
    return k;
  };
  const runs: number[] = [];
  let i = 0;
  while (i < n) {
    const p = map[i]!;
    const k = sourceOf(p);
    let len = 1;
    while (i + len < n && map[i + len] === p + len && (k + 1 >= offsets.length || p + len < offsets[k + 1]!)) len++;
    runs.push(k, p - offsets[k]!, i, len);
    i += len;
  }
  if (runs.length / 4 <= n / 2) return { kind: 'runs', runs: Int32Array.from(runs) };
  const source = new Int32Array(n);
  const from = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const k = sourceOf(map[j]!);
    source[j] = k;
    from[j] = map[j]! - offsets[k]!;
  }
  return { kind: 'map', source, from };
}

/** A plan bound to the sources' arena offsets: the step's loop. */
export function moveStep(plan: MovePlan, sourceAt: readonly number[], out: number): (e: Elements) => void {
  if (plan.kind === 'runs') {
    const r = plan.runs;
    const abs = new Int32Array(r.length / 2);
    for (let j = 0; j < r.length / 4; j++) {
      abs[2 * j] = sourceAt[r[4 * j]!]! + r[4 * j + 1]!;
      abs[2 * j + 1] = out + r[4 * j + 2]!;
    }
    const lens = Int32Array.from({ length: r.length / 4 }, (_, j) => r[4 * j + 3]!);
    return (e) => {
      for (let j = 0; j < lens.length; j++) {
        const len = lens[j]!, s = abs[2 * j]!, d = abs[2 * j + 1]!;
        if (len > 32) e.copyWithin(d, s, s + len);
        else for (let t = 0; t < len; t++) e[d + t] = e[s + t]!;
      }
    };
  }
  const absolute = new Int32Array(plan.from.length);
  for (let j = 0; j < absolute.length; j++) absolute[j] = sourceAt[plan.source[j]!]! + plan.from[j]!;
  return (e) => {
    for (let j = 0; j < absolute.length; j++) e[out + j] = e[absolute[j]!]!;
  };
}

/**
 * Gather along `axis` by runtime indices (embedding lookups, a history's item rows): out[o, j, i] =
 * data[o, idx[j], i] for `outer` x `count` x `inner`; a negative index counts from the end, as in ONNX.
 * Returns the first index out of range, or -1 (the caller refuses the request).
 */
export function gatherRows(e: Elements, ix: Int32Array, data: number, idx: number, count: number, outer: number, dim: number, inner: number, out: number): number {
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < count; j++) {
      let i = ix[idx + j]!;
      if (i < 0) i += dim;
      if (i < 0 || i >= dim) return ix[idx + j]!;
      const s = data + (o * dim + i) * inner;
      const d = out + (o * count + j) * inner;
      // Wide rows: one memmove each (copyWithin), several times faster than the element loop from 16 on.
      if (inner >= 16) e.copyWithin(d, s, s + inner);
      else for (let t = 0; t < inner; t++) e[d + t] = e[s + t]!;
    }
  return -1;
}

/** A copy plan that repeats per output row: `segments` [source, from, fromStride, to, length] for row 0. */
export interface RowSegments {
  readonly rows: number;
  readonly rowWidth: number;
  readonly segments: Int32Array;
}

/**
 * The runs of a plan as the same segments in every one of `rows` output rows of `rowWidth` (each segment's
 * source moving by a fixed stride per row, 0 for a repeated context row), or undefined when they are not.
 */
export function rowSegments(plan: MovePlan, rows: number, rowWidth: number): RowSegments | undefined {
  if (plan.kind !== 'runs' || rows < 2) return undefined;
  const r = plan.runs;
  const total = r.length / 4;
  if (total % rows !== 0) return undefined;
  const per = total / rows;
  const segments = new Int32Array(per * 5);
  for (let s = 0; s < per; s++) {
    const [k, from, to, len] = [r[4 * s]!, r[4 * s + 1]!, r[4 * s + 2]!, r[4 * s + 3]!];
    if (to >= rowWidth) return undefined;
    const stride = r[4 * (s + per) + 1]! - from;
    for (let row = 1; row < rows; row++) {
      const j = 4 * (row * per + s);
      if (r[j] !== k || r[j + 1] !== from + row * stride || r[j + 2] !== to + row * rowWidth || r[j + 3] !== len) return undefined;
    }
    segments.set([k, from, stride, to, len], 5 * s);
  }
  return { rows, rowWidth, segments };
}
