/**
 * Scaled dot-product attention fused into one pass per query row (the ONNX compiler's lowering of
 * MatMul(Softmax(Q K^T * mul / div [+ mask]), V)): the row's scores over the keys, their softmax and the weighted sum
 * of the value rows, without writing the [m, o] score matrix between four kernels.
 */
import { shortDot1x4, exp4, hmax, hsum, loadN, storeN } from './simd';

/**
 * out[t] = softmax(Q[t] K[t]^T * mul / div) V[t] for t < batches: Q [m, dk] at q + qBases[t], K [o, dk] at
 * k + kBases[t], V [o, dv] at v + vBases[t] (i32 element offsets), out [m, dv] at out + t * m * dv.
 * `scores` is room for o floats rounded up to a multiple of 4. With `masked`, the o floats at `mask` (one row
 * for every query: a key mask of 0 and -1e9) are added to each row's scores before the softmax.
 */
export function attentionRows(q: usize, k: usize, v: usize, out: usize, qBases: usize, kBases: usize, vBases: usize, batches: i32, m: i32, o: i32, dk: i32, dv: i32, mul: f32, div: f32, scores: usize, mask: usize, masked: i32): void {
  const ms = f32x4.splat(mul);
  const ds = f32x4.splat(div);
  for (let t = 0; t < batches; t++) {
    const qo = q + (<usize>load<i32>(qBases + (<usize>t << 2)) << 2);
    const ko = k + (<usize>load<i32>(kBases + (<usize>t << 2)) << 2);
    const vo = v + (<usize>load<i32>(vBases + (<usize>t << 2)) << 2);
    for (let i = 0; i < m; i++) {
      const qr = qo + ((<usize>i * <usize>dk) << 2);
      // Four keys' scores a step (one horizontal sum for the four); keys past o repeat the last and are masked.
      let mv = f32x4.splat(-Infinity);
      for (let j = 0; j < o; j += 4) {
        const k0 = ko + ((<usize>j * <usize>dk) << 2);
        const k1 = ko + ((<usize>min(j + 1, o - 1) * <usize>dk) << 2);
        const k2 = ko + ((<usize>min(j + 2, o - 1) * <usize>dk) << 2);
        const k3 = ko + ((<usize>min(j + 3, o - 1) * <usize>dk) << 2);
        const n = o - j;
        let s = f32x4.div(f32x4.mul(shortDot1x4(qr, k0, k1, k2, k3, dk), ms), ds);
        if (masked) s = f32x4.add(s, loadN(mask + (<usize>j << 2), min(n, 4)));
        v128.store(scores + (<usize>j << 2), s);
        mv = f32x4.pmax(mv, n >= 4 ? s : v128.bitselect(s, f32x4.splat(-Infinity), i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(n))));
      }
      const mx = hmax(mv);
      const m4 = f32x4.splat(mx);
      let sum = f32x4.splat(0);
      for (let j = 0; j < o; j += 4) {
        const n = o - j;
        const e = exp4(f32x4.sub(v128.load(scores + (<usize>j << 2)), m4));
        sum = f32x4.add(sum, n >= 4 ? e : v128.and(e, i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(n))));
        v128.store(scores + (<usize>j << 2), e);
      }
      const inv = f32x4.splat(1 / hsum(sum));
      // The weighted sum of the value rows, four output columns at a time, two keys a step (two sums in flight).
      const orow = out + ((<usize>(t * m + i) * <usize>dv) << 2);
      for (let c = 0; c < dv; c += 4) {
        const n = dv - c;
        let e0 = f32x4.splat(0), e1 = f32x4.splat(0);
        let j = 0;
        for (; j + 1 < o; j += 2) {
          e0 = f32x4.add(e0, f32x4.mul(v128.load32_splat(scores + (<usize>j << 2)), loadN(vo + ((<usize>j * <usize>dv + <usize>c) << 2), n)));
          e1 = f32x4.add(e1, f32x4.mul(v128.load32_splat(scores + (<usize>(j + 1) << 2)), loadN(vo + ((<usize>(j + 1) * <usize>dv + <usize>c) << 2), n)));
        }
        if (j < o) e0 = f32x4.add(e0, f32x4.mul(v128.load32_splat(scores + (<usize>j << 2)), loadN(vo + ((<usize>j * <usize>dv + <usize>c) << 2), n)));
        storeN(orow + (<usize>c << 2), f32x4.mul(f32x4.add(e0, e1), inv), n);
      }
    }
  }
}
