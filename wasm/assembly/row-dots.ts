/**
 * A layer of one output (the score head: x W with W [k, 1]) as dot products of rows, four rows a step:
 * the packed GEMM would pad its one column to a panel of 16.
 */
import { activate4, loadN, shortDot1x4, storeN } from './simd';

/**
 * out[r] = act(x[r] . w + bias + add[r * addStride]) for r < rows (x [rows, k] row-major; add: 0 for none,
 * addStride 0 for one value for all rows); act as activate4 (0 none, 1 relu, 2 sigmoid).
 */
export function rowDots(x: usize, rows: i32, k: i32, w: usize, bias: f32, add: usize, addStride: i32, act: i32, out: usize): void {
  const rowBytes = <usize>k << 2;
  const b = f32x4.splat(bias);
  for (let r = 0; r < rows; r += 4) {
    const n = rows - r;
    // Rows past the last repeat it (their lanes are not stored).
    const x0 = x + <usize>r * rowBytes;
    const x1 = x + <usize>min(r + 1, rows - 1) * rowBytes;
    const x2 = x + <usize>min(r + 2, rows - 1) * rowBytes;
    const x3 = x + <usize>min(r + 3, rows - 1) * rowBytes;
    let v = f32x4.add(shortDot1x4(w, x0, x1, x2, x3, k), b);
    if (add) v = f32x4.add(v, addStride == 0 ? v128.load32_splat(add) : loadN(add + (<usize>r << 2), n));
    storeN(out + (<usize>r << 2), activate4(v, act), n);
  }
}
