/**
 * The compiler's SIMD kernels (wasm/assembly/elementwise.ts: elementwise ops, LayerNorm and Softmax rows,
 * batched MatMul between activations; attention-rows.ts: fused attention; pair-dots.ts: X X^T with the context block once, or only the pairs a Gather reads; attention-mixed.ts: attention with the context's softmax once; reduce-lines.ts: reductions; row-dots.ts: one-output layers): a module of their own, built
 * beside the native plans' kernels and instantiated on the same memory, so that a compiled graph's js
 * steps, its GEMM and these all work on one arena. Pointers are byte offsets; sizes count elements.
 */
import { relaxedBase64, simdBase64 } from '../../../build/wasm/compiler-kernels.js';
import { decodeBase64 } from '../../backends/wasm/module.js';
import type { WasmVariant } from '../../backends/wasm/module.js';

/** The exports and their parameters in order (test/op-layout.test.ts checks them against the source). */
export const SIMD_KERNELS = {
  binaryRows: ['code', 'out', 'a', 'b', 'aBases', 'bBases', 'rows', 'inner', 'sa', 'sb'],
  unaryRows: ['code', 'out', 'x', 'n', 'p', 'q'],
  layerNormRows: ['x', 'out', 'rows', 'width', 'eps', 'scale', 'sRows', 'bias', 'bRows'],
  batchedMatmul: ['a', 'b', 'c', 'aBases', 'bBases', 'batches', 'm', 'k', 'o'],
  softmaxRows: ['x', 'out', 'rows', 'len'],
  batchedMatmulT: ['a', 'b', 'c', 'aBases', 'bBases', 'batches', 'm', 'k', 'o'],
  copyRuns: ['table', 'count'],
  copySegments: ['out', 'outStride', 'rows', 'table', 'count'],
  gatherRows: ['data', 'ids', 'count', 'outer', 'dim', 'inner', 'out'],
  reduceLines: ['code', 'x', 'out', 'outer', 'len', 'inner'],
  rowDots: ['x', 'rows', 'k', 'w', 'bias', 'add', 'addStride', 'act', 'out'],
  attentionMixed: ['qkv', 'ctx', 'state', 'out', 'sR', 'sH', 'rows', 'n', 'kc', 'kt', 'h', 'dh', 'div', 'scratch'],
  pairDots: ['rows', 'slots', 'stored', 'kc', 'out', 'batches', 'f', 'd'],
  pairSelect: ['rows', 'slots', 'stored', 'kc', 'pairs', 'count', 'out', 'outStride', 'batches', 'd'],
  attentionRows: ['q', 'k', 'v', 'out', 'qBases', 'kBases', 'vBases', 'batches', 'm', 'o', 'dk', 'dv', 'mul', 'div', 'scores', 'mask', 'masked'],
} as const;

export interface SimdKernels {
  binaryRows(code: number, out: number, a: number, b: number, aBases: number, bBases: number, rows: number, inner: number, sa: number, sb: number): void;
  unaryRows(code: number, out: number, x: number, n: number, p: number, q: number): void;
  layerNormRows(x: number, out: number, rows: number, width: number, eps: number, scale: number, sRows: number, bias: number, bRows: number): void;
  batchedMatmul(a: number, b: number, c: number, aBases: number, bBases: number, batches: number, m: number, k: number, o: number): void;
  softmaxRows(x: number, out: number, rows: number, len: number): void;
  batchedMatmulT(a: number, b: number, c: number, aBases: number, bBases: number, batches: number, m: number, k: number, o: number): void;
  copyRuns(table: number, count: number): void;
  copySegments(out: number, outStride: number, rows: number, table: number, count: number): void;
  /** The first id out of range, or -2^31 when all are in range. */
  gatherRows(data: number, ids: number, count: number, outer: number, dim: number, inner: number, out: number): number;
  reduceLines(code: number, x: number, out: number, outer: number, len: number, inner: number): void;
  rowDots(x: number, rows: number, k: number, w: number, bias: number, add: number, addStride: number, act: number, out: number): void;
  attentionMixed(qkv: number, ctx: number, state: number, out: number, sR: number, sH: number, rows: number, n: number, kc: number, kt: number, h: number, dh: number, div: number, scratch: number): void;
  pairDots(rows: number, slots: number, stored: number, kc: number, out: number, batches: number, f: number, d: number): void;
  pairSelect(rows: number, slots: number, stored: number, kc: number, pairs: number, count: number, out: number, outStride: number, batches: number, d: number): void;
  attentionRows(q: number, k: number, v: number, out: number, qBases: number, kBases: number, vBases: number, batches: number, m: number, o: number, dk: number, dv: number, mul: number, div: number, scores: number, mask: number, masked: number): void;
}

/** Binary op codes (BINARY_CODES, SQUARE_CODE) with a SIMD loop: add, sub, mul, div, max, min, square. */
export const SIMD_BINARY: ReadonlySet<number> = new Set([0, 1, 2, 3, 5, 6, 14]);
/** Unary op codes (UNARY_CODES) with a SIMD loop: neg, abs, reciprocal, sqrt, exp, relu, leaky relu, sigmoid, clip, copy. */
export const SIMD_UNARY: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 6, 7, 8, 12, 14]);

const modules = new Map<WasmVariant, WebAssembly.Module>();

export function simdKernels(memory: WebAssembly.Memory, variant: WasmVariant): SimdKernels {
  let module = modules.get(variant);
  if (!module) modules.set(variant, (module = new WebAssembly.Module(decodeBase64(variant === 'relaxed-simd' ? relaxedBase64 : simdBase64))));
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('wasm kernel abort');
      },
    },
  });
  return instance.exports as unknown as SimdKernels;
}
