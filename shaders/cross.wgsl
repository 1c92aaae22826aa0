// The DCN cross update out = x0 * z + x, elementwise (DCNv2 full and low-rank layers, both rDCN streams):
// z comes from the GEMM (W x + b, or U (V^T x) + b for low rank); x0 is a ctx row (stride 0) for the
// context term. One lane per (row, column).

struct Cross {
  x0: u32,
  x0Stride: u32,
  z: u32,
  zStride: u32,
  x: u32,
  xStride: u32,
  out: u32,
  outStride: u32,
  width: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(4) var<storage, read> cr: Cross;

@compute @workgroup_size(64)
fn cross(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * cr.width) {
    return;
  }
  let row = index / cr.width;
  let d = index % cr.width;
  let x0 = arena[cr.x0 + row * cr.x0Stride + d];
  let z = arena[cr.z + row * cr.zStride + d];
  arena[cr.out + row * cr.outStride + d] = fma(x0, z, arena[cr.x + row * cr.xStride + d]);
}
