/**
 * The GEMM under every MatMul/Gemm by a constant weight, with its fused epilogue:
 * out[r] = act(x[r] W^T + bias + add[r]). Two engines: `wasm`, the SIMD kernel of the native plans
 * (weights packed in panels at compile time), and `js`, plain loops (the oracle of the compiled path,
 * and what runs where WebAssembly SIMD does not). Offsets are arena elements.
 */
import { ACTIVATION_CODES, wasmArgs } from '../../plan/ops.js';
import type { Activation } from '../../plan/ir.js';
import type { Kernels } from '../../backends/wasm/index.js';
import type { Arena, ArenaViews } from './arena.js';

export interface GemmCall {
  readonly x: number;
  readonly xStride: number;
  readonly rows: number;
  readonly w: number;
  readonly inDim: number;
  readonly outDim: number;
  /** 0: none. */
  readonly bias: number;
  /** 0: none; addStride 0 broadcasts one row (a context term) to every row. */
  readonly add: number;
  readonly addStride: number;
  readonly out: number;
  readonly outStride: number;
  readonly act: Activation;
}

export interface GemmEngine {
  readonly name: 'js' | 'wasm' | 'webgpu';
  /** Place a weight given as [outDim, inDim]; returns its offset. */
  place(arena: Arena, w: Float32Array, inDim: number, outDim: number): number;
  /** The call as a step, its arguments fixed at compile time. */
  step(c: GemmCall): (v: ArenaViews) => void;
}

export const jsGemm: GemmEngine = {
  name: 'js',
  place(arena, w) {
    const at = arena.alloc(w.length);
    arena.current.f32.set(w, at);
    return at;
  },
  step(c) {
    return ({ f32: f }) => jsGemmRun(f, c);
  },
};

function jsGemmRun(f: Float32Array, c: GemmCall): void {
  const act = c.act;
  for (let r = 0; r < c.rows; r++) {
    const xo = c.x + r * c.xStride;
    const oo = c.out + r * c.outStride;
    const ao = c.add + r * c.addStride;
    for (let j = 0; j < c.outDim; j++) {
      const wo = c.w + j * c.inDim;
      let s = 0;
      for (let k = 0; k < c.inDim; k++) s += f[xo + k]! * f[wo + k]!;
      if (c.bias) s += f[c.bias + j]!;
      if (c.add) s += f[ao + j]!;
      f[oo + j] = act === 'relu' ? (s > 0 ? s : 0) : act === 'sigmoid' ? 1 / (1 + Math.exp(-s)) : s;
    }
  }
}

/** The WASM engine on a kernel instance whose memory is the arena's. */
export function wasmGemm(k: Kernels): GemmEngine {
  return {
    name: 'wasm',
    place(arena, w, inDim, outDim) {
      const src = arena.alloc(w.length);
      arena.current.f32.set(w, src);
      const dst = arena.alloc(k.packedLength(inDim, outDim));
      k.packWeight(src * 4, inDim, outDim, dst * 4);
      return dst;
    },
    step(c) {
      const [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11] = wasmArgs('gemm', {
        x: c.x * 4, xStride: c.xStride, rows: c.rows, w: c.w * 4, inDim: c.inDim, outDim: c.outDim,
        bias: c.bias * 4, add: c.add * 4, addStride: c.addStride, out: c.out * 4, outStride: c.outStride, act: ACTIVATION_CODES[c.act],
      }) as [number, number, number, number, number, number, number, number, number, number, number, number];
      const gemm = k.gemm;
      return () => gemm(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
    },
  };
}
