// FM / DLRM interaction pairs. `pairs`: dot products of listed vector pairs (the context triangle once per
// request; vanilla plans' full triangle per candidate). `outer`: the target-anchored pairs as one small
// asymmetric matmul per candidate, out[m * nb + k] = <a_m, b_k>, b usually the ctx vectors (stride 0).
// One lane per (row, output column).

struct Pairs {
  a: u32,
  aStride: u32,
  b: u32,
  bStride: u32,
  dim: u32,
  count: u32,
  out: u32,
  outStride: u32,
  // Flat [i0, j0, i1, j1, ...]: vector indices into a and b.
  list: array<u32>,
}
@group(0) @binding(4) var<storage, read> pr: Pairs;

@compute @workgroup_size(64)
fn pairs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * pr.count) {
    return;
  }
  let row = index / pr.count;
  let q = index % pr.count;
  let a = pr.a + row * pr.aStride + pr.list[2u * q] * pr.dim;
  let b = pr.b + row * pr.bStride + pr.list[2u * q + 1u] * pr.dim;
  var acc = 0.0;
  for (var d = 0u; d < pr.dim; d++) {
    acc = fma(arena[a + d], arena[b + d], acc);
  }
  arena[pr.out + row * pr.outStride + q] = acc;
}

struct Outer {
  a: u32,
  aStride: u32,
  na: u32,
  b: u32,
  bStride: u32,
  nb: u32,
  dim: u32,
  out: u32,
  outStride: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(4) var<storage, read> ou: Outer;

@compute @workgroup_size(64)
fn outer(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let width = ou.na * ou.nb;
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * width) {
    return;
  }
  let row = index / width;
  let m = (index % width) / ou.nb;
  let k = index % ou.nb;
  let a = ou.a + row * ou.aStride + m * ou.dim;
  let b = ou.b + row * ou.bStride + k * ou.dim;
  var acc = 0.0;
  for (var d = 0u; d < ou.dim; d++) {
    acc = fma(arena[a + d], arena[b + d], acc);
  }
  arena[ou.out + row * ou.outStride + m * ou.nb + k] = acc;
}
