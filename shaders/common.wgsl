// Shared by every kernel family (prepended to each shader module by src/backends/webgpu/shaders.ts).
//
// Bindings, in the same order for every kernel (one pipeline layout serves them all):
//   0 arena    the activations: the ctx section (one row per ctx buffer, stride 0) then one candidate tile
//   1, 2       the op's weights (declared by each family with its own element type)
//   3 inputs   the tile's encoded request: a directory of (offsets, ids) or (values) per field, then the data
//   4 p        the op's static parameters (offsets and strides into the arena, sizes), written once at load
//   5 rt       the runtime sizes: the rows of this dispatch (1 in the context stage, the tile's candidates)
// Arena offsets and strides count f32 elements; a stride of 0 reads a ctx row for every candidate row.

@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(3) var<storage, read> inputs: array<u32>;

struct Runtime {
  rows: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(5) var<uniform> rt: Runtime;

// Activation codes (ACT_* overrides and parameters): 0 none, 1 relu, 2 sigmoid.
fn activate(x: f32, act: u32) -> f32 {
  if (act == 1u) {
    return max(x, 0.0);
  }
  if (act == 2u) {
    return 1.0 / (1.0 + exp(-x));
  }
  return x;
}

// Elementwise kernels run 64 lanes per workgroup on a 2-D grid of workgroups (the x dimension is capped at
// 65535 by the spec's maxComputeWorkgroupsPerDimension), so one lane index covers any element count.
const LANES = 64u;
fn laneIndex(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * groups.x + wid.x) * LANES + lid;
}
