// DeepFM sums. `fmContext` (once per request, one lane): the sum of the ctx vectors and their second-order
// scalar 0.5 (|sum e|^2 - sum |e|^2). `fm` (one lane per row): the same over the row's vectors, plus, with
// the context, fm_c + <sum_c, sum_t> (paper 4.1). `sum` (one lane per row): a logit from several terms and a bias.

struct Fm {
  src: u32,
  srcStride: u32,
  count: u32,
  dim: u32,
  out: u32,
  outStride: u32,
  // fm: the ctx sum vector and ctx scalar (hasContext); fmContext: where the sum vector goes.
  sum: u32,
  fm: u32,
  hasContext: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(4) var<storage, read> f: Fm;

// Column d of the sum of `count` vectors at `at`, and the sum of their squares.
fn columnSums(at: u32, d: u32) -> vec2<f32> {
  var s = 0.0;
  var sq = 0.0;
  for (var i = 0u; i < f.count; i++) {
    let v = arena[at + i * f.dim + d];
    s += v;
    sq = fma(v, v, sq);
  }
  return vec2<f32>(s, sq);
}

@compute @workgroup_size(1)
fn fmContext() {
  var norm = 0.0;
  var squares = 0.0;
  for (var d = 0u; d < f.dim; d++) {
    let s = columnSums(f.src, d);
    arena[f.sum + d] = s.x;
    norm = fma(s.x, s.x, norm);
    squares += s.y;
  }
  arena[f.fm] = 0.5 * (norm - squares);
}

@compute @workgroup_size(64)
fn fm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = laneIndex(wid, groups, lid);
  if (row >= rt.rows) {
    return;
  }
  let at = f.src + row * f.srcStride;
  var norm = 0.0;
  var squares = 0.0;
  var dot = 0.0;
  for (var d = 0u; d < f.dim; d++) {
    let s = columnSums(at, d);
    norm = fma(s.x, s.x, norm);
    squares += s.y;
    if (f.hasContext != 0u) {
      dot = fma(arena[f.sum + d], s.x, dot);
    }
  }
  var value = 0.5 * (norm - squares);
  if (f.hasContext != 0u) {
    value += arena[f.fm] + dot;
  }
  arena[f.out + row * f.outStride] = value;
}

override ACT: u32 = 0u;

struct Sum {
  out: u32,
  outStride: u32,
  bias: f32,
  terms: u32,
  // Per term: [at, stride, width].
  list: array<u32>,
}
@group(0) @binding(4) var<storage, read> sm: Sum;

@compute @workgroup_size(64)
fn sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = laneIndex(wid, groups, lid);
  if (row >= rt.rows) {
    return;
  }
  var acc = sm.bias;
  for (var t = 0u; t < sm.terms; t++) {
    let at = sm.list[3u * t] + row * sm.list[3u * t + 1u];
    for (var c = 0u; c < sm.list[3u * t + 2u]; c++) {
      acc += arena[at + c];
    }
  }
  arena[sm.out + row * sm.outStride] = activate(acc, ACT);
}
