/**
 * Self-attention over rows that are partly context (AutoInt's interacting layer, BST's transformer over
 * [history, target]), candidate stage: the context queries' softmax over the context keys was computed once
 * per request (its max, exp sum and exp-weighted values per head), so per candidate each context query only
 * merges in the candidate keys (log-sum-exp), and each candidate query attends over every key, the context's
 * Q/K/V read from the request's rows. The ONNX compiler's lowering of the attention-lse rewrite.
 */
import { shortDot1x4, exp4, hmax, hsum, loadN, storeN } from './simd';

/**
 * Scores of the query at q against `count` keys at k (byte stride `kStride`), divided by div, into
 * scratch from index `at` (four keys a step, one horizontal sum for the four; up to 3 floats past the
 * last score are written too); returns their max, or mx if larger.
 */
// @ts-ignore: decorator
@inline function scoresInto(q: usize, k: usize, kStride: usize, count: i32, dh: i32, div: f32, scratch: usize, at: i32, mx: f32): f32 {
  const d4 = f32x4.splat(div);
  let mv = f32x4.splat(mx);
  const last = count - 1;
  for (let j = 0; j < count; j += 4) {
    const k0 = k + <usize>j * kStride;
    const k1 = k + <usize>min(j + 1, last) * kStride;
    const k2 = k + <usize>min(j + 2, last) * kStride;
    const k3 = k + <usize>min(j + 3, last) * kStride;
    const sc = f32x4.div(shortDot1x4(q, k0, k1, k2, k3, dh), d4);
    v128.store(scratch + (<usize>(at + j) << 2), sc);
    const n = count - j;
    mv = f32x4.pmax(mv, n >= 4 ? sc : v128.bitselect(sc, f32x4.splat(-Infinity), i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(n))));
  }
  return hmax(mv);
}

/** exp(score - mx) in place for `count` scores at scratch; returns their sum. */
function expInto(scratch: usize, count: i32, mx: f32): f32 {
  const m = f32x4.splat(mx);
  let sum = f32x4.splat(0);
  for (let j = 0; j < count; j += 4) {
    const n = count - j;
    const e = exp4(f32x4.sub(loadN(scratch + (<usize>j << 2), n), m));
    sum = f32x4.add(sum, n >= 4 ? e : v128.and(e, i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(n))));
    storeN(scratch + (<usize>j << 2), e, n);
  }
  return hsum(sum);
}

/** acc[c..c+n) += sum over j < count of scratch[at + j] * v[j] (value rows `vStride` bytes apart). */
// @ts-ignore: decorator
@inline function weigh(acc: v128, scratch: usize, at: i32, v: usize, vStride: usize, count: i32, n: i32): v128 {
  for (let j = 0; j < count; j++) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(scratch + (<usize>(at + j) << 2)), loadN(v + <usize>j * vStride, n)));
  return acc;
}

/**
 * For each candidate r and head hh: qkv [n, kt, 3w] holds the candidate rows' Q | K | V (w = h * dh), ctx
 * [kc, 3w] the context rows', state the context queries' per-head max [h, kc], exp sum [h, kc] and
 * exp-weighted values [h, kc, dh]. Writes out[r * sR + hh * sH + rows[row] * dh + c] (element strides) for
 * the kc context rows then the kt candidate rows. scratch holds kc + kt + 4 floats.
 */
export function attentionMixed(qkv: usize, ctx: usize, state: usize, out: usize, sR: i32, sH: i32, rows: usize, n: i32, kc: i32, kt: i32, h: i32, dh: i32, div: f32, scratch: usize): void {
  const w = h * dh;
  const stride = <usize>(3 * w) << 2;
  const lAt = state + (<usize>(h * kc) << 2);
  const accAt = state + (<usize>(2 * h * kc) << 2);
  for (let r = 0; r < n; r++) {
    const cand = qkv + <usize>(r * kt) * stride;
    for (let hh = 0; hh < h; hh++) {
      const head = <usize>(hh * dh) << 2;
      const ob = out + (<usize>(r * sR + hh * sH) << 2);
      // Context queries: the stored softmax over the context keys, the candidate keys merged in.
      for (let i = 0; i < kc; i++) {
        const m0 = load<f32>(state + (<usize>(hh * kc + i) << 2));
        const mx = max(m0, scoresInto(ctx + <usize>i * stride + head, cand + (<usize>w << 2) + head, stride, kt, dh, div, scratch, 0, -Infinity));
        const alpha = f32x4.extract_lane(exp4(f32x4.splat(m0 - mx)), 0);
        const l = load<f32>(lAt + (<usize>(hh * kc + i) << 2)) * alpha + expInto(scratch, kt, mx);
        const inv = f32x4.splat(1 / l);
        const a = f32x4.splat(alpha);
        const acc0 = accAt + (<usize>((hh * kc + i) * dh) << 2);
        const o = ob + (<usize>(load<i32>(rows + (<usize>i << 2)) * dh) << 2);
        for (let c = 0; c < dh; c += 4) {
          const nn = dh - c;
          const acc = weigh(f32x4.mul(loadN(acc0 + (<usize>c << 2), nn), a), scratch, 0, cand + (<usize>(2 * w + c) << 2) + head, stride, kt, nn);
          storeN(o + (<usize>c << 2), f32x4.mul(acc, inv), nn);
        }
      }
      // Candidate queries: every key, the context's first.
      for (let t = 0; t < kt; t++) {
        const q = cand + <usize>t * stride + head;
        let mx = scoresInto(q, ctx + (<usize>w << 2) + head, stride, kc, dh, div, scratch, 0, -Infinity);
        mx = scoresInto(q, cand + (<usize>w << 2) + head, stride, kt, dh, div, scratch, kc, mx);
        const inv = f32x4.splat(1 / expInto(scratch, kc + kt, mx));
        const o = ob + (<usize>(load<i32>(rows + (<usize>(kc + t) << 2)) * dh) << 2);
        for (let c = 0; c < dh; c += 4) {
          const nn = dh - c;
          let acc = weigh(f32x4.splat(0), scratch, 0, ctx + (<usize>(2 * w + c) << 2) + head, stride, kc, nn);
          acc = weigh(acc, scratch, kc, cand + (<usize>(2 * w + c) << 2) + head, stride, kt, nn);
          storeN(o + (<usize>c << 2), f32x4.mul(acc, inv), nn);
        }
      }
    }
  }
}
