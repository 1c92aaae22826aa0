/**
 * Reductions over one block of axes (ReduceSum/Mean/Max/Min/Prod/L2 of a [outer, len, inner] view): the
 * ONNX compiler's SIMD form of kernels/math.ts reduceBlock. Sums and products accumulate in f64 (two f64x2
 * per four floats), as the js kernel does; max and min in f32 (exact), NaN propagating.
 */
import { loadN, storeN } from './simd';

/** Codes as REDUCE_CODES: 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 l2. */
export function reduceLines(code: i32, x: usize, out: usize, outer: i32, len: i32, inner: i32): void {
  if (inner == 1) {
    for (let o = 0; o < outer; o++) store<f32>(out + (<usize>o << 2), reduceRun(code, x + ((<usize>o * <usize>len) << 2), len));
    return;
  }
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const xb = x + <usize>o * <usize>len * rowBytes;
    const ob = out + <usize>o * rowBytes;
    // Four lines (four inner positions) a step, down the reduced axis.
    for (let i = 0; i < inner; i += 4) {
      const n = inner - i;
      const at = <usize>i << 2;
      if (code == 2 || code == 3) {
        let acc = loadN(xb + at, n);
        for (let t = 1; t < len; t++) {
          const v = loadN(xb + <usize>t * rowBytes + at, n);
          acc = code == 2 ? f32x4.max(acc, v) : f32x4.min(acc, v);
        }
        storeN(ob + at, acc, n);
        continue;
      }
      let lo = f64x2.splat(code == 4 ? 1 : 0);
      let hi = lo;
      for (let t = 0; t < len; t++) {
        const v = loadN(xb + <usize>t * rowBytes + at, n);
        lo = fold(lo, f64x2.promote_low_f32x4(v), code);
        hi = fold(hi, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), code);
      }
      if (code == 1) {
        const k = f64x2.splat(<f64>len);
        lo = f64x2.div(lo, k);
        hi = f64x2.div(hi, k);
      } else if (code == 5) {
        lo = f64x2.sqrt(lo);
        hi = f64x2.sqrt(hi);
      }
      const r = f32x4.demote_f64x2_zero(lo);
      storeN(ob + at, i32x4.shuffle(r, f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5), n);
    }
  }
}

/** One contiguous line of len floats reduced: four a step, the tail one at a time. */
function reduceRun(code: i32, x: usize, len: i32): f32 {
  const body = len & ~3;
  if (code == 2 || code == 3) {
    let acc: f32 = len > 0 ? load<f32>(x) : (code == 2 ? -Infinity : Infinity);
    if (body > 0) {
      let v = v128.load(x);
      for (let t = 4; t < body; t += 4) v = code == 2 ? f32x4.max(v, v128.load(x + (<usize>t << 2))) : f32x4.min(v, v128.load(x + (<usize>t << 2)));
      const m = code == 2 ? f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1)) : f32x4.min(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      const a = f32x4.extract_lane(m, 0), b = f32x4.extract_lane(m, 1);
      // NaN wins, as in f32x4.max / min.
      acc = a != a || b != b ? NaN : code == 2 ? max(a, b) : min(a, b);
    }
    for (let t = body; t < len; t++) {
      const v = load<f32>(x + (<usize>t << 2));
      acc = v != v || acc != acc ? NaN : code == 2 ? max(acc, v) : min(acc, v);
    }
    return acc;
  }
  let lo = f64x2.splat(code == 4 ? 1 : 0);
  let hi = lo;
  for (let t = 0; t < body; t += 4) {
    const v = v128.load(x + (<usize>t << 2));
    lo = fold(lo, f64x2.promote_low_f32x4(v), code);
    hi = fold(hi, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), code);
  }
  let acc: f64;
  if (code == 4) {
    acc = f64x2.extract_lane(lo, 0) * f64x2.extract_lane(lo, 1) * f64x2.extract_lane(hi, 0) * f64x2.extract_lane(hi, 1);
    for (let t = body; t < len; t++) acc *= <f64>load<f32>(x + (<usize>t << 2));
    return <f32>acc;
  }
  acc = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
  for (let t = body; t < len; t++) {
    const v = <f64>load<f32>(x + (<usize>t << 2));
    acc += code == 5 ? v * v : v;
  }
  if (code == 1) return <f32>(acc / <f64>len);
  if (code == 5) return <f32>Math.sqrt(acc);
  return <f32>acc;
}

/** Two f64 lanes folded into a sum (0, 1), a product (4) or a sum of squares (5). */
// @ts-ignore: decorator
@inline function fold(acc: v128, x: v128, code: i32): v128 {
  if (code == 4) return f64x2.mul(acc, x);
  if (code == 5) return f64x2.add(acc, f64x2.mul(x, x));
  return f64x2.add(acc, x);
}
