/**
 * Elementwise kernels of the ONNX compiler (src/onnx/compiler): a binary op over a broadcast plan (rows of
 * `inner` contiguous outputs; per row an element offset into each operand, read with step 1 or repeated),
 * unary ops in place or not, and LayerNormalization of rows. Float32 only; the compiler keeps int and bool
 * tensors, and the ops with no SIMD form (Log, Erf, Tanh, ...), on its js loops.
 *
 * Binary codes: 0 add, 1 sub, 2 mul, 3 div, 5 max, 6 min, 14 square (the first operand squared).
 * Unary codes: neg 0, abs 1, reciprocal 2, sqrt 3, exp 4, relu 6, leaky relu 7 (alpha p), sigmoid 8,
 * clip 12 (to [p, q]), copy 14.
 */
import { shortDot1x4, exp4, loadN, storeN } from './simd';

// @ts-ignore: decorator
@inline function op4(code: i32, x: v128, y: v128): v128 {
  if (code == 0) return f32x4.add(x, y);
  if (code == 1) return f32x4.sub(x, y);
  if (code == 2) return f32x4.mul(x, y);
  if (code == 3) return f32x4.div(x, y);
  if (code == 5) return f32x4.max(x, y);
  if (code == 6) return f32x4.min(x, y);
  return f32x4.mul(x, x);
}

function run(code: i32, o: usize, a: usize, b: usize, n: i32, sa: i32, sb: i32): void {
  let j = 0;
  if (sa != 0 && sb != 0) {
    for (; j + 4 <= n; j += 4) v128.store(o + (<usize>j << 2), op4(code, v128.load(a + (<usize>j << 2)), v128.load(b + (<usize>j << 2))));
    if (j < n) storeN(o + (<usize>j << 2), op4(code, loadN(a + (<usize>j << 2), n - j), loadN(b + (<usize>j << 2), n - j)), n - j);
  } else if (sa != 0) {
    const y = v128.load32_splat(b);
    for (; j + 4 <= n; j += 4) v128.store(o + (<usize>j << 2), op4(code, v128.load(a + (<usize>j << 2)), y));
    if (j < n) storeN(o + (<usize>j << 2), op4(code, loadN(a + (<usize>j << 2), n - j), y), n - j);
  } else if (sb != 0) {
    const x = v128.load32_splat(a);
    for (; j + 4 <= n; j += 4) v128.store(o + (<usize>j << 2), op4(code, x, v128.load(b + (<usize>j << 2))));
    if (j < n) storeN(o + (<usize>j << 2), op4(code, x, loadN(b + (<usize>j << 2), n - j)), n - j);
  } else {
    const v = op4(code, v128.load32_splat(a), v128.load32_splat(b));
    for (; j + 4 <= n; j += 4) v128.store(o + (<usize>j << 2), v);
    if (j < n) storeN(o + (<usize>j << 2), v, n - j);
  }
}

/** out[r * inner + j] = a[aBases[r] + j * sa] (op) b[bBases[r] + j * sb], r < rows; bases are i32 element offsets. */
export function binaryRows(code: i32, out: usize, a: usize, b: usize, aBases: usize, bBases: usize, rows: i32, inner: i32, sa: i32, sb: i32): void {
  for (let r = 0; r < rows; r++) {
    const ao = a + (<usize>load<i32>(aBases + (<usize>r << 2)) << 2);
    const bo = b + (<usize>load<i32>(bBases + (<usize>r << 2)) << 2);
    // The op is a constant per call: one loop per code, chosen once per row.
    const o = out + ((<usize>r * <usize>inner) << 2);
    if (code == 0) run(0, o, ao, bo, inner, sa, sb);
    else if (code == 1) run(1, o, ao, bo, inner, sa, sb);
    else if (code == 2) run(2, o, ao, bo, inner, sa, sb);
    else if (code == 3) run(3, o, ao, bo, inner, sa, sb);
    else if (code == 5) run(5, o, ao, bo, inner, sa, sb);
    else if (code == 6) run(6, o, ao, bo, inner, sa, sb);
    else run(14, o, ao, bo, inner, sa, sb);
  }
}

// @ts-ignore: decorator
@inline function unary4(code: i32, v: v128, p: f32, q: f32): v128 {
  if (code == 0) return f32x4.neg(v);
  if (code == 1) return f32x4.abs(v);
  if (code == 2) return f32x4.div(f32x4.splat(1), v);
  if (code == 3) return f32x4.sqrt(v);
  if (code == 4) return exp4(v);
  if (code == 6) return f32x4.pmax(f32x4.splat(0), v);
  if (code == 7) return v128.bitselect(v, f32x4.mul(v, f32x4.splat(p)), f32x4.ge(v, f32x4.splat(0)));
  if (code == 8) return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(v))));
  if (code == 12) return f32x4.pmin(f32x4.splat(q), f32x4.pmax(f32x4.splat(p), v));
  return v;
}

function unaryRun(code: i32, out: usize, x: usize, n: i32, p: f32, q: f32): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(out + (<usize>j << 2), unary4(code, v128.load(x + (<usize>j << 2)), p, q));
  if (j < n) storeN(out + (<usize>j << 2), unary4(code, loadN(x + (<usize>j << 2), n - j), p, q), n - j);
}

/** out[j] = op(x[j]) for j < n (out may be x). */
export function unaryRows(code: i32, out: usize, x: usize, n: i32, p: f32, q: f32): void {
  if (code == 0) unaryRun(0, out, x, n, p, q);
  else if (code == 1) unaryRun(1, out, x, n, p, q);
  else if (code == 2) unaryRun(2, out, x, n, p, q);
  else if (code == 3) unaryRun(3, out, x, n, p, q);
  else if (code == 4) unaryRun(4, out, x, n, p, q);
  else if (code == 6) unaryRun(6, out, x, n, p, q);
  else if (code == 7) unaryRun(7, out, x, n, p, q);
  else if (code == 8) unaryRun(8, out, x, n, p, q);
  else if (code == 12) unaryRun(12, out, x, n, p, q);
  else unaryRun(14, out, x, n, p, q);
}

/**
 * LayerNormalization of rows x width: (x - mean) / sqrt(var + eps) * scale + bias, with scale and bias
 * (0: none) rows of `width` repeated every sRows / bRows rows ([width]: 1, a per-field [F, width]: F).
 * Mean and variance in f64 over the row, as the js kernel (summed in another order).
 */
export function layerNormRows(x: usize, out: usize, rows: i32, width: i32, eps: f32, scale: usize, sRows: i32, bias: usize, bRows: i32): void {
  for (let r = 0; r < rows; r++) {
    const xo = x + ((<usize>r * <usize>width) << 2);
    const oo = out + ((<usize>r * <usize>width) << 2);
    // Four floats a step as two f64x2 (independent sums, so the adds overlap); the tail one at a time.
    const body = width & ~3;
    let lo = f64x2.splat(0);
    let hi = f64x2.splat(0);
    for (let i = 0; i < body; i += 4) {
      const v = v128.load(xo + (<usize>i << 2));
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
    }
    let sum: f64 = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
    for (let i = body; i < width; i++) sum += <f64>load<f32>(xo + (<usize>i << 2));
    const mean = sum / <f64>width;
    const mm = f64x2.splat(mean);
    lo = f64x2.splat(0);
    hi = f64x2.splat(0);
    for (let i = 0; i < body; i += 4) {
      const v = v128.load(xo + (<usize>i << 2));
      const a = f64x2.sub(f64x2.promote_low_f32x4(v), mm);
      const b = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), mm);
      lo = f64x2.add(lo, f64x2.mul(a, a));
      hi = f64x2.add(hi, f64x2.mul(b, b));
    }
    let sq: f64 = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
    for (let i = body; i < width; i++) {
      const d = <f64>load<f32>(xo + (<usize>i << 2)) - mean;
      sq += d * d;
    }
    const inv = <f32>(1 / Math.sqrt(sq / <f64>width + <f64>eps));
    const m = f32x4.splat(<f32>mean);
    const k = f32x4.splat(inv);
    const so = scale ? scale + ((<usize>(r % sRows) * <usize>width) << 2) : 0;
    const bo = bias ? bias + ((<usize>(r % bRows) * <usize>width) << 2) : 0;
    for (let i = 0; i < width; i += 4) {
      const n = width - i;
      const at = <usize>i << 2;
      let v = f32x4.mul(f32x4.sub(loadN(xo + at, n), m), k);
      if (so) v = f32x4.mul(v, loadN(so + at, n));
      if (bo) v = f32x4.add(v, loadN(bo + at, n));
      storeN(oo + at, v, n);
    }
  }
}

/**
 * C[t] = A[t] B[t] for t < batches: A [m, k] at a + aBases[t], B [k, o] at b + bBases[t] (i32 element
 * offsets), C [m, o] at c + t * m * o. Four output columns at a time: the inner loop is over k, each step a
 * broadcast of A[i, p] times B[p, j..j+3].
 */
export function batchedMatmul(a: usize, b: usize, c: usize, aBases: usize, bBases: usize, batches: i32, m: i32, k: i32, o: i32): void {
  for (let t = 0; t < batches; t++) {
    const ao = a + (<usize>load<i32>(aBases + (<usize>t << 2)) << 2);
    const bo = b + (<usize>load<i32>(bBases + (<usize>t << 2)) << 2);
    const co = c + ((<usize>t * <usize>m * <usize>o) << 2);
    for (let i = 0; i < m; i++) {
      const ar = ao + ((<usize>i * <usize>k) << 2);
      const cr = co + ((<usize>i * <usize>o) << 2);
      for (let j = 0; j < o; j += 4) {
        const n = o - j;
        let acc = f32x4.splat(0);
        for (let p = 0; p < k; p++) {
          const x = v128.load32_splat(ar + (<usize>p << 2));
          acc = f32x4.add(acc, f32x4.mul(x, loadN(bo + ((<usize>p * <usize>o + <usize>j) << 2), n)));
        }
        storeN(cr + (<usize>j << 2), acc, n);
      }
    }
  }
}

/**
 * Softmax of each row of `len` floats, rows x len. (LogSoftmax stays on the js loop: Math.log would bring
 * a lookup table into the data segment, which the imported memory, the compiler's arena, cannot spare.)
 */
export function softmaxRows(x: usize, out: usize, rows: i32, len: i32): void {
  for (let r = 0; r < rows; r++) {
    const xo = x + ((<usize>r * <usize>len) << 2);
    const oo = out + ((<usize>r * <usize>len) << 2);
    const body = len & ~3;
    let mv = f32x4.splat(-Infinity);
    // The shift only (pmax: one instruction; a NaN stays NaN through the exp).
    for (let i = 0; i < body; i += 4) mv = f32x4.pmax(mv, v128.load(xo + (<usize>i << 2)));
    let mx: f32 = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let i = body; i < len; i++) mx = max(mx, load<f32>(xo + (<usize>i << 2)));
    const m = f32x4.splat(mx);
    let sum = f32x4.splat(0);
    for (let i = 0; i < len; i += 4) {
      const n = len - i;
      const e = exp4(f32x4.sub(loadN(xo + (<usize>i << 2), n), m));
      // Lanes past the row's end are exp(0 - max): keep them out of the sum.
      sum = f32x4.add(sum, n >= 4 ? e : v128.and(e, i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(n))));
      storeN(oo + (<usize>i << 2), e, n);
    }
    const inv = f32x4.splat(1 / (f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3)));
    for (let i = 0; i < len; i += 4) {
      const n = len - i;
      storeN(oo + (<usize>i << 2), f32x4.mul(loadN(oo + (<usize>i << 2), n), inv), n);
    }
  }
}

/**
 * C[t] = A[t] B[t]^T for t < batches: A [m, k], B [o, k] (a Transpose of the last two axes read in place),
 * C [m, o]. Each output a dot product of two contiguous rows of k.
 */
export function batchedMatmulT(a: usize, b: usize, c: usize, aBases: usize, bBases: usize, batches: i32, m: i32, k: i32, o: i32): void {
  for (let t = 0; t < batches; t++) {
    const ao = a + (<usize>load<i32>(aBases + (<usize>t << 2)) << 2);
    const bo = b + (<usize>load<i32>(bBases + (<usize>t << 2)) << 2);
    const co = c + ((<usize>t * <usize>m * <usize>o) << 2);
    for (let i = 0; i < m; i++) {
      const ar = ao + ((<usize>i * <usize>k) << 2);
      // Four outputs a step: four dot products in flight, one horizontal sum for the four. Rows past o
      // repeat the last (their lanes are not stored).
      for (let j = 0; j < o; j += 4) {
        const b0 = bo + ((<usize>j * <usize>k) << 2);
        const b1 = bo + ((<usize>min(j + 1, o - 1) * <usize>k) << 2);
        const b2 = bo + ((<usize>min(j + 2, o - 1) * <usize>k) << 2);
        const b3 = bo + ((<usize>min(j + 3, o - 1) * <usize>k) << 2);
        storeN(co + ((<usize>(i * o + j)) << 2), shortDot1x4(ar, b0, b1, b2, b3, k), o - j);
      }
    }
  }
}

/** Copies `count` runs: the table holds [from, to, floats] per run (byte offsets, float counts). */
export function copyRuns(table: usize, count: i32): void {
  for (let r = 0; r < count; r++) {
    const e = table + <usize>r * 12;
    memory.copy(<usize>load<i32>(e, 4), <usize>load<i32>(e), <usize>load<i32>(e, 8) << 2);
  }
}

/**
 * Row-structured copies (a concatenation of context and candidate pieces, row by row): for each of `rows`
 * rows and each of `count` segments [from, fromStride, to, floats] (byte offsets and strides; a stride of 0
 * repeats one row, a context piece), copy the segment's floats of that row into the output row.
 */
export function copySegments(out: usize, outStride: i32, rows: i32, table: usize, count: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = out + <usize>r * <usize>outStride;
    for (let s = 0; s < count; s++) {
      const e = table + <usize>s * 16;
      const from = <usize>load<i32>(e) + <usize>r * <usize>load<i32>(e, 4);
      const to = o + <usize>load<i32>(e, 8);
      const n = load<i32>(e, 12);
      let i = 0;
      for (; i + 4 <= n; i += 4) v128.store(to + (<usize>i << 2), v128.load(from + (<usize>i << 2)));
      if (i < n) storeN(to + (<usize>i << 2), loadN(from + (<usize>i << 2), n - i), n - i);
    }
  }
}

/**
 * Gather by runtime ids (embedding lookups): for each of `outer` blocks and each of `count` i32 ids at
 * `ids` (negative counts from the end), copy row id of `dim` rows of `inner` floats (or i32s) from `data`
 * to `out`. Returns the first id outside [-dim, dim) or, when every id is in range, i32.MIN_VALUE.
 */
export function gatherRows(data: usize, ids: usize, count: i32, outer: i32, dim: i32, inner: i32, out: usize): i32 {
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < count; j++) {
      const raw = load<i32>(ids + (<usize>j << 2));
      const i = raw < 0 ? raw + dim : raw;
      if (i < 0 || i >= dim) return raw;
      const from = data + (<usize>o * <usize>dim + <usize>i) * rowBytes;
      const to = out + (<usize>o * <usize>count + <usize>j) * rowBytes;
      let k = 0;
      for (; k + 4 <= inner; k += 4) v128.store(to + (<usize>k << 2), v128.load(from + (<usize>k << 2)));
      if (k < inner) storeN(to + (<usize>k << 2), loadN(from + (<usize>k << 2), inner - k), inner - k);
    }
  return i32.MIN_VALUE;
}
