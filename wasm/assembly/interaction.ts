/**
 * Feature-interaction kernels: explicit dot-product pairs (DLRM), the target-anchored outer product
 * (rank-aware DLRM), and the factorization-machine second order term (DeepFM).
 */
import { dot, dot1x4, dot4, hsum, hsum4, loadN, madd, storeN } from './simd';

/**
 * out[r*outStride + p] = <a_i, b_j> for p < count, (i, j) = (pairList[2p], pairList[2p+1]) (i32),
 * vector i of row r at a + (r*aStride + i*dim)*4 (likewise b); strides of 0 broadcast one row.
 */
export function pairs(a: usize, aStride: i32, b: usize, bStride: i32, dim: i32, pairList: usize, count: i32, rows: i32, out: usize, outStride: i32): void {
  const vec = <usize>dim << 2;
  for (let r = 0; r < rows; r++) {
    const ar = a + ((<usize>r * <usize>aStride) << 2);
    const br = b + ((<usize>r * <usize>bStride) << 2);
    const or = out + ((<usize>r * <usize>outStride) << 2);
    let p = 0;
    // Four pairs at a time; runs of pairs sharing their first vector (DLRM order) load it once.
    for (; p + 4 <= count; p += 4) {
      const l = pairList + (<usize>p << 3);
      const i0 = load<i32>(l), i1 = load<i32>(l, 8), i2 = load<i32>(l, 16), i3 = load<i32>(l, 24);
      const b0 = br + <usize>load<i32>(l, 4) * vec, b1 = br + <usize>load<i32>(l, 12) * vec;
      const b2 = br + <usize>load<i32>(l, 20) * vec, b3 = br + <usize>load<i32>(l, 28) * vec;
      const v = i0 == i1 && i0 == i2 && i0 == i3
        ? dot1x4(ar + <usize>i0 * vec, b0, b1, b2, b3, dim)
        : dot4(ar + <usize>i0 * vec, ar + <usize>i1 * vec, ar + <usize>i2 * vec, ar + <usize>i3 * vec, b0, b1, b2, b3, dim);
      v128.store(or + (<usize>p << 2), v);
    }
    for (; p < count; p++) {
      const l = pairList + (<usize>p << 3);
      store<f32>(or + (<usize>p << 2), dot(ar + <usize>load<i32>(l) * vec, br + <usize>load<i32>(l, 4) * vec, dim));
    }
  }
}

/**
 * out[r*outStride + m*nb + k] = <a_m, b_k> for m < na, k < nb: vector m of row r at
 * a + (r*aStride + m*dim)*4, vector k at b + (r*bStride + k*dim)*4. With bStride 0 every row's
 * target vectors form one [rows*na, dim] x [dim, nb] product against the shared b vectors.
 */
export function outer(a: usize, aStride: i32, na: i32, b: usize, bStride: i32, nb: i32, dim: i32, rows: i32, out: usize, outStride: i32): void {
  if (bStride == 0) {
    outerBlock(a, aStride, na, b, nb, dim, 0, rows * na, out, outStride);
  } else {
    for (let r = 0; r < rows; r++) {
      outerBlock(a, aStride, na, b + ((<usize>r * <usize>bStride) << 2), nb, dim, r * na, r * na + na, out, outStride);
    }
  }
}

/**
 * Virtual rows v in [begin, end) (row v / na, vector v % na of a) against the nb vectors at b:
 * tiles of 2 a vectors x 4 b vectors, 8 vector accumulators reduced horizontally at the end; the
 * b vectors of a last partial group of 4 repeat the last one (computed, not stored).
 */
function outerBlock(a: usize, aStride: i32, na: i32, b: usize, nb: i32, dim: i32, begin: i32, end: i32, out: usize, outStride: i32): void {
  const vec = <usize>dim << 2;
  let v = begin;
  for (; v + 2 <= end; v += 2) {
    const a0 = vectorAt(a, aStride, na, dim, v);
    const a1 = vectorAt(a, aStride, na, dim, v + 1);
    const o0 = vectorAt(out, outStride, na, nb, v);
    const o1 = vectorAt(out, outStride, na, nb, v + 1);
    for (let k = 0; k < nb; k += 4) {
      const nk = min(4, nb - k);
      const b0 = b + <usize>k * vec;
      const b1 = b + <usize>(k + min(1, nk - 1)) * vec;
      const b2 = b + <usize>(k + min(2, nk - 1)) * vec;
      const b3 = b + <usize>(k + min(3, nk - 1)) * vec;
      dots2x4(a0, a1, b0, b1, b2, b3, dim, o0 + (<usize>k << 2), o1 + (<usize>k << 2), nk);
    }
  }
  if (v < end) {
    const a0 = vectorAt(a, aStride, na, dim, v);
    const o0 = vectorAt(out, outStride, na, nb, v);
    for (let k = 0; k < nb; k += 4) {
      const nk = min(4, nb - k);
      const b0 = b + <usize>k * vec;
      const b1 = b + <usize>(k + min(1, nk - 1)) * vec;
      const b2 = b + <usize>(k + min(2, nk - 1)) * vec;
      const b3 = b + <usize>(k + min(3, nk - 1)) * vec;
      storeN(o0 + (<usize>k << 2), dot1x4(a0, b0, b1, b2, b3, dim), nk);
    }
  }
}

/** Address of vector (v % per) of row (v / per), rows `stride` floats apart, vectors `len` apart. */
// @ts-ignore: decorator
@inline function vectorAt(base: usize, stride: i32, per: i32, len: i32, v: i32): usize {
  const r = v / per;
  return base + (<usize>(r * stride + (v - r * per) * len) << 2);
}

/**
 * The 2 x 4 dot products of a0, a1 with b0..b3 (dim floats each); stores the first nk per row.
 * Steps of 4 floats, unrolled by four with each later step in its own block behind its bound
 * check (as in gemm.ts: V8 hoists a block's loads, so one step per block keeps all in registers).
 */
function dots2x4(a0: usize, a1: usize, b0: usize, b1: usize, b2: usize, b3: usize, dim: i32, o0: usize, o1: usize, nk: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const steps = dim >> 2;
  let p0 = a0, p1 = a1, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
  for (let i = 0; i < steps; i += 4) {
    let x0 = v128.load(p0), x1 = v128.load(p1);
    let y0 = v128.load(q0), y1 = v128.load(q1), y2 = v128.load(q2), y3 = v128.load(q3);
    c00 = madd(x0, y0, c00); c01 = madd(x0, y1, c01); c02 = madd(x0, y2, c02); c03 = madd(x0, y3, c03);
    c10 = madd(x1, y0, c10); c11 = madd(x1, y1, c11); c12 = madd(x1, y2, c12); c13 = madd(x1, y3, c13);
    if (i + 1 < steps) {
      x0 = v128.load(p0, 16); x1 = v128.load(p1, 16);
      y0 = v128.load(q0, 16); y1 = v128.load(q1, 16); y2 = v128.load(q2, 16); y3 = v128.load(q3, 16);
      c00 = madd(x0, y0, c00); c01 = madd(x0, y1, c01); c02 = madd(x0, y2, c02); c03 = madd(x0, y3, c03);
      c10 = madd(x1, y0, c10); c11 = madd(x1, y1, c11); c12 = madd(x1, y2, c12); c13 = madd(x1, y3, c13);
    }
    if (i + 2 < steps) {
      x0 = v128.load(p0, 32); x1 = v128.load(p1, 32);
      y0 = v128.load(q0, 32); y1 = v128.load(q1, 32); y2 = v128.load(q2, 32); y3 = v128.load(q3, 32);
      c00 = madd(x0, y0, c00); c01 = madd(x0, y1, c01); c02 = madd(x0, y2, c02); c03 = madd(x0, y3, c03);
      c10 = madd(x1, y0, c10); c11 = madd(x1, y1, c11); c12 = madd(x1, y2, c12); c13 = madd(x1, y3, c13);
    }
    if (i + 3 < steps) {
      x0 = v128.load(p0, 48); x1 = v128.load(p1, 48);
      y0 = v128.load(q0, 48); y1 = v128.load(q1, 48); y2 = v128.load(q2, 48); y3 = v128.load(q3, 48);
      c00 = madd(x0, y0, c00); c01 = madd(x0, y1, c01); c02 = madd(x0, y2, c02); c03 = madd(x0, y3, c03);
      c10 = madd(x1, y0, c10); c11 = madd(x1, y1, c11); c12 = madd(x1, y2, c12); c13 = madd(x1, y3, c13);
    }
    p0 += 64; p1 += 64; q0 += 64; q1 += 64; q2 += 64; q3 += 64;
  }
  const rest = dim & 3;
  if (rest) {
    const done = <usize>steps << 4;
    const x0 = loadN(a0 + done, rest), x1 = loadN(a1 + done, rest);
    const y0 = loadN(b0 + done, rest), y1 = loadN(b1 + done, rest), y2 = loadN(b2 + done, rest), y3 = loadN(b3 + done, rest);
    c00 = madd(x0, y0, c00); c01 = madd(x0, y1, c01); c02 = madd(x0, y2, c02); c03 = madd(x0, y3, c03);
    c10 = madd(x1, y0, c10); c11 = madd(x1, y1, c11); c12 = madd(x1, y2, c12); c13 = madd(x1, y3, c13);
  }
  storeN(o0, hsum4(c00, c01, c02, c03), nk);
  storeN(o1, hsum4(c10, c11, c12, c13), nk);
}

/**
 * Context part of the FM second order: outSum[d] = sum of the count vectors (dim floats each,
 * contiguous at src); outFm[0] = 0.5 * (|sum|^2 - sum of |e|^2).
 */
export function fmContext(src: usize, count: i32, dim: i32, outSum: usize, outFm: usize): void {
  const vec = <usize>dim << 2;
  let norm = f32x4.splat(0), squares = f32x4.splat(0);
  for (let d = 0; d < dim; d += 4) {
    const n = dim - d;
    let s = f32x4.splat(0);
    let p = src + (<usize>d << 2);
    for (let f = 0; f < count; f++) {
      const e = loadN(p, n);
      s = f32x4.add(s, e);
      squares = madd(e, e, squares);
      p += vec;
    }
    storeN(outSum + (<usize>d << 2), s, n);
    norm = madd(s, s, norm);
  }
  store<f32>(outFm, 0.5 * (hsum(norm) - hsum(squares)));
}

/**
 * FM second order per row: out[r*outStride] = 0.5 * (|sum|^2 - sum |e|^2) over the count vectors of
 * row r (at src + r*srcStride*4, dim floats each). When ctxSum != 0 the context is included:
 * + ctxFm[0] + <ctxSum, sum> (ctxSum and ctxFm from fmContext).
 */
export function fm(src: usize, srcStride: i32, count: i32, dim: i32, ctxSum: usize, ctxFm: usize, rows: i32, out: usize, outStride: i32): void {
  const vec = <usize>dim << 2;
  for (let r = 0; r < rows; r++) {
    const row = src + ((<usize>r * <usize>srcStride) << 2);
    let norm = f32x4.splat(0), squares = f32x4.splat(0), cross = f32x4.splat(0);
    for (let d = 0; d < dim; d += 4) {
      const n = dim - d;
      let s = f32x4.splat(0);
      let p = row + (<usize>d << 2);
      for (let f = 0; f < count; f++) {
        const e = loadN(p, n);
        s = f32x4.add(s, e);
        squares = madd(e, e, squares);
        p += vec;
      }
      norm = madd(s, s, norm);
      if (ctxSum) cross = madd(loadN(ctxSum + (<usize>d << 2), n), s, cross);
    }
    let value: f32 = 0.5 * (hsum(norm) - hsum(squares));
    if (ctxSum) value += load<f32>(ctxFm) + hsum(cross);
    store<f32>(out + ((<usize>r * <usize>outStride) << 2), value);
  }
}
