// Tiled GEMM with a fused epilogue: out = act(x W^T + bias + add), for a LinearOp.
// A workgroup of 16 x 16 lanes computes a tile of 64 rows x 64 output units; each lane a 4 x 4 block
// (four rows, one vec4 of units). The K dimension is walked 16 at a time through workgroup memory.
// Weights are stored transposed and padded at load, [inDim][ceil(units / 4)] vec4, so that a lane
// loads four output units at once. `add` is the once-per-request row (stride 0: RankSplitDense's
// x_c W_c^T + b) or a per-row term. One grid z-slice per group (attention projections share one weight).
// Model constants are override constants (pipeline key): the activation, whether there is a bias or an add.

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;
override HAS_ADD: bool = false;

struct Gemm {
  x: u32,
  xStride: u32,
  inDim: u32,
  out: u32,
  outStride: u32,
  add: u32,
  addStride: u32,
  // Units of this weight chunk, and where they start among the layer's units (a weight larger than
  // maxStorageBufferBindingSize is split by output units).
  units: u32,
  unitBase: u32,
  // Per group, how far the input and output columns move.
  groupIn: u32,
  groupOut: u32,
  _pad: u32,
}
@group(0) @binding(1) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> p: Gemm;

const TILE_ROWS = 64u;
const TILE_K = 16u;
var<workgroup> xTile: array<array<f32, 16>, 64>;
var<workgroup> wTile: array<array<vec4<f32>, 16>, 16>;

@compute @workgroup_size(16, 16)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rows = rt.rows;
  let units4 = (p.units + 3u) / 4u;
  let lane = lid.y * 16u + lid.x;
  let tileRow = wid.y * TILE_ROWS;
  let col4 = wid.x * 16u + lid.x;
  let xBase = p.x + wid.z * p.groupIn;
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = 0u; k0 < p.inDim; k0 += TILE_K) {
    // 64 x 16 inputs, four per lane; zeros past the last row or column.
    for (var i = 0u; i < 4u; i++) {
      let e = lane + i * 256u;
      let r = e / TILE_K;
      let k = e % TILE_K;
      var v = 0.0;
      if (tileRow + r < rows && k0 + k < p.inDim) {
        v = arena[xBase + (tileRow + r) * p.xStride + k0 + k];
      }
      xTile[r][k] = v;
    }
    // 16 x 16 vec4 of weights, one per lane.
    let wk = lane / 16u;
    let wc = wid.x * 16u + lane % 16u;
    var w = vec4<f32>(0.0);
    if (k0 + wk < p.inDim && wc < units4) {
      w = weightT[(k0 + wk) * units4 + wc];
    }
    wTile[wk][lane % 16u] = w;
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let wv = wTile[k][lid.x];
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(xTile[lid.y * 4u + i][k]), wv, acc[i]);
      }
    }
    workgroupBarrier();
  }
  // Epilogue: bias, the broadcast (or per-row) add, activation; bounds-checked stores.
  let outBase = p.out + wid.z * p.groupOut;
  let addBase = p.add + wid.z * p.groupOut;
  for (var i = 0u; i < 4u; i++) {
    let row = tileRow + lid.y * 4u + i;
    if (row >= rows) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let u = col4 * 4u + j;
      if (u >= p.units) {
        break;
      }
      let unit = p.unitBase + u;
      var v = acc[i][j];
      if (HAS_BIAS) {
        v += bias[unit];
      }
      if (HAS_ADD) {
        v += arena[addBase + row * p.addStride + unit];
      }
      arena[outBase + row * p.outStride + unit] = activate(v, ACT);
    }
  }
}

// The context stage's linear layers run on one row (rank-aware: x_c W_c^T + b once per request), where
// a 64-row tile would waste 63 of them: one lane per (row, vec4 of units) walks K alone, no workgroup memory.
@compute @workgroup_size(64)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let units4 = (p.units + 3u) / 4u;
  let index = laneIndex(vec3<u32>(wid.x, wid.y, 0u), groups, lid);
  if (index >= rt.rows * units4) {
    return;
  }
  let row = index / units4;
  let c = index % units4;
  let x = p.x + wid.z * p.groupIn + row * p.xStride;
  var acc = vec4<f32>(0.0);
  for (var k = 0u; k < p.inDim; k++) {
    acc = fma(vec4<f32>(arena[x + k]), weightT[k * units4 + c], acc);
  }
  let outBase = p.out + wid.z * p.groupOut + row * p.outStride;
  let addBase = p.add + wid.z * p.groupOut + row * p.addStride;
  for (var j = 0u; j < 4u; j++) {
    let u = c * 4u + j;
    if (u >= p.units) {
      break;
    }
    let unit = p.unitBase + u;
    var v = acc[j];
    if (HAS_BIAS) {
      v += bias[unit];
    }
    if (HAS_ADD) {
      v += arena[addBase + unit];
    }
    arena[outBase + unit] = activate(v, ACT);
  }
}
