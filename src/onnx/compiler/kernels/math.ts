/**
 * The arithmetic kernels that are not elementwise: batched MatMul between two runtime tensors, Softmax
 * and LogSoftmax along an axis, LayerNormalization, a per-channel affine map (BatchNormalization folded
 * at compile time), reductions by an element-to-output map, and a general two-operand Einsum.
 */

/** C[b] = A[b] B[b] for `batches` matrix pairs; aBase/bBase give each batch's offsets. C is [M, O] per batch. */
export function batchedMatmul(f: Float32Array, a: number, b: number, c: number, aBase: Int32Array, bBase: Int32Array, m: number, k: number, o: number): void {
  for (let t = 0; t < aBase.length; t++) {
    const ao = a + aBase[t]!, bo = b + bBase[t]!, co = c + t * m * o;
    for (let i = 0; i < m; i++) {
      const row = co + i * o;
      for (let j = 0; j < o; j++) f[row + j] = 0;
      for (let p = 0; p < k; p++) {
        const x = f[ao + i * k + p]!;
        if (x === 0) continue;
        const br = bo + p * o;
        for (let j = 0; j < o; j++) f[row + j]! += x * f[br + j]!;
      }
    }
  }
}

/** C[t] = A[t] B[t]^T: B [o, k] per batch (a Transpose of the last two axes, read in place). */
export function batchedMatmulT(f: Float32Array, a: number, b: number, c: number, aBase: Int32Array, bBase: Int32Array, m: number, k: number, o: number): void {
  for (let t = 0; t < aBase.length; t++) {
    const ao = a + aBase[t]!, bo = b + bBase[t]!, co = c + t * m * o;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < o; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += f[ao + i * k + p]! * f[bo + j * k + p]!;
        f[co + i * o + j] = s;
      }
  }
}

/**
 * softmax(Q[t] K[t]^T * mul / div) V[t] for every batch t, one query row at a time (the fused attention of
 * ../fuse-attention.ts): float32 where the unfused nodes would write (scores, scaled, probabilities).
 * `room` holds o scores.
 */
/** `mask` (-1: none): o floats added to every row's scores before the softmax. */
export function attentionRows(f: Float32Array, q: number, k: number, v: number, out: number, qBase: Int32Array, kBase: Int32Array, vBase: Int32Array, m: number, o: number, dk: number, dv: number, mul: number, div: number, room: number, mask = -1): void {
  for (let t = 0; t < qBase.length; t++) {
    const qo = q + qBase[t]!, ko = k + kBase[t]!, vo = v + vBase[t]!;
    for (let i = 0; i < m; i++) {
      let max = -Infinity;
      for (let j = 0; j < o; j++) {
        let s = 0;
        for (let p = 0; p < dk; p++) s += f[qo + i * dk + p]! * f[ko + j * dk + p]!;
        const divided = Math.fround(Math.fround(Math.fround(s) * mul) / div);
        const scaled = mask < 0 ? divided : Math.fround(divided + f[mask + j]!);
        f[room + j] = scaled;
        max = Math.max(max, scaled);
      }
      let sum = 0;
      for (let j = 0; j < o; j++) sum += Math.exp(f[room + j]! - max);
      for (let j = 0; j < o; j++) f[room + j] = Math.exp(f[room + j]! - max) / sum;
      const oo = out + (t * m + i) * dv;
      for (let c = 0; c < dv; c++) {
        let acc = 0;
        for (let j = 0; j < o; j++) acc += f[room + j]! * f[vo + j * dv + c]!;
        f[oo + c] = acc;
      }
    }
  }
}

/** Softmax (or its log) over `len` elements `inner` apart, for each of outer x inner lines. */
export function softmax(f: Float32Array, x: number, out: number, outer: number, len: number, inner: number, log: boolean): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let max = -Infinity;
      for (let t = 0; t < len; t++) max = Math.max(max, f[x + base + t * inner]!);
      let sum = 0;
      for (let t = 0; t < len; t++) sum += Math.exp(f[x + base + t * inner]! - max);
      if (log) {
        const lse = max + Math.log(sum);
        for (let t = 0; t < len; t++) f[out + base + t * inner] = f[x + base + t * inner]! - lse;
      } else {
        for (let t = 0; t < len; t++) f[out + base + t * inner] = Math.exp(f[x + base + t * inner]! - max) / sum;
      }
    }
}

/**
 * LayerNormalization of `rows` rows of `width`. Scale and bias (0: none) hold sLen / bLen values: fewer
 * than a row repeat along it, more (a [F, width] per-field scale) repeat every sLen / width rows.
 */
export function layerNorm(f: Float32Array, x: number, out: number, rows: number, width: number, eps: number, scale: number, sLen: number, bias: number, bLen: number): void {
  const [sRows, sCols] = sLen > width ? [sLen / width, width] : [1, sLen];
  const [bRows, bCols] = bLen > width ? [bLen / width, width] : [1, bLen];
  for (let r = 0; r < rows; r++) {
    const xo = x + r * width, oo = out + r * width;
    const so = scale + (r % sRows) * width, bo = bias + (r % bRows) * width;
    let sum = 0;
    for (let i = 0; i < width; i++) sum += f[xo + i]!;
    const mean = sum / width;
    let sq = 0;
    for (let i = 0; i < width; i++) {
      const d = f[xo + i]! - mean;
      sq += d * d;
    }
    const inv = 1 / Math.sqrt(sq / width + eps);
    for (let i = 0; i < width; i++) f[oo + i] = (f[xo + i]! - mean) * inv * (scale ? f[so + (i % sCols)]! : 1) + (bias ? f[bo + (i % bCols)]! : 0);
  }
}

/** y = x * a[c] + b[c] with channel c = (element / inner) % channels. */
export function channelAffine(f: Float32Array, x: number, out: number, n: number, channels: number, inner: number, a: Float64Array, b: Float64Array): void {
  for (let s = 0; s < n; s += channels * inner)
    for (let c = 0; c < channels; c++) {
      const ac = a[c]!, bc = b[c]!, o = s + c * inner;
      for (let i = 0; i < inner; i++) f[out + o + i] = f[x + o + i]! * ac + bc;
    }
}

/**
 * The same reduction when the reduced axes are one contiguous block: `outer` x `len` x `inner`, folding
 * along len (stride inner). No map: the common ReduceSum/Mean over the last axis or over the fields.
 */
export function reduceBlock(e: Float32Array | Int32Array, x: number, out: number, outer: number, len: number, inner: number, code: number): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = x + o * len * inner + i;
      let acc = code === 2 ? -Infinity : code === 3 ? Infinity : code === 4 ? 1 : 0;
      switch (code) {
        case 0: case 1: for (let t = 0; t < len; t++) acc += e[base + t * inner]!; break;
        case 2: for (let t = 0; t < len; t++) { const v = e[base + t * inner]!; if (v > acc || v !== v) acc = v; } break;
        case 3: for (let t = 0; t < len; t++) { const v = e[base + t * inner]!; if (v < acc || v !== v) acc = v; } break;
        case 4: for (let t = 0; t < len; t++) acc *= e[base + t * inner]!; break;
        case 5: for (let t = 0; t < len; t++) { const v = e[base + t * inner]!; acc += v * v; } break;
      }
      e[out + o * inner + i] = code === 1 ? acc / len : code === 5 ? Math.sqrt(acc) : acc;
    }
}

export const REDUCE_CODES = { sum: 0, mean: 1, max: 2, min: 3, prod: 4, l2: 5 } as const;
export type ReduceKind = keyof typeof REDUCE_CODES;

/** out[map[i]] folds x[i] in for every input element i (in `acc`, float64); `count` inputs per output (the mean's divisor). */
export function reduce(e: Float32Array | Int32Array, x: number, out: number, map: Int32Array, acc: Float64Array, code: number, count: number): void {
  const outSize = acc.length;
  acc.fill(code === 2 ? -Infinity : code === 3 ? Infinity : code === 4 ? 1 : 0);
  const n = map.length;
  switch (code) {
    case 0: case 1: for (let i = 0; i < n; i++) acc[map[i]!]! += e[x + i]!; break;
    case 2: for (let i = 0; i < n; i++) { const v = e[x + i]!; if (v > acc[map[i]!]! || v !== v) acc[map[i]!] = v; } break;
    case 3: for (let i = 0; i < n; i++) { const v = e[x + i]!; if (v < acc[map[i]!]! || v !== v) acc[map[i]!] = v; } break;
    case 4: for (let i = 0; i < n; i++) acc[map[i]!]! *= e[x + i]!; break;
    case 5: for (let i = 0; i < n; i++) { const v = e[x + i]!; acc[map[i]!]! += v * v; } break;
  }
  for (let j = 0; j < outSize; j++) e[out + j] = code === 1 ? acc[j]! / count : code === 5 ? Math.sqrt(acc[j]!) : acc[j]!;
}

/**
 * An Einsum of one to three operands as a loop over every combination of its letters: each output element
 * is the sum, over the summed letters, of the product of the operands. Strides per letter and operand are
 * fixed at compile time (0 where an operand lacks the letter); `at` holds each operand's offset.
 */
export function einsum(f: Float32Array, at: Int32Array, out: number, dims: Int32Array, strides: readonly Int32Array[], oStride: Int32Array, outSize: number): void {
  for (let j = 0; j < outSize; j++) f[out + j] = 0;
  const letters = dims.length;
  const count = strides.length;
  const [sa, sb, sc] = [strides[0]!, strides[1] ?? oStride, strides[2] ?? oStride];
  const counter = new Int32Array(letters);
  let total = 1;
  for (let l = 0; l < letters; l++) total *= dims[l]!;
  let ao = at[0]!, bo = at[1] ?? 0, co = at[2] ?? 0, oo = out;
  for (let t = 0; t < total; t++) {
    f[oo]! += count === 1 ? f[ao]! : count === 2 ? f[ao]! * f[bo]! : f[ao]! * f[bo]! * f[co]!;
    for (let l = letters - 1; l >= 0; l--) {
      counter[l]!++;
      ao += sa[l]!;
      bo += sb[l]!;
      co += sc[l]!;
      oo += oStride[l]!;
      if (counter[l]! < dims[l]!) break;
      ao -= sa[l]! * dims[l]!;
      bo -= sb[l]! * dims[l]!;
      co -= sc[l]! * dims[l]!;
      oo -= oStride[l]! * dims[l]!;
      counter[l] = 0;
    }
  }
}
