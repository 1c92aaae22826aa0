// The ONNX compiler's kernels (src/onnx/compiler/gpu.ts): one thread per output element (per line for the
// row kernels), on one arena of 32-bit words (binding 0) that holds every tensor of a compiled graph, float
// tensors as f32 bits and int/bool tensors as i32 bits, with the parameters of the dispatch in a uniform
// (binding 1) as 32 words. A dispatch wider than 65535 workgroups goes on in y.

@group(0) @binding(0) var<storage, read_write> m: array<u32>;
@group(0) @binding(1) var<uniform> params: array<vec4<u32>, 8>;

fn P(i: u32) -> u32 { return params[i / 4u][i % 4u]; }
fn Pf(i: u32) -> f32 { return bitcast<f32>(P(i)); }
fn F(at: u32) -> f32 { return bitcast<f32>(m[at]); }
fn I(at: u32) -> i32 { return bitcast<i32>(m[at]); }
fn setF(at: u32, v: f32) { m[at] = bitcast<u32>(v); }
fn setI(at: u32, v: i32) { m[at] = bitcast<u32>(v); }
/** An element as a number: int (flag 1) or float. */
fn num(at: u32, isInt: u32) -> f32 { if (isInt == 1u) { return f32(I(at)); } return F(at); }
fn put(at: u32, v: f32, isInt: u32) { if (isInt == 1u) { setI(at, i32(trunc(v))); } else { setF(at, v); } }

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

fn sigmoid(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }

fn activate(x: f32, act: u32) -> f32 {
  if (act == 1u) { return max(x, 0.0); }
  if (act == 2u) { return sigmoid(x); }
  return x;
}

// x, xStride, rows, w, inDim, outDim, bias, add, addStride, out, outStride, act
@compute @workgroup_size(64)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let outDim = P(5u);
  if (t >= P(2u) * outDim) { return; }
  let r = t / outDim;
  let j = t % outDim;
  let k = P(4u);
  let xo = P(0u) + r * P(1u);
  let wo = P(3u) + j * k;
  var s = 0.0;
  for (var i = 0u; i < k; i++) { s += F(xo + i) * F(wo + i); }
  if (P(6u) != 0u) { s += F(P(6u) + j); }
  if (P(7u) != 0u) { s += F(P(7u) + r * P(8u) + j); }
  setF(P(9u) + r * P(10u) + j, activate(s, P(11u)));
}

fn binaryOp(code: u32, x: f32, y: f32) -> f32 {
  switch code {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return pow(x, y); }
    case 5u: { return max(x, y); }
    case 6u: { return min(x, y); }
    case 7u: { return select(0.0, 1.0, x == y); }
    case 8u: { return select(0.0, 1.0, x < y); }
    case 9u: { return select(0.0, 1.0, x <= y); }
    case 10u: { return select(0.0, 1.0, x > y); }
    case 11u: { return select(0.0, 1.0, x >= y); }
    case 12u: { return select(0.0, 1.0, x != 0.0 && y != 0.0); }
    case 13u: { return select(0.0, 1.0, x != 0.0 || y != 0.0); }
    default: { return x * x; }
  }
}

// code, out, a, b, aBases, bBases, rows, inner, sa, sb, aInt, bInt, outInt
@compute @workgroup_size(64)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let inner = P(7u);
  if (t >= P(6u) * inner) { return; }
  let r = t / inner;
  let j = t % inner;
  let x = num(P(2u) + m[P(4u) + r] + j * P(8u), P(10u));
  let y = num(P(3u) + m[P(5u) + r] + j * P(9u), P(11u));
  put(P(1u) + t, binaryOp(P(0u), x, y), P(12u));
}

// out, c, x, y, cBases, xBases, yBases, rows, inner, sc, sx, sy
@compute @workgroup_size(64)
fn select3(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let inner = P(8u);
  if (t >= P(7u) * inner) { return; }
  let r = t / inner;
  let j = t % inner;
  let c = m[P(1u) + m[P(4u) + r] + j * P(9u)];
  m[P(0u) + t] = select(m[P(3u) + m[P(6u) + r] + j * P(11u)], m[P(2u) + m[P(5u) + r] + j * P(10u)], c != 0u);
}

fn erf(x: f32) -> f32 {
  // Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), enough for the GPU's 1e-4.
  let s = sign(x);
  let a = abs(x);
  let k = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * k - 1.453152027) * k) + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * exp(-a * a);
  return s * y;
}

fn unaryOp(code: u32, x: f32, p: f32, q: f32) -> f32 {
  switch code {
    case 0u: { return -x; }
    case 1u: { return abs(x); }
    case 2u: { return 1.0 / x; }
    case 3u: { return sqrt(x); }
    case 4u: { return exp(x); }
    case 5u: { return log(x); }
    case 6u: { return max(x, 0.0); }
    case 7u: { return select(p * x, x, x >= 0.0); }
    case 8u: { return sigmoid(x); }
    case 9u: { return tanh(x); }
    case 10u: { return erf(x); }
    case 11u: { if (x > 0.0) { return x + log(1.0 + exp(-x)); } return log(1.0 + exp(x)); }
    case 12u: { return min(max(x, p), q); }
    case 13u: { return select(0.0, 1.0, x == 0.0); }
    case 15u: { return 0.5 * x * (1.0 + erf(x * 0.70710678)); }
    case 16u: { return 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))); }
    default: { return x; }
  }
}

// code, out, x, n, p, q, xInt, outInt
@compute @workgroup_size(64)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(3u)) { return; }
  put(P(1u) + t, unaryOp(P(0u), num(P(2u) + t, P(6u)), Pf(4u), Pf(5u)), P(7u));
}

// out, x, n, xInt, to (0 float, 1 int, 2 bool)
@compute @workgroup_size(64)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(2u)) { return; }
  let v = num(P(1u) + t, P(3u));
  let to = P(4u);
  if (to == 0u) { setF(P(0u) + t, v); } else if (to == 1u) { setI(P(0u) + t, i32(trunc(v))); } else { setI(P(0u) + t, select(0, 1, v != 0.0)); }
}

// out, map, n: each output word copies the word the map names (an absolute arena offset)
@compute @workgroup_size(64)
fn copyMap(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(2u)) { return; }
  m[P(0u) + t] = m[m[P(1u) + t]];
}

// out, data, idx, count, outer, dim, inner: rows of the data by runtime indices (negative from the end)
@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let count = P(3u);
  let inner = P(6u);
  if (t >= P(4u) * count * inner) { return; }
  let i = t % inner;
  let j = (t / inner) % count;
  let o = t / (inner * count);
  let dim = i32(P(5u));
  var k = I(P(2u) + j);
  if (k < 0) { k += dim; }
  k = clamp(k, 0, dim - 1);
  m[P(0u) + t] = m[P(1u) + (o * u32(dim) + u32(k)) * inner + i];
}

// x, out, outer, len, inner, log: one thread per line
@compute @workgroup_size(64)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let inner = P(4u);
  if (t >= P(2u) * inner) { return; }
  let len = P(3u);
  let base = (t / inner) * len * inner + t % inner;
  var mx = -3.4e38;
  for (var i = 0u; i < len; i++) { mx = max(mx, F(P(0u) + base + i * inner)); }
  var sum = 0.0;
  for (var i = 0u; i < len; i++) { sum += exp(F(P(0u) + base + i * inner) - mx); }
  for (var i = 0u; i < len; i++) {
    let x = F(P(0u) + base + i * inner) - mx;
    setF(P(1u) + base + i * inner, select(exp(x) / sum, x - log(sum), P(5u) == 1u));
  }
}

// x, out, rows, width, eps, scale, sRows, sCols, bias, bRows, bCols: one thread per row
@compute @workgroup_size(64)
fn layerNorm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= P(2u)) { return; }
  let w = P(3u);
  let xo = P(0u) + r * w;
  var sum = 0.0;
  for (var i = 0u; i < w; i++) { sum += F(xo + i); }
  let mean = sum / f32(w);
  var sq = 0.0;
  for (var i = 0u; i < w; i++) { let d = F(xo + i) - mean; sq += d * d; }
  let inv = 1.0 / sqrt(sq / f32(w) + Pf(4u));
  let so = P(5u) + (r % P(6u)) * w;
  let bo = P(8u) + (r % P(9u)) * w;
  for (var i = 0u; i < w; i++) {
    var v = (F(xo + i) - mean) * inv;
    if (P(5u) != 0u) { v *= F(so + i % P(7u)); }
    if (P(8u) != 0u) { v += F(bo + i % P(10u)); }
    setF(P(1u) + r * w + i, v);
  }
}

// x, out, outer, len, inner, code (sum, mean, max, min, prod, l2), int: one thread per output
@compute @workgroup_size(64)
fn reduceLines(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let inner = P(4u);
  if (t >= P(2u) * inner) { return; }
  let len = P(3u);
  let code = P(5u);
  let base = P(0u) + (t / inner) * len * inner + t % inner;
  var acc = 0.0;
  if (code == 2u) { acc = -3.4e38; } else if (code == 3u) { acc = 3.4e38; } else if (code == 4u) { acc = 1.0; }
  for (var i = 0u; i < len; i++) {
    let v = num(base + i * inner, P(6u));
    if (code == 2u) { acc = max(acc, v); } else if (code == 3u) { acc = min(acc, v); } else if (code == 4u) { acc *= v; } else if (code == 5u) { acc += v * v; } else { acc += v; }
  }
  if (code == 1u) { acc /= f32(len); } else if (code == 5u) { acc = sqrt(acc); }
  put(P(1u) + t, acc, P(6u));
}

// a, b, c, aBases, bBases, batches, m, k, o: C[t] = A[t] B[t]
@compute @workgroup_size(64)
fn bmm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let rows = P(6u);
  let o = P(8u);
  if (t >= P(5u) * rows * o) { return; }
  let k = P(7u);
  let j = t % o;
  let i = (t / o) % rows;
  let b = t / (o * rows);
  let ao = P(0u) + m[P(3u) + b] + i * k;
  let bo = P(1u) + m[P(4u) + b] + j;
  var s = 0.0;
  for (var p = 0u; p < k; p++) { s += F(ao + p) * F(bo + p * o); }
  setF(P(2u) + t, s);
}

// x, out, n, channels, inner, a, b: y = x a[c] + b[c], channel c = (element / inner) % channels
@compute @workgroup_size(64)
fn affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(2u)) { return; }
  let c = (t / P(4u)) % P(3u);
  setF(P(1u) + t, F(P(0u) + t) * F(P(5u) + c) + F(P(6u) + c));
}

// rows, slots, stored, kc, out, batches, f, d: out[t] = X[t] X[t]^T ([f, f]), row i of X[t] at
// m[rows + 2i] + t * m[rows + 2i + 1] (word offsets); two context rows (slots >= 0) read stored[si * kc + sj]
@compute @workgroup_size(64)
fn pairDots(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let f = P(6u);
  if (t >= P(5u) * f * f) { return; }
  let j = t % f;
  let i = (t / f) % f;
  let b = t / (f * f);
  let si = I(P(1u) + i);
  let sj = I(P(1u) + j);
  if (si >= 0 && sj >= 0) { setF(P(4u) + t, F(P(2u) + u32(si) * P(3u) + u32(sj))); return; }
  let rows = P(0u);
  let bi = m[rows + 2u * i] + b * m[rows + 2u * i + 1u];
  let bj = m[rows + 2u * j] + b * m[rows + 2u * j + 1u];
  var s = 0.0;
  for (var k = 0u; k < P(7u); k++) { s += F(bi + k) * F(bj + k); }
  setF(P(4u) + t, s);
}

// x, out, kc, d: the FM's context sums: out[k] = sum_i x[i, k], out[d + k] = sum_i x[i, k]^2
@compute @workgroup_size(64)
fn fmOnce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = flatIndex(gid, nwg);
  let d = P(3u);
  if (k >= d) { return; }
  var s = 0.0;
  var q = 0.0;
  for (var i = 0u; i < P(2u); i++) { let e = F(P(0u) + i * d + k); s += e; q += e * e; }
  setF(P(1u) + k, s);
  setF(P(1u) + d + k, q);
}

// x, stored, out, n, kt, d: out[r, k] = (s_k + sum_t x[r, t, k])^2 - (q_k + sum_t x[r, t, k]^2)
@compute @workgroup_size(64)
fn fmCand(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let d = P(5u);
  if (t >= P(3u) * d) { return; }
  let k = t % d;
  let r = t / d;
  let kt = P(4u);
  var s = F(P(1u) + k);
  var q = F(P(1u) + d + k);
  for (var i = 0u; i < kt; i++) { let e = F(P(0u) + (r * kt + i) * d + k); s += e; q += e * e; }
  setF(P(2u) + t, s * s - q);
}

fn headDot(a: u32, b: u32, dh: u32, scale: f32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < dh; k++) { s += F(a + k) * F(b + k); }
  return s / scale;
}

// ctx, state, kc, h, dh, scale: per head hh and context query i (one thread each), the softmax over the
// context keys of ctx [kc, 3w] (Q | K | V): state holds max [h, kc], exp sum [h, kc], weighted values [h, kc, dh]
@compute @workgroup_size(64)
fn attentionOnce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let kc = P(2u);
  let h = P(3u);
  if (t >= h * kc) { return; }
  let dh = P(4u);
  let scale = Pf(5u);
  let hh = t / kc;
  let i = t % kc;
  let w = h * dh;
  let ctx = P(0u);
  let q = ctx + i * 3u * w + hh * dh;
  var mx = -3.4e38;
  for (var j = 0u; j < kc; j++) { mx = max(mx, headDot(q, ctx + j * 3u * w + w + hh * dh, dh, scale)); }
  let acc = P(1u) + 2u * h * kc + t * dh;
  for (var c = 0u; c < dh; c++) { setF(acc + c, 0.0); }
  var sum = 0.0;
  for (var j = 0u; j < kc; j++) {
    let e = exp(headDot(q, ctx + j * 3u * w + w + hh * dh, dh, scale) - mx);
    sum += e;
    let v = ctx + j * 3u * w + 2u * w + hh * dh;
    for (var c = 0u; c < dh; c++) { setF(acc + c, F(acc + c) + e * F(v + c)); }
  }
  setF(P(1u) + t, mx);
  setF(P(1u) + h * kc + t, sum);
}

// qkv, ctx, state, out, sR, sH, rows, n, kc, kt, h, dh, scale: one thread per (candidate, head, query row);
// a context query resumes its stored softmax with the candidate keys, a candidate query attends over all
@compute @workgroup_size(64)
fn attentionMixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  let kc = P(8u);
  let kt = P(9u);
  let h = P(10u);
  let f = kc + kt;
  if (t >= P(7u) * h * f) { return; }
  let dh = P(11u);
  let scale = Pf(12u);
  let row = t % f;
  let hh = (t / f) % h;
  let r = t / (f * h);
  let w = h * dh;
  let cand = P(0u) + r * kt * 3u * w + hh * dh;
  let ctx = P(1u) + hh * dh;
  let st = P(2u);
  let o = P(3u) + r * P(4u) + hh * P(5u) + m[P(6u) + row] * dh;
  if (row < kc) {
    let q = ctx + row * 3u * w;
    let m0 = F(st + hh * kc + row);
    var mx = m0;
    for (var u = 0u; u < kt; u++) { mx = max(mx, headDot(q, cand + u * 3u * w + w, dh, scale)); }
    let alpha = exp(m0 - mx);
    var sum = F(st + h * kc + hh * kc + row) * alpha;
    let acc = st + 2u * h * kc + (hh * kc + row) * dh;
    for (var c = 0u; c < dh; c++) { setF(o + c, F(acc + c) * alpha); }
    for (var u = 0u; u < kt; u++) {
      let e = exp(headDot(q, cand + u * 3u * w + w, dh, scale) - mx);
      sum += e;
      for (var c = 0u; c < dh; c++) { setF(o + c, F(o + c) + e * F(cand + u * 3u * w + 2u * w + c)); }
    }
    for (var c = 0u; c < dh; c++) { setF(o + c, F(o + c) / sum); }
    return;
  }
  let q = cand + (row - kc) * 3u * w;
  var mx = -3.4e38;
  for (var j = 0u; j < kc; j++) { mx = max(mx, headDot(q, ctx + j * 3u * w + w, dh, scale)); }
  for (var u = 0u; u < kt; u++) { mx = max(mx, headDot(q, cand + u * 3u * w + w, dh, scale)); }
  for (var c = 0u; c < dh; c++) { setF(o + c, 0.0); }
  var sum = 0.0;
  for (var j = 0u; j < kc; j++) {
    let e = exp(headDot(q, ctx + j * 3u * w + w, dh, scale) - mx);
    sum += e;
    for (var c = 0u; c < dh; c++) { setF(o + c, F(o + c) + e * F(ctx + j * 3u * w + 2u * w + c)); }
  }
  for (var u = 0u; u < kt; u++) {
    let e = exp(headDot(q, cand + u * 3u * w + w, dh, scale) - mx);
    sum += e;
    for (var c = 0u; c < dh; c++) { setF(o + c, F(o + c) + e * F(cand + u * 3u * w + 2u * w + c)); }
  }
  for (var c = 0u; c < dh; c++) { setF(o + c, F(o + c) / sum); }
}

// a, b, c, out, operands, letters, table, outSize, summed: one thread per output element of an Einsum; the
// table holds per letter [dim, stride in a, in b, in c, stride in out (0: summed), radix among the summed]
@compute @workgroup_size(64)
fn einsum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(7u)) { return; }
  let letters = P(5u);
  let tb = P(6u);
  let count = P(4u);
  var a = P(0u);
  var b = P(1u);
  var c = P(2u);
  for (var l = 0u; l < letters; l++) {
    let e = tb + 6u * l;
    if (m[e + 4u] != 0u) {
      let idx = (t / m[e + 4u]) % m[e];
      a += idx * m[e + 1u];
      b += idx * m[e + 2u];
      c += idx * m[e + 3u];
    }
  }
  var acc = 0.0;
  for (var s = 0u; s < P(8u); s++) {
    var ao = a;
    var bo = b;
    var co = c;
    for (var l = 0u; l < letters; l++) {
      let e = tb + 6u * l;
      if (m[e + 4u] == 0u) {
        let idx = (s / m[e + 5u]) % m[e];
        ao += idx * m[e + 1u];
        bo += idx * m[e + 2u];
        co += idx * m[e + 3u];
      }
    }
    var v = F(ao);
    if (count >= 2u) { v *= F(bo); }
    if (count == 3u) { v *= F(co); }
    acc += v;
  }
  setF(P(3u) + t, acc);
}

// x, out, axes, table, outSize, count, code, int: a reduction over any set of axes, one thread per output
// element; the table holds per axis [dim, stride in x, stride in out (0: reduced), radix among the reduced]
@compute @workgroup_size(64)
fn reduceAxes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= P(4u)) { return; }
  let axes = P(2u);
  let tb = P(3u);
  let code = P(6u);
  var base = P(0u);
  for (var l = 0u; l < axes; l++) {
    let e = tb + 4u * l;
    if (m[e + 2u] != 0u) { base += ((t / m[e + 2u]) % m[e]) * m[e + 1u]; }
  }
  var acc = 0.0;
  if (code == 2u) { acc = -3.4e38; } else if (code == 3u) { acc = 3.4e38; } else if (code == 4u) { acc = 1.0; }
  let count = P(5u);
  for (var s = 0u; s < count; s++) {
    var at = base;
    for (var l = 0u; l < axes; l++) {
      let e = tb + 4u * l;
      if (m[e + 2u] == 0u) { at += ((s / m[e + 3u]) % m[e]) * m[e + 1u]; }
    }
    let v = num(at, P(7u));
    if (code == 2u) { acc = max(acc, v); } else if (code == 3u) { acc = min(acc, v); } else if (code == 4u) { acc *= v; } else if (code == 5u) { acc += v * v; } else { acc += v; }
  }
  if (code == 1u) { acc /= f32(count); } else if (code == 5u) { acc = sqrt(acc); }
  put(P(1u) + t, acc, P(7u));
}
