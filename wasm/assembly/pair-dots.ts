/**
 * The pairwise dot products of stacked field vectors (DLRM's X X^T) with the context's block computed
 * once: the ONNX compiler's lowering of the pair-products rewrite. Each row is read where it lies (a
 * context row from the stored context, a candidate row from its part), so nothing is concatenated first.
 */
import { hsum, loadN } from './simd';

/**
 * out[t] = X[t] X[t]^T ([f, f]) for t < batches, where row i of X[t] is d floats at
 * rows[2i] + t * rows[2i + 1] (a byte base and a per-batch byte stride: 0 for a context row), and
 * slots[i] >= 0 marks a context row: the product of two of them is stored[slots[i] * kc + slots[j]].
 * Each product is computed once and written to both halves.
 */
export function pairDots(rows: usize, slots: usize, stored: usize, kc: i32, out: usize, batches: i32, f: i32, d: i32): void {
  for (let t = 0; t < batches; t++) {
    const ob = out + ((<usize>t * <usize>f * <usize>f) << 2);
    for (let i = 0; i < f; i++) {
      const ri = rows + (<usize>i << 3);
      const bi = <usize>load<i32>(ri) + <usize>t * <usize>load<i32>(ri, 4);
      const si = load<i32>(slots + (<usize>i << 2));
      for (let j = 0; j <= i; j++) {
        const sj = load<i32>(slots + (<usize>j << 2));
        let v: f32;
        if (si >= 0 && sj >= 0) v = load<f32>(stored + (<usize>(si * kc + sj) << 2));
        else {
          const rj = rows + (<usize>j << 3);
          v = rowDot(bi, <usize>load<i32>(rj) + <usize>t * <usize>load<i32>(rj, 4), d);
        }
        store<f32>(ob + (<usize>(i * f + j) << 2), v);
        store<f32>(ob + (<usize>(j * f + i) << 2), v);
      }
    }
  }
}

/**
 * Only the listed products, where a reader wants them (DLRM's selected pairs, gathered from X X^T):
 * out[t * outStride + col] = X[t]_i . X[t]_j for each (i, j, col) triple of `pairs`, rows and context
 * products as in pairDots. A candidate then computes its own pairs and writes nothing else.
 */
export function pairSelect(rows: usize, slots: usize, stored: usize, kc: i32, pairs: usize, count: i32, out: usize, outStride: i32, batches: i32, d: i32): void {
  for (let t = 0; t < batches; t++) {
    const ob = out + ((<usize>t * <usize>outStride) << 2);
    for (let p = 0; p < count; p++) {
      const e = pairs + <usize>p * 12;
      const i = load<i32>(e), j = load<i32>(e, 4);
      const si = load<i32>(slots + (<usize>i << 2)), sj = load<i32>(slots + (<usize>j << 2));
      let v: f32;
      if (si >= 0 && sj >= 0) v = load<f32>(stored + (<usize>(si * kc + sj) << 2));
      else {
        const ri = rows + (<usize>i << 3), rj = rows + (<usize>j << 3);
        v = rowDot(<usize>load<i32>(ri) + <usize>t * <usize>load<i32>(ri, 4), <usize>load<i32>(rj) + <usize>t * <usize>load<i32>(rj, 4), d);
      }
      store<f32>(ob + (<usize>load<i32>(e, 8) << 2), v);
    }
  }
}

/** A dot product of two short rows (field vectors): two sums in flight, the tail masked by loadN. */
// @ts-ignore: decorator
@inline function rowDot(a: usize, b: usize, d: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= d; k += 8) {
    const o = <usize>k << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; k < d; k += 4) {
    const o = <usize>k << 2;
    s0 = f32x4.add(s0, f32x4.mul(loadN(a + o, d - k), loadN(b + o, d - k)));
  }
  return hsum(f32x4.add(s0, s1));
}
