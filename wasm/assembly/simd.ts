/**
 * SIMD building blocks shared by the kernels: the multiply-add of the build variant, partial loads
 * and stores for the ragged ends of rows, horizontal reductions, a table-free exp, activations and
 * dot products.
 */

/** a * b + c: one FMA instruction in the relaxed-SIMD build, a multiply and an add otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** The first n (0..4) floats at p in the low lanes, zeros above; reads nothing past p + 4n. */
// @ts-ignore: decorator
@inline export function loadN(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  if (n == 3) return v128.load32_lane(p, v128.load64_zero(p), 2, 8);
  if (n == 2) return v128.load64_zero(p);
  if (n == 1) return v128.load32_zero(p);
  return f32x4.splat(0);
}

/** Stores the low n (0..4) lanes of v at p; writes nothing past p + 4n. */
// @ts-ignore: decorator
@inline export function storeN(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
  } else if (n == 3) {
    v128.store64_lane(p, v, 0);
    v128.store32_lane(p, v, 2, 8);
  } else if (n == 2) {
    v128.store64_lane(p, v, 0);
  } else if (n == 1) {
    v128.store32_lane(p, v, 0);
  }
}

/** Sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/**
 * Largest of the four lanes, for a softmax's shift (pmax: one instruction; a NaN lane may be passed over
 * here, but it stays NaN through the exp after, so the softmax is NaN as it should be).
 */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const m = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)]: four horizontal sums packed into one vector. */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/**
 * dot1x4 for short rows (attention heads, field vectors), inlined: [x.k0, x.k1, x.k2, x.k3] over n floats,
 * four sums in flight, one horizontal sum for the four, the tail masked by loadN.
 */
// @ts-ignore: decorator
@inline export function shortDot1x4(x: usize, k0: usize, k1: usize, k2: usize, k3: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let p = 0; p < n; p += 4) {
    const left = n - p;
    const at = <usize>p << 2;
    const v = loadN(x + at, left);
    a0 = f32x4.add(a0, f32x4.mul(v, loadN(k0 + at, left)));
    a1 = f32x4.add(a1, f32x4.mul(v, loadN(k1 + at, left)));
    a2 = f32x4.add(a2, f32x4.mul(v, loadN(k2 + at, left)));
    a3 = f32x4.add(a3, f32x4.mul(v, loadN(k3 + at, left)));
  }
  return hsum4(a0, a1, a2, a3);
}

/**
 * e^x on each lane, table-free (Mathf.exp would put its lookup table in the caller's memory):
 * x = n ln2 + r with |r| <= ln2 / 2, e^r by the Cephes expf polynomial (about 1 ulp), times 2^n
 * built in the exponent bits. Lanes below -87.3 give 0 (-inf included), above 88.3 +inf; NaN stays NaN.
 */
function expLanes(x: v128): v128 {
  const lo = f32x4.splat(-87.3);
  const hi = f32x4.splat(88.3);
  // pmin/pmax (one instruction each; min/max carry NaN and -0 fixups), in the order that keeps a NaN x.
  const c = f32x4.pmin(f32x4.pmax(x, lo), hi);
  // n = round(c log2 e) by the 1.5 * 2^23 shifter: t's low mantissa bits hold n, t - shifter is n as a float
  // (no nearest, no float-to-int conversion).
  const shifter = f32x4.splat(12582912.0);
  const t = madd(c, f32x4.splat(1.44269504089), shifter);
  const n = f32x4.sub(t, shifter);
  let r = madd(n, f32x4.splat(-0.693359375), c);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  let p = madd(f32x4.splat(1.9875691500e-4), r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = madd(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1)));
  // 2^n in the exponent bits: t's bits are 0x4B400000 + n.
  const scale = i32x4.shl(i32x4.add(t, i32x4.splat(127 - 0x4b400000)), 23);
  const y = f32x4.mul(p, scale);
  return v128.bitselect(f32x4.splat(Infinity), v128.andnot(y, f32x4.lt(x, lo)), f32x4.gt(x, hi));
}

/** e^x on each lane (expLanes; out-of-line functions exchanging v128 are exported only through inline wrappers). */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  return expLanes(x);
}

/** e^x for one float (lane 0 of exp4). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** The logistic function 1 / (1 + e^-x) on each lane. */
function sigmoid4(v: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expLanes(f32x4.neg(v))));
}

/** Activation code 0 none, 1 relu, 2 sigmoid, lane by lane. */
// @ts-ignore: decorator
@inline export function activate4(v: v128, act: i32): v128 {
  if (act == 1) return f32x4.pmax(f32x4.splat(0), v);
  if (act == 2) return sigmoid4(v);
  return v;
}

/**
 * Dot product of n floats at a and b: four accumulators over steps of 4 floats, unrolled by four
 * with each later step in its own block (see gemm.ts), then the partial tail.
 */
export function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  const steps = n >> 2;
  let p = a, q = b;
  for (let i = 0; i < steps; i += 4) {
    s0 = madd(v128.load(p), v128.load(q), s0);
    if (i + 1 < steps) s1 = madd(v128.load(p, 16), v128.load(q, 16), s1);
    if (i + 2 < steps) s2 = madd(v128.load(p, 32), v128.load(q, 32), s2);
    if (i + 3 < steps) s3 = madd(v128.load(p, 48), v128.load(q, 48), s3);
    p += 64;
    q += 64;
  }
  const rest = n & 3;
  if (rest) {
    const done = <usize>steps << 4;
    s0 = madd(loadN(a + done, rest), loadN(b + done, rest), s0);
  }
  return hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
}

/**
 * [<a, b0>, <a, b1>, <a, b2>, <a, b3>] over n floats: per step of 4 floats one load of a, four of b;
 * unrolled by four with each later step in its own block (see gemm.ts), even and odd steps in
 * separate accumulators (8 chains hide the FMA latency).
 */
export function dot1x4(a: usize, b0: usize, b1: usize, b2: usize, b3: usize, n: i32): v128 {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
  const steps = n >> 2;
  let p = a, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
  for (let i = 0; i < steps; i += 4) {
    let x = v128.load(p);
    c0 = madd(x, v128.load(q0), c0); c1 = madd(x, v128.load(q1), c1);
    c2 = madd(x, v128.load(q2), c2); c3 = madd(x, v128.load(q3), c3);
    if (i + 1 < steps) {
      x = v128.load(p, 16);
      d0 = madd(x, v128.load(q0, 16), d0); d1 = madd(x, v128.load(q1, 16), d1);
      d2 = madd(x, v128.load(q2, 16), d2); d3 = madd(x, v128.load(q3, 16), d3);
    }
    if (i + 2 < steps) {
      x = v128.load(p, 32);
      c0 = madd(x, v128.load(q0, 32), c0); c1 = madd(x, v128.load(q1, 32), c1);
      c2 = madd(x, v128.load(q2, 32), c2); c3 = madd(x, v128.load(q3, 32), c3);
    }
    if (i + 3 < steps) {
      x = v128.load(p, 48);
      d0 = madd(x, v128.load(q0, 48), d0); d1 = madd(x, v128.load(q1, 48), d1);
      d2 = madd(x, v128.load(q2, 48), d2); d3 = madd(x, v128.load(q3, 48), d3);
    }
    p += 64; q0 += 64; q1 += 64; q2 += 64; q3 += 64;
  }
  const rest = n & 3;
  if (rest) {
    const done = <usize>steps << 4;
    const x = loadN(a + done, rest);
    c0 = madd(x, loadN(b0 + done, rest), c0); c1 = madd(x, loadN(b1 + done, rest), c1);
    c2 = madd(x, loadN(b2 + done, rest), c2); c3 = madd(x, loadN(b3 + done, rest), c3);
  }
  return hsum4(f32x4.add(c0, d0), f32x4.add(c1, d1), f32x4.add(c2, d2), f32x4.add(c3, d3));
}

/**
 * [<a0, b0>, <a1, b1>, <a2, b2>, <a3, b3>] over n floats: four independent dot products, unrolled by
 * two with the second step in its own block (see gemm.ts).
 */
export function dot4(a0: usize, a1: usize, a2: usize, a3: usize, b0: usize, b1: usize, b2: usize, b3: usize, n: i32): v128 {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const steps = n >> 2;
  let p0 = a0, p1 = a1, p2 = a2, p3 = a3, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
  for (let i = 0; i < steps; i += 2) {
    c0 = madd(v128.load(p0), v128.load(q0), c0); c1 = madd(v128.load(p1), v128.load(q1), c1);
    c2 = madd(v128.load(p2), v128.load(q2), c2); c3 = madd(v128.load(p3), v128.load(q3), c3);
    if (i + 1 < steps) {
      c0 = madd(v128.load(p0, 16), v128.load(q0, 16), c0); c1 = madd(v128.load(p1, 16), v128.load(q1, 16), c1);
      c2 = madd(v128.load(p2, 16), v128.load(q2, 16), c2); c3 = madd(v128.load(p3, 16), v128.load(q3, 16), c3);
    }
    p0 += 32; p1 += 32; p2 += 32; p3 += 32; q0 += 32; q1 += 32; q2 += 32; q3 += 32;
  }
  const rest = n & 3;
  if (rest) {
    const done = <usize>steps << 4;
    c0 = madd(loadN(a0 + done, rest), loadN(b0 + done, rest), c0); c1 = madd(loadN(a1 + done, rest), loadN(b1 + done, rest), c1);
    c2 = madd(loadN(a2 + done, rest), loadN(b2 + done, rest), c2); c3 = madd(loadN(a3 + done, rest), loadN(b3 + done, rest), c3);
  }
  return hsum4(c0, c1, c2, c3);
}
