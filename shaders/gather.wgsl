// Inputs into the arena: embedding gather with sum/mean pooling (GatherOp), dense values (DenseOp), and
// column copies (CopyOp: the ctx row broadcast to every candidate in vanilla plans). One lane per
// (row, column).

struct Gather {
  out: u32,
  outStride: u32,
  dim: u32,
  // The field's directory entry in `inputs`: inputs[2 * slot] = where its offsets start, inputs[2 * slot + 1] = its ids.
  slot: u32,
  // A table larger than maxStorageBufferBindingSize is split by rows: this dispatch sees rows
  // [rowBase, rowBase + rowCount) and adds into what the previous chunks wrote (first/last flags).
  rowBase: u32,
  rowCount: u32,
  // Bit 0: first chunk (write, not add); bit 1: last chunk; bit 2: mean pooling.
  flags: u32,
  _pad: u32,
}
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read> g: Gather;

@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * g.dim) {
    return;
  }
  let row = index / g.dim;
  let d = index % g.dim;
  let offsets = inputs[2u * g.slot];
  let ids = inputs[2u * g.slot + 1u];
  let begin = inputs[offsets + row];
  let end = inputs[offsets + row + 1u];
  var acc = 0.0;
  for (var i = begin; i < end; i++) {
    let id = inputs[ids + i];
    if (id >= g.rowBase && id - g.rowBase < g.rowCount) {
      acc += table[(id - g.rowBase) * g.dim + d];
    }
  }
  let at = g.out + row * g.outStride + d;
  if ((g.flags & 1u) == 0u) {
    acc += arena[at];
  }
  if ((g.flags & 6u) == 6u && end > begin) {
    acc /= f32(end - begin);
  }
  arena[at] = acc;
}

struct Dense {
  out: u32,
  outStride: u32,
  width: u32,
  // inputs[2 * slot] = where the field's values (rows x width f32) start.
  slot: u32,
}
@group(0) @binding(4) var<storage, read> dn: Dense;

@compute @workgroup_size(64)
fn dense(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * dn.width) {
    return;
  }
  let row = index / dn.width;
  let c = index % dn.width;
  arena[dn.out + row * dn.outStride + c] = bitcast<f32>(inputs[inputs[2u * dn.slot] + index]);
}

struct Copy {
  src: u32,
  srcStride: u32,
  out: u32,
  outStride: u32,
  width: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(4) var<storage, read> cp: Copy;

@compute @workgroup_size(64)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = laneIndex(wid, groups, lid);
  if (index >= rt.rows * cp.width) {
    return;
  }
  let row = index / cp.width;
  let c = index % cp.width;
  arena[cp.out + row * cp.outStride + c] = arena[cp.src + row * cp.srcStride + c];
}
