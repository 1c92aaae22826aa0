/**
 * How operands of a broadcasting op line up with its output, computed once at compile time: the output as
 * `rows` of `inner` contiguous elements, and per operand the offset of each row and its step within a row
 * (1: it varies along the inner run, 0: one element repeated). Size-1 axes are dropped and trailing axes
 * merged while every operand is either full or broadcast on them, so that [N, D] + [1, D] is N rows of D
 * and [N, D] + [N, D] one row of N * D.
 */
export interface BroadcastPlan {
  readonly rows: number;
  readonly inner: number;
  /** Per operand: its element offset at the start of each row. */
  readonly bases: readonly Int32Array[];
  /** Per operand: 1 or 0. */
  readonly steps: readonly number[];
}

export function broadcastPlan(shapes: readonly (readonly number[])[], out: readonly number[]): BroadcastPlan {
  const rank = out.length;
  // Per operand, per output axis: its stride there (0 where it broadcasts).
  const strides = shapes.map((shape) => {
    const s = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      const axis = rank - shape.length + i;
      s[axis] = shape[i] === 1 ? 0 : acc;
      acc *= shape[i]!;
    }
    return s;
  });
  const axes = out.map((_, i) => i).filter((i) => out[i] !== 1);
  if (axes.length === 0) return { rows: 1, inner: 1, bases: shapes.map(() => Int32Array.of(0)), steps: shapes.map(() => 0) };
  const last = axes[axes.length - 1]!;
  const steps = strides.map((s) => (s[last] === 0 ? 0 : 1));
  if (strides.some((s, k) => steps[k] === 1 && s[last] !== 1)) throw new Error('broadcastPlan: operand not contiguous');
  let inner = out[last]!;
  let split = axes.length - 1;
  while (split > 0) {
    const axis = axes[split - 1]!;
    // Mergeable: every operand full on this axis exactly when it is full on the inner run (and contiguous across).
    if (!strides.every((s, k) => (steps[k] === 1 ? s[axis] === inner : s[axis] === 0))) break;
    inner *= out[axis]!;
    split--;
  }
  const outer = axes.slice(0, split);
  const rows = outer.reduce((a, i) => a * out[i]!, 1);
  const bases = strides.map((s) => {
    const b = new Int32Array(rows);
    const counter = new Array<number>(outer.length).fill(0);
    let at = 0;
    for (let r = 0; r < rows; r++) {
      b[r] = at;
      for (let j = outer.length - 1; j >= 0; j--) {
        const axis = outer[j]!;
        counter[j]!++;
        at += s[axis]!;
        if (counter[j]! < out[axis]!) break;
        at -= s[axis]! * out[axis]!;
        counter[j] = 0;
      }
    }
    return b;
  });
  return { rows, inner, bases, steps };
}
