// Multi-head attention. `attentionContext` (once per request, one lane per (head, ctx query)): the
// ctx-ctx score block's row max, row sum of exp and exp-weighted value sum. `attention` (one lane per
// (row, query, head)): softmax over the key segments; for query segment 0 with a block, the ctx keys'
// part is not recomputed but merged in by log-sum-exp (FlashAttention-style): with m the max over both,
// sum = sum_c e^(max_c - m) + sum_t e^(s_t - m), and the same scale on the value sums.
// Two passes over the keys (max, then exp-weighted sums) keep a lane's state to two scalars; the value
// sum accumulates in the lane's own output slot, so no per-lane array has to fit the head width.

override ACT: u32 = 0u;

const NEG_INF = -3.402823466e38;

struct AttentionContext {
  heads: u32,
  headDim: u32,
  scale: f32,
  count: u32,
  q: u32,
  k: u32,
  v: u32,
  keys: u32,
  out: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(4) var<storage, read> ac: AttentionContext;

fn dotAt(a: u32, b: u32, n: u32) -> f32 {
  var acc = 0.0;
  for (var d = 0u; d < n; d++) {
    acc = fma(arena[a + d], arena[b + d], acc);
  }
  return acc;
}

@compute @workgroup_size(64)
fn attentionContext(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= ac.heads * ac.count) {
    return;
  }
  let h = index / ac.count;
  let i = index % ac.count;
  let hd = ac.headDim;
  let w = ac.heads * hd;
  let q = ac.q + i * w + h * hd;
  var m = NEG_INF;
  for (var j = 0u; j < ac.keys; j++) {
    m = max(m, dotAt(q, ac.k + j * w + h * hd, hd) * ac.scale);
  }
  let base = ac.out + index * (2u + hd);
  for (var d = 0u; d < hd; d++) {
    arena[base + 2u + d] = 0.0;
  }
  var sum = 0.0;
  for (var j = 0u; j < ac.keys; j++) {
    let e = exp(dotAt(q, ac.k + j * w + h * hd, hd) * ac.scale - m);
    sum += e;
    let v = ac.v + j * w + h * hd;
    for (var d = 0u; d < hd; d++) {
      arena[base + 2u + d] = fma(e, arena[v + d], arena[base + 2u + d]);
    }
  }
  arena[base] = m;
  arena[base + 1u] = sum;
}

struct Attention {
  heads: u32,
  headDim: u32,
  scale: f32,
  // Query vectors over all segments.
  queries: u32,
  out: u32,
  outStride: u32,
  block: u32,
  blockStride: u32,
  hasBlock: u32,
  querySegments: u32,
  keySegments: u32,
  // Where outSlots start in `data` (after the segments).
  slots: u32,
  // querySegments x [at, stride, count, residual, residualStride, hasResidual], then
  // keySegments x [key, keyStride, value, valueStride, count], then one output slot per query vector.
  data: array<u32>,
}
@group(0) @binding(4) var<storage, read> at: Attention;

const QUERY_FIELDS = 6u;
const KEY_FIELDS = 5u;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  let perRow = at.queries * at.heads;
  if (index >= rt.rows * perRow) {
    return;
  }
  let row = index / perRow;
  let qIndex = (index % perRow) / at.heads;
  let h = index % at.heads;
  let hd = at.headDim;
  let w = at.heads * hd;
  // Which query segment, and which vector in it.
  var segment = 0u;
  var i = qIndex;
  loop {
    let count = at.data[segment * QUERY_FIELDS + 2u];
    if (i < count) {
      break;
    }
    i -= count;
    segment++;
  }
  let qs = segment * QUERY_FIELDS;
  let q = at.data[qs] + row * at.data[qs + 1u] + i * w + h * hd;
  let fromBlock = at.hasBlock != 0u && segment == 0u;
  let keys0 = at.querySegments * QUERY_FIELDS;
  let firstKeySegment = select(0u, 1u, fromBlock);
  var blockAt = 0u;
  var m = NEG_INF;
  if (fromBlock) {
    blockAt = at.block + row * at.blockStride + (h * at.data[2u] + i) * (2u + hd);
    m = arena[blockAt];
  }
  for (var s = firstKeySegment; s < at.keySegments; s++) {
    let ks = keys0 + s * KEY_FIELDS;
    let k = at.data[ks] + row * at.data[ks + 1u] + h * hd;
    for (var j = 0u; j < at.data[ks + 4u]; j++) {
      m = max(m, dotAt(q, k + j * w, hd) * at.scale);
    }
  }
  let out = at.out + row * at.outStride + at.data[at.slots + qIndex] * w + h * hd;
  var sum = 0.0;
  if (fromBlock) {
    let keep = exp(arena[blockAt] - m);
    sum = arena[blockAt + 1u] * keep;
    for (var d = 0u; d < hd; d++) {
      arena[out + d] = arena[blockAt + 2u + d] * keep;
    }
  } else {
    for (var d = 0u; d < hd; d++) {
      arena[out + d] = 0.0;
    }
  }
  for (var s = firstKeySegment; s < at.keySegments; s++) {
    let ks = keys0 + s * KEY_FIELDS;
    let k = at.data[ks] + row * at.data[ks + 1u] + h * hd;
    let v = at.data[ks + 2u] + row * at.data[ks + 3u] + h * hd;
    for (var j = 0u; j < at.data[ks + 4u]; j++) {
      let e = exp(dotAt(q, k + j * w, hd) * at.scale - m);
      sum += e;
      for (var d = 0u; d < hd; d++) {
        arena[out + d] = fma(e, arena[v + j * w + d], arena[out + d]);
      }
    }
  }
  let hasResidual = at.data[qs + 5u] != 0u;
  let res = at.data[qs + 3u] + row * at.data[qs + 4u] + i * w + h * hd;
  for (var d = 0u; d < hd; d++) {
    var value = arena[out + d] / sum;
    if (hasResidual) {
      value += arena[res + d];
    }
    arena[out + d] = activate(value, ACT);
  }
}
