/**
 * Dense layer GEMM: out = act(x W^T + bias + add), W packed once at load time into panels of 16
 * output columns, k-major: panel p holds W[16p .. 16p+16, k] for k = 0 .. inDim (64 bytes per k),
 * zero-padded past outDim.
 *
 * Micro-kernel: a 2-row x 16-column tile of 8 accumulators (per k: four vector loads of the panel,
 * two splat loads of x, eight FMAs). V8 (TurboFan) hoists every load of a basic block to its top
 * and has 15 allocatable xmm registers, so a block may hold at most 8 accumulators + 6 loaded
 * values; taller tiles (4x8 with 4 splats, 5x8, 6x8, 3x12) spill or issue more splats per FMA,
 * which measured slower (bench/gemm.ts). The k loop is unrolled by two with the second step
 * behind `if (k + 1 < inDim)`: the branch keeps the second step's loads in their own block (no
 * spills) while halving the loop overhead, and handles odd inDim.
 */
import { activate4, loadN, madd, storeN } from './simd';

/** Output columns per packed panel. */
const NR = 16;
/** Bytes of one k step of a panel. */
const STEP: usize = NR * 4;

/** Floats needed by packWeight's output for a canonical [outDim, inDim] weight. */
export function packedLength(inDim: i32, outDim: i32): i32 {
  return ((outDim + NR - 1) / NR) * NR * inDim;
}

/**
 * Packs the row-major [outDim, inDim] weight at src (y = x W^T) into panels of 16 output columns,
 * k-major, zero-padded to a multiple of 16 columns, at dst (packedLength(inDim, outDim) floats).
 */
export function packWeight(src: usize, inDim: i32, outDim: i32, dst: usize): void {
  const panels = (outDim + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    for (let k = 0; k < inDim; k++) {
      const to = dst + <usize>(p * inDim + k) * STEP;
      for (let c = 0; c < NR; c++) {
        const o = p * NR + c;
        store<f32>(to + (<usize>c << 2), o < outDim ? load<f32>(src + (<usize>(o * inDim + k) << 2)) : 0);
      }
    }
  }
}

/**
 * out[r*outStride + o] = act(sum_k x[r*xStride + k] W[o, k] + bias[o] + add[r*addStride + o]) for
 * r < rows, o < outDim, with W packed by packWeight. bias and add are optional (pointer 0); an
 * addStride of 0 broadcasts one add row to every row; act is 0 none, 1 relu, 2 sigmoid. Writes
 * only columns o < outDim of each output row; x rows need no alignment.
 */
export function gemm(
  x: usize, xStride: i32, rows: i32, w: usize, inDim: i32, outDim: i32,
  bias: usize, add: usize, addStride: i32, out: usize, outStride: i32, act: i32,
): void {
  const xs = <usize>xStride << 2;
  const as = <usize>addStride << 2;
  const os = <usize>outStride << 2;
  const panelBytes = <usize>inDim * STEP;
  for (let col = 0; col < outDim; col += NR) {
    const n = min(NR, outDim - col);
    const wp = w + <usize>(col / NR) * panelBytes;
    const colBytes = <usize>col << 2;
    const biasCol = bias ? bias + colBytes : 0;
    const addCol = add ? add + colBytes : 0;
    let r = 0;
    if (n > 8) {
      for (; r + 2 <= rows; r += 2) {
        tile2x16(x + <usize>r * xs, xs, wp, inDim, biasCol, addCol ? addCol + <usize>r * as : 0, as, out + <usize>r * os + colBytes, os, n, act);
      }
    } else {
      // A narrow last panel: only its first 8 columns are computed, 4 rows at a time.
      for (; r + 4 <= rows; r += 4) {
        tile4x8(x + <usize>r * xs, xs, wp, inDim, biasCol, addCol ? addCol + <usize>r * as : 0, as, out + <usize>r * os + colBytes, os, n, act);
      }
    }
    for (; r < rows; r++) {
      tile1x16(x + <usize>r * xs, wp, inDim, biasCol, addCol ? addCol + <usize>r * as : 0, out + <usize>r * os + colBytes, n, act);
    }
  }
}

/** Adds bias and add (each optional), activates and stores the n (1..16) valid columns of one row. */
// @ts-ignore: decorator
@inline function finish(c0: v128, c1: v128, c2: v128, c3: v128, bias: usize, add: usize, out: usize, n: i32, act: i32): void {
  if (bias) {
    c0 = f32x4.add(c0, loadN(bias, n));
    c1 = f32x4.add(c1, loadN(bias + 16, n - 4));
    c2 = f32x4.add(c2, loadN(bias + 32, n - 8));
    c3 = f32x4.add(c3, loadN(bias + 48, n - 12));
  }
  if (add) {
    c0 = f32x4.add(c0, loadN(add, n));
    c1 = f32x4.add(c1, loadN(add + 16, n - 4));
    c2 = f32x4.add(c2, loadN(add + 32, n - 8));
    c3 = f32x4.add(c3, loadN(add + 48, n - 12));
  }
  storeN(out, activate4(c0, act), n);
  if (n > 4) storeN(out + 16, activate4(c1, act), n - 4);
  if (n > 8) storeN(out + 32, activate4(c2, act), n - 8);
  if (n > 12) storeN(out + 48, activate4(c3, act), n - 12);
}

/** Two rows x one 16-column panel: 8 accumulators, k unrolled by two (see the file comment). */
function tile2x16(x: usize, xs: usize, wp: usize, inDim: i32, bias: usize, add: usize, as: usize, out: usize, os: usize, n: i32, act: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let x0 = x, x1 = x + xs;
  for (let k = 0; k < inDim; k += 2) {
    let w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32), w3 = v128.load(wp, 48);
    let s0 = v128.load32_splat(x0), s1 = v128.load32_splat(x1);
    c00 = madd(s0, w0, c00); c01 = madd(s0, w1, c01); c02 = madd(s0, w2, c02); c03 = madd(s0, w3, c03);
    c10 = madd(s1, w0, c10); c11 = madd(s1, w1, c11); c12 = madd(s1, w2, c12); c13 = madd(s1, w3, c13);
    if (k + 1 < inDim) {
      w0 = v128.load(wp, 64); w1 = v128.load(wp, 80); w2 = v128.load(wp, 96); w3 = v128.load(wp, 112);
      s0 = v128.load32_splat(x0, 4); s1 = v128.load32_splat(x1, 4);
      c00 = madd(s0, w0, c00); c01 = madd(s0, w1, c01); c02 = madd(s0, w2, c02); c03 = madd(s0, w3, c03);
      c10 = madd(s1, w0, c10); c11 = madd(s1, w1, c11); c12 = madd(s1, w2, c12); c13 = madd(s1, w3, c13);
    }
    x0 += 8; x1 += 8;
    wp += 2 * STEP;
  }
  finish(c00, c01, c02, c03, bias, add, out, n, act);
  finish(c10, c11, c12, c13, bias, add ? add + as : 0, out + os, n, act);
}

/** Four rows x the first 8 columns of a panel (n <= 8): 8 accumulators, k unrolled by two. */
function tile4x8(x: usize, xs: usize, wp: usize, inDim: i32, bias: usize, add: usize, as: usize, out: usize, os: usize, n: i32, act: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let x0 = x, x1 = x + xs, x2 = x + 2 * xs, x3 = x + 3 * xs;
  for (let k = 0; k < inDim; k += 2) {
    let w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let s = v128.load32_splat(x0);
    c00 = madd(s, w0, c00); c01 = madd(s, w1, c01);
    s = v128.load32_splat(x1);
    c10 = madd(s, w0, c10); c11 = madd(s, w1, c11);
    s = v128.load32_splat(x2);
    c20 = madd(s, w0, c20); c21 = madd(s, w1, c21);
    s = v128.load32_splat(x3);
    c30 = madd(s, w0, c30); c31 = madd(s, w1, c31);
    if (k + 1 < inDim) {
      w0 = v128.load(wp, 64); w1 = v128.load(wp, 80);
      s = v128.load32_splat(x0, 4);
      c00 = madd(s, w0, c00); c01 = madd(s, w1, c01);
      s = v128.load32_splat(x1, 4);
      c10 = madd(s, w0, c10); c11 = madd(s, w1, c11);
      s = v128.load32_splat(x2, 4);
      c20 = madd(s, w0, c20); c21 = madd(s, w1, c21);
      s = v128.load32_splat(x3, 4);
      c30 = madd(s, w0, c30); c31 = madd(s, w1, c31);
    }
    x0 += 8; x1 += 8; x2 += 8; x3 += 8;
    wp += 2 * STEP;
  }
  const zero = f32x4.splat(0);
  finish(c00, c01, zero, zero, bias, add, out, n, act);
  finish(c10, c11, zero, zero, bias, add ? add + as : 0, out + os, n, act);
  finish(c20, c21, zero, zero, bias, add ? add + 2 * as : 0, out + 2 * os, n, act);
  finish(c30, c31, zero, zero, bias, add ? add + 3 * as : 0, out + 3 * os, n, act);
}

/** One row x one panel: even and odd k go to separate accumulators (8 chains hide FMA latency). */
function tile1x16(x: usize, wp: usize, inDim: i32, bias: usize, add: usize, out: usize, n: i32, act: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
  for (let k = 0; k < inDim; k += 2) {
    let s = v128.load32_splat(x);
    c0 = madd(s, v128.load(wp), c0); c1 = madd(s, v128.load(wp, 16), c1);
    c2 = madd(s, v128.load(wp, 32), c2); c3 = madd(s, v128.load(wp, 48), c3);
    if (k + 1 < inDim) {
      s = v128.load32_splat(x, 4);
      d0 = madd(s, v128.load(wp, 64), d0); d1 = madd(s, v128.load(wp, 80), d1);
      d2 = madd(s, v128.load(wp, 96), d2); d3 = madd(s, v128.load(wp, 112), d3);
    }
    x += 8;
    wp += 2 * STEP;
  }
  finish(f32x4.add(c0, d0), f32x4.add(c1, d1), f32x4.add(c2, d2), f32x4.add(c3, d3), bias, add, out, n, act);
}
