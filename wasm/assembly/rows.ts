/**
 * Row-wise kernels: embedding gather with pooling, row copies, the DCN cross update, column sums
 * and in-place activation. A stride of 0 reads one row for every row (a broadcast ctx row).
 */
import { activate4, hsum, loadN, madd, storeN } from './simd';

/**
 * For each row r < rows: out[r*outStride + d] (d < dim) = sum (mean when mean = 1 and the row has
 * at least one id; zeros when it has none) of the table rows ids[offsets[r] .. offsets[r+1]); the
 * table is row-major [*, dim]; offsets (rows + 1 entries) and ids are i32 arrays.
 */
export function gather(table: usize, dim: i32, offsets: usize, ids: usize, rows: i32, out: usize, outStride: i32, mean: i32): void {
  const vec = <usize>dim << 2;
  for (let r = 0; r < rows; r++) {
    const begin = load<i32>(offsets + (<usize>r << 2));
    const end = load<i32>(offsets + (<usize>r << 2), 4);
    const o = out + ((<usize>r * <usize>outStride) << 2);
    const count = f32x4.splat(<f32>(end - begin));
    for (let d = 0; d < dim; d += 8) {
      const n = dim - d;
      const col = <usize>d << 2;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
      for (let i = begin; i < end; i++) {
        const row = table + <usize>load<i32>(ids + (<usize>i << 2)) * vec + col;
        s0 = f32x4.add(s0, loadN(row, n));
        s1 = f32x4.add(s1, loadN(row + 16, n - 4));
      }
      if (mean && end > begin) {
        s0 = f32x4.div(s0, count);
        s1 = f32x4.div(s1, count);
      }
      storeN(o + col, s0, n);
      storeN(o + col + 16, s1, n - 4);
    }
  }
}

/** out[r*outStride + i] = src[r*srcStride + i] for r < rows, i < width. */
export function copyRows(src: usize, srcStride: i32, out: usize, outStride: i32, rows: i32, width: i32): void {
  for (let r = 0; r < rows; r++) {
    const s = src + ((<usize>r * <usize>srcStride) << 2);
    const o = out + ((<usize>r * <usize>outStride) << 2);
    let i = 0;
    for (; i + 4 <= width; i += 4) v128.store(o + (<usize>i << 2), v128.load(s + (<usize>i << 2)));
    if (i < width) storeN(o + (<usize>i << 2), loadN(s + (<usize>i << 2), width - i), width - i);
  }
}

/** DCN update: out = x0 * z + x elementwise over rows x width (each operand with its own stride). */
export function cross(x0: usize, x0Stride: i32, z: usize, zStride: i32, x: usize, xStride: i32, out: usize, outStride: i32, rows: i32, width: i32): void {
  for (let r = 0; r < rows; r++) {
    const a = x0 + ((<usize>r * <usize>x0Stride) << 2);
    const b = z + ((<usize>r * <usize>zStride) << 2);
    const c = x + ((<usize>r * <usize>xStride) << 2);
    const o = out + ((<usize>r * <usize>outStride) << 2);
    for (let i = 0; i < width; i += 4) {
      const n = width - i;
      const at = <usize>i << 2;
      storeN(o + at, madd(loadN(a + at, n), loadN(b + at, n), loadN(c + at, n)), n);
    }
  }
}

/** acc[r*accStride] += sum of the width floats of src row r (at src + r*srcStride*4), r < rows. */
export function sumColumns(src: usize, srcStride: i32, width: i32, rows: i32, acc: usize, accStride: i32): void {
  for (let r = 0; r < rows; r++) {
    const s = src + ((<usize>r * <usize>srcStride) << 2);
    let v0 = f32x4.splat(0), v1 = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= width; i += 8) {
      v0 = f32x4.add(v0, v128.load(s + (<usize>i << 2)));
      v1 = f32x4.add(v1, v128.load(s + (<usize>i << 2), 16));
    }
    for (; i < width; i += 4) v0 = f32x4.add(v0, loadN(s + (<usize>i << 2), width - i));
    const a = acc + ((<usize>r * <usize>accStride) << 2);
    store<f32>(a, load<f32>(a) + hsum(f32x4.add(v0, v1)));
  }
}

/** In place: ptr[r*stride + i] = act(ptr[r*stride + i]) for r < rows, i < width (act 0 none, 1 relu, 2 sigmoid). */
export function activate(ptr: usize, stride: i32, rows: i32, width: i32, act: i32): void {
  if (act == 0) return;
  for (let r = 0; r < rows; r++) {
    const p = ptr + ((<usize>r * <usize>stride) << 2);
    for (let i = 0; i < width; i += 4) {
      const n = width - i;
      storeN(p + (<usize>i << 2), activate4(loadN(p + (<usize>i << 2), n), act), n);
    }
  }
}
