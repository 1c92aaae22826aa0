/**
 * Multi-head attention with the online (log-sum-exp) softmax of FlashAttention: keys are merged
 * four at a time into a running max, a running sum of exp and an exp-weighted value sum. The value
 * sum lives in the output vector itself (the kernels own no memory); max and sum are module globals.
 */
import { activate4, dot1x4, exp1, exp4, hmax, hsum, loadN, madd, storeN } from './simd';

/** Running max of the scores merged so far. */
let runMax: f32 = 0;
/** Running sum of exp(score - runMax). */
let runSum: f32 = 0;

/**
 * Once per request: for head h and query i (vectors heads*headDim wide, vector i at q + i*w*4,
 * likewise k and v, count of each) writes out[(h*count + i)*(2 + headDim) ..] = [m, l, acc] with
 * s_ij = scale <q_i, k_j> over the head's columns, m = max_j s_ij, l = sum_j exp(s_ij - m),
 * acc[d] = sum_j exp(s_ij - m) v_j[h*headDim + d].
 */
export function attentionContext(q: usize, k: usize, v: usize, count: i32, heads: i32, headDim: i32, scale: f32, out: usize): void {
  const vecBytes = <usize>(heads * headDim) << 2;
  const headBytes = <usize>headDim << 2;
  for (let h = 0; h < heads; h++) {
    const col = <usize>h * headBytes;
    for (let i = 0; i < count; i++) {
      const base = out + (<usize>((h * count + i) * (2 + headDim)) << 2);
      start(base + 8, headDim);
      merge(q + <usize>i * vecBytes + col, k + col, v + col, vecBytes, count, headDim, scale, base + 8);
      store<f32>(base, runMax);
      store<f32>(base, runSum, 4);
    }
  }
}

/**
 * Attention over segments, described by the i32 array at desc:
 * [heads, headDim, scale (f32 bits), act, out, outStride, block, blockStride, slots, nq,
 *  (ptr, stride, count, res, resStride) x nq, nk, (kPtr, kStride, vPtr, vStride, count) x nk].
 * Vectors are w = heads*headDim floats; vector i of a segment in row r is at ptr + (r*stride + i*w)*4
 * (stride 0: one row for all rows). For each row r < rows and query q (numbered across the query
 * segments in order), head h: out + (r*outStride + slots[q]*w + h*headDim)*4 receives
 * act(softmax(scale <q, k_j>) . v_j over the keys of every key segment + residual (res != 0)).
 * With block != 0, queries of segment 0 do not score key segment 0: they start from the block's
 * [m, l, acc] (attentionContext layout, row r at block + r*blockStride*4) and merge the other keys.
 * out must not overlap the inputs (it holds the running value sums).
 */
export function attention(desc: usize, rows: i32): void {
  const heads = load<i32>(desc);
  const headDim = load<i32>(desc, 4);
  const scale = reinterpret<f32>(load<i32>(desc, 8));
  const act = load<i32>(desc, 12);
  const out = <usize>load<i32>(desc, 16);
  const outStride = load<i32>(desc, 20);
  const block = <usize>load<i32>(desc, 24);
  const blockStride = load<i32>(desc, 28);
  const slots = <usize>load<i32>(desc, 32);
  const nq = load<i32>(desc, 36);
  const queries = desc + 40;
  const nk = load<i32>(queries + <usize>nq * 20);
  const keys = queries + <usize>nq * 20 + 4;
  const blockCount = nq > 0 ? load<i32>(queries, 8) : 0;
  const w = heads * headDim;
  const vecBytes = <usize>w << 2;
  const headBytes = <usize>headDim << 2;
  for (let r = 0; r < rows; r++) {
    const row = <usize>r;
    let slot = slots;
    for (let seg = 0; seg < nq; seg++) {
      const sd = queries + <usize>seg * 20;
      const qBase = <usize>load<i32>(sd) + ((row * <usize>load<i32>(sd, 4)) << 2);
      const count = load<i32>(sd, 8);
      const res = <usize>load<i32>(sd, 12);
      const resBase = res ? res + ((row * <usize>load<i32>(sd, 16)) << 2) : 0;
      const fromBlock = block != 0 && seg == 0;
      for (let i = 0; i < count; i++) {
        const o = out + ((row * <usize>outStride + <usize>load<i32>(slot) * <usize>w) << 2);
        slot += 4;
        for (let h = 0; h < heads; h++) {
          const col = <usize>h * headBytes;
          const acc = o + col;
          const qv = qBase + <usize>i * vecBytes + col;
          if (fromBlock) {
            const b = block + ((row * <usize>blockStride + <usize>((h * blockCount + i) * (2 + headDim))) << 2);
            runMax = load<f32>(b);
            runSum = load<f32>(b, 4);
            copy(b + 8, acc, headDim);
          } else {
            start(acc, headDim);
          }
          for (let ks = fromBlock ? 1 : 0; ks < nk; ks++) {
            const kd = keys + <usize>ks * 20;
            const kBase = <usize>load<i32>(kd) + ((row * <usize>load<i32>(kd, 4)) << 2);
            const vBase = <usize>load<i32>(kd, 8) + ((row * <usize>load<i32>(kd, 12)) << 2);
            merge(qv, kBase + col, vBase + col, vecBytes, load<i32>(kd, 16), headDim, scale, acc);
          }
          finish(acc, resBase ? resBase + <usize>i * vecBytes + col : 0, headDim, act);
        }
      }
    }
  }
}

/** Resets the running state: max -inf, sum 0, value sum (n floats at acc) 0. */
function start(acc: usize, n: i32): void {
  runMax = -Infinity;
  runSum = 0;
  for (let d = 0; d < n; d += 4) storeN(acc + (<usize>d << 2), f32x4.splat(0), n - d);
}

/** Copies n floats from src to dst. */
function copy(src: usize, dst: usize, n: i32): void {
  for (let d = 0; d < n; d += 4) storeN(dst + (<usize>d << 2), loadN(src + (<usize>d << 2), n - d), n - d);
}

/** acc[d] = act(acc[d] / runSum + res[d]) for d < n (res optional). */
function finish(acc: usize, res: usize, n: i32, act: i32): void {
  const l = f32x4.splat(runSum);
  for (let d = 0; d < n; d += 4) {
    const at = <usize>d << 2;
    let y = f32x4.div(loadN(acc + at, n - d), l);
    if (res) y = f32x4.add(y, loadN(res + at, n - d));
    storeN(acc + at, activate4(y, act), n - d);
  }
}

/**
 * Merges keys j < count (key j at k + j*vecBytes, value j at v + j*vecBytes, headDim floats) into
 * the running state for query q: four keys per step, one rescale of acc per step.
 */
function merge(q: usize, k: usize, v: usize, vecBytes: usize, count: i32, headDim: i32, scale: f32, acc: usize): void {
  for (let j = 0; j < count; j += 4) {
    const nk = min(4, count - j);
    // Missing keys of a last partial step repeat the last key; their score is -inf (weight 0).
    const j0 = <usize>j * vecBytes;
    const j1 = <usize>(j + min(1, nk - 1)) * vecBytes;
    const j2 = <usize>(j + min(2, nk - 1)) * vecBytes;
    const j3 = <usize>(j + min(3, nk - 1)) * vecBytes;
    let s = f32x4.mul(dot1x4(q, k + j0, k + j1, k + j2, k + j3, headDim), f32x4.splat(scale));
    s = v128.bitselect(s, f32x4.splat(-Infinity), i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(nk)));
    const m = max(runMax, hmax(s));
    const keep = exp1(runMax - m);
    const e = exp4(f32x4.sub(s, f32x4.splat(m)));
    runSum = runSum * keep + hsum(e);
    runMax = m;
    rescaleAdd(acc, keep, e, v + j0, v + j1, v + j2, v + j3, headDim);
  }
}

/** acc = acc * keep + e[0] v0 + e[1] v1 + e[2] v2 + e[3] v3 over n floats. */
function rescaleAdd(acc: usize, keep: f32, e: v128, v0: usize, v1: usize, v2: usize, v3: usize, n: i32): void {
  const kk = f32x4.splat(keep);
  const w0 = v128.shuffle<f32>(e, e, 0, 0, 0, 0), w1 = v128.shuffle<f32>(e, e, 1, 1, 1, 1);
  const w2 = v128.shuffle<f32>(e, e, 2, 2, 2, 2), w3 = v128.shuffle<f32>(e, e, 3, 3, 3, 3);
  for (let d = 0; d < n; d += 4) {
    const at = <usize>d << 2;
    const rest = n - d;
    let a = f32x4.mul(loadN(acc + at, rest), kk);
    a = madd(w0, loadN(v0 + at, rest), a);
    a = madd(w1, loadN(v1 + at, rest), a);
    a = madd(w2, loadN(v2 + at, rest), a);
    a = madd(w3, loadN(v3 + at, rest), a);
    storeN(acc + at, a, rest);
  }
}
