/**
 * The imported graph's values: a dtype, a shape and row-major data in a Float64Array (float32 weights
 * widen exactly; int64 ids, shapes and indices are exact below 2^53, far beyond any table or shape).
 * The interpreter computes in float64, like the js reference backend.
 */
export type DType = 'float' | 'int' | 'bool';

export interface Value {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function value(dtype: DType, shape: readonly number[], data?: Float64Array): Value {
  return { dtype, shape: [...shape], data: data ?? new Float64Array(size(shape)) };
}

/** Row-major strides of a shape. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** The numpy broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** For each flat index of `out`, the flat index of `shape` broadcast to it (shape right-aligned). */
export function broadcastIndex(shape: readonly number[], out: readonly number[]): Int32Array {
  const total = size(out);
  const index = new Int32Array(total);
  const rank = out.length;
  const src = strides(shape);
  // Stride 0 on broadcast axes.
  const step = out.map((d, i) => {
    const j = i - (rank - shape.length);
    return j < 0 || shape[j] === 1 ? 0 : src[j]!;
  });
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let k = 0; k < total; k++) {
    index[k] = at;
    for (let i = rank - 1; i >= 0; i--) {
      counter[i]!++;
      at += step[i]!;
      if (counter[i]! < out[i]!) break;
      at -= step[i]! * out[i]!;
      counter[i] = 0;
    }
  }
  return index;
}

/** `v` repeated along its size-1 axes to `shape` (numpy broadcast_to, materialized). */
export function expandTo(v: Value, shape: readonly number[]): Value {
  if (v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i])) return v;
  const index = broadcastIndex(v.shape, shape);
  const data = new Float64Array(index.length);
  for (let k = 0; k < index.length; k++) data[k] = v.data[index[k]!]!;
  return { dtype: v.dtype, shape: [...shape], data };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function showShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}
