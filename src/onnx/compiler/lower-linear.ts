/**
 * Lowering the linear ops: MatMul and Gemm by a constant onto the engine's GEMM (with the fused epilogue),
 * batched MatMul between activations (and A B^T reading a Transpose in place).
 */
import type { Activation } from '../../plan/ir.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import { attr, fail } from '../interpreter/kernel-parts.js';
import type { Value } from '../interpreter/tensor.js';
import { broadcastIndex, broadcastShapes, size } from '../interpreter/tensor.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import { batchedMatmul, batchedMatmulT } from './kernels/math.js';
import { gpuEmit, known, need, unsupported } from './lower-parts.js';
import type { Inputs } from './lower-parts.js';

/** A Gemm/MatMul epilogue fused from the nodes after it (the stage compiler finds them). */
export interface Epilogue {
  /** A constant added to every row ([O] or [1, O], already scaled). */
  readonly bias?: Float64Array;
  /** A runtime tensor added: one row for all ([1, O]) or one per row. */
  readonly add?: RTensor;
  readonly act: Activation;
}
/** out = a W (+ epilogue) where W is a known [K, O] matrix (or its transpose): the engine's GEMM. */
export function gemmByConstant(b: ProgramBuilder, a: RTensor, w: Value, transposed: boolean, alpha: number, epi: Epilogue, outShape: readonly number[]): RTensor {
  const [k, o] = transposed ? [w.shape[1]!, w.shape[0]!] : [w.shape[0]!, w.shape[1]!];
  const rows = size(a.shape) / k;
  const simd = b.store.simd;
  if (o === 1 && simd && !b.store.gpu) {
    // One output (a score head): dot products of rows, not a GEMM padded to a 16-column panel.
    const column = b.operand({ kind: 'known', value: { dtype: 'float', shape: [k], data: Float64Array.from({ length: k }, (_, i) => alpha * w.data[i]!) } });
    const out = b.tensor('float', outShape);
    const add = epi.add;
    const act = epi.act === 'relu' ? 1 : epi.act === 'sigmoid' ? 2 : 0;
    b.emit([a, column, ...(add ? [add] : [])], [out], () => {
      const [xa, wa, oa, aa] = [a.slot.at * 4, column.slot.at * 4, out.slot.at * 4, add ? add.slot.at * 4 : 0];
      const addStride = add && size(add.shape) === 1 ? 0 : 1;
      return () => simd.rowDots(xa, rows, k, wa, epi.bias?.[0] ?? 0, aa, addStride, act, oa);
    });
    return out;
  }
  const at = b.store.weight(w, `${transposed}:${alpha}`, () => {
    const canon = new Float32Array(o * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < o; j++) canon[j * k + i] = alpha * w.data[transposed ? j * k + i : i * o + j]!;
    return canon;
  }, k, o);
  const bias = epi.bias ? b.operand({ kind: 'known', value: { dtype: 'float', shape: [o], data: epi.bias } }) : undefined;
  const out = b.tensor('float', outShape);
  const add = epi.add;
  const addStride = add && size(add.shape) === o ? 0 : o;
  b.emit(
    [a, ...(bias ? [bias] : []), ...(add ? [add] : [])],
    [out],
    () => b.store.gemm.step({ x: a.slot.at, xStride: k, rows, w: at, inDim: k, outDim: o, bias: bias ? bias.slot.at : 0, add: add ? add.slot.at : 0, addStride, out: out.slot.at, outStride: o, act: epi.act }),
    b.store.gpu !== undefined,
  );
  return out;
}

/** numpy MatMul between runtime tensors (or a known first operand): batch axes broadcast. */
function matmulGeneral(node: GraphNode, x: CValue, y: CValue, b: ProgramBuilder): RTensor {
  const [p, q] = [b.operand(x), b.operand(y)];
  const aShape = p.shape.length === 1 ? [1, p.shape[0]!] : p.shape;
  const bShape = q.shape.length === 1 ? [q.shape[0]!, 1] : q.shape;
  const [m, k] = aShape.slice(-2) as [number, number];
  const [k2, o] = bShape.slice(-2) as [number, number];
  if (k !== k2) fail(node, 'operands with matching inner dims', `[${p.shape.join(', ')}] x [${q.shape.join(', ')}]`);
  const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
  if (!batch) fail(node, 'operands whose batch dims broadcast', `[${p.shape.join(', ')}] x [${q.shape.join(', ')}]`);
  const ia = broadcastIndex(aShape.slice(0, -2), batch).map((i) => i * m * k);
  const ib = broadcastIndex(bShape.slice(0, -2), batch).map((i) => i * k * o);
  let shape = [...batch, m, o];
  if (p.shape.length === 1) shape = [...shape.slice(0, -2), o];
  if (q.shape.length === 1) shape = shape.slice(0, -1);
  const out = b.tensor('float', shape);
  emitBatchedMatmul(b, p, q, out, ia, ib, m, k, o);
  return out;
}

/**
 * MatMul(A, Transpose(B, last two axes swapped)) with B read in place: C[t] = A[t] B[t]^T (X X^T of a dot
 * interaction, Q K^T of attention scores). The stage compiler defers such a Transpose when this MatMul is
 * its only reader (not on webgpu).
 */
export function lowerMatMulT(node: GraphNode, x: CValue, bt: CValue, b: ProgramBuilder): RTensor {
  const [p, q] = [b.operand(x), b.operand(bt)];
  const [m, k] = p.shape.slice(-2) as [number, number];
  const [o, k2] = q.shape.slice(-2) as [number, number];
  if (p.shape.length < 2 || q.shape.length < 2 || k !== k2) fail(node, 'operands with matching inner dims', `[${p.shape.join(', ')}] x transposed [${q.shape.join(', ')}]`);
  const batch = broadcastShapes(p.shape.slice(0, -2), q.shape.slice(0, -2));
  if (!batch) fail(node, 'operands whose batch dims broadcast', `[${p.shape.join(', ')}] x transposed [${q.shape.join(', ')}]`);
  const ia = broadcastIndex(p.shape.slice(0, -2), batch).map((i) => i * m * k);
  const ib = broadcastIndex(q.shape.slice(0, -2), batch).map((i) => i * o * k);
  const out = b.tensor('float', [...batch, m, o]);
  emitBatchedMatmul(b, p, q, out, ia, ib, m, k, o, true);
  return out;
}

/**
 * C[t] = A[t] B[t] (or A[t] B[t]^T, `transposed`) with per-batch element offsets ia / ib: the SIMD kernel on
 * the wasm engine, a dispatch on webgpu (which has no transposed form: the stage compiler keeps its
 * Transposes), else js.
 */
export function emitBatchedMatmul(b: ProgramBuilder, p: RTensor, q: RTensor, out: RTensor, ia: Int32Array, ib: Int32Array, m: number, k: number, o: number, transposed = false): void {
  if (b.store.gpu) {
    if (transposed) throw new Error('import bug: a transposed batched MatMul on webgpu');
    gpuEmit(b, [p, q], [out], 'bmm', () => [p.slot.at, q.slot.at, out.slot.at, b.store.ints(ia), b.store.ints(ib), ia.length, m, k, o], ia.length * m * o);
    return;
  }
  const simd = b.store.simd;
  if (simd) {
    const [ab, bb] = [b.store.ints(ia), b.store.ints(ib)];
    const kernel = transposed ? simd.batchedMatmulT : simd.batchedMatmul;
    b.emit([p, q], [out], () => {
      const [pa, qa, oa] = [p.slot.at * 4, q.slot.at * 4, out.slot.at * 4];
      return () => kernel(pa, qa, oa, ab * 4, bb * 4, ia.length, m, k, o);
    });
    return;
  }
  const js = transposed ? batchedMatmulT : batchedMatmul;
  b.emit([p, q], [out], () => {
    const [pa, qa, oa] = [p.slot.at, q.slot.at, out.slot.at];
    return (v) => js(v.f32, pa, qa, oa, ia, ib, m, k, o);
  });
}

/** MatMul; by a known 2-D second operand it is the engine's GEMM (with the fused epilogue). */
export function lowerMatMul(node: GraphNode, ins: Inputs, b: ProgramBuilder, epi: Epilogue = { act: 'none' }): CValue[] {
  const [x, y] = [need(node, ins, 0), need(node, ins, 1)];
  const w = known(y);
  if (w && w.shape.length === 2 && x.kind === 'tensor' && x.shape.length >= 1 && x.shape[x.shape.length - 1] === w.shape[0]) {
    const outShape = [...x.shape.slice(0, -1), w.shape[1]!];
    return [gemmByConstant(b, x, w, false, 1, epi, outShape)];
  }
  if (epi.bias || epi.add || epi.act !== 'none') throw new Error('import bug: an epilogue fused into a MatMul without a constant weight');
  // TorchRec's W @ x.unsqueeze(2): a known [O, K] by [..., K, 1] is the GEMM of the rows x by W^T.
  const wa = known(x);
  if (wa && wa.shape.length === 2 && y.kind === 'tensor' && y.shape.length >= 3 && y.shape[y.shape.length - 1] === 1 && y.shape[y.shape.length - 2] === wa.shape[1]) {
    const rows = b.view(y, [size(y.shape.slice(0, -2)), wa.shape[1]!]);
    return [gemmByConstant(b, rows, wa, true, 1, epi, [...y.shape.slice(0, -2), wa.shape[0]!, 1])];
  }
  return [matmulGeneral(node, x, y, b)];
}

/** Gemm: alpha A B' + beta C. By a known B it is the engine's GEMM with C as its bias or addend. */
export function lowerGemm(node: GraphNode, ins: Inputs, b: ProgramBuilder, epi: Epilogue = { act: 'none' }): CValue[] {
  const [x, y] = [need(node, ins, 0), need(node, ins, 1)];
  if (attr(node, 'transA', 0)) unsupported(node, 'Gemm without transA');
  const transB = attr(node, 'transB', 0) !== 0;
  const [alpha, beta] = [attr(node, 'alpha', 1), attr(node, 'beta', 1)];
  const w = known(y);
  const c = ins[2];
  const a = b.operand(x);
  if (!w || a.shape.length !== 2) {
    if (epi.bias || epi.add || epi.act !== 'none') throw new Error('import bug: an epilogue fused into a Gemm without a constant weight');
    unsupported(node, 'Gemm by a constant B');
  }
  const o = transB ? w.shape[0]! : w.shape[1]!;
  let bias = epi.bias;
  let add = epi.add;
  const cv = known(c);
  if (cv && (size(cv.shape) === o || size(cv.shape) === 1)) {
    const own = Float64Array.from({ length: o }, (_, j) => beta * cv.data[size(cv.shape) === 1 ? 0 : j]!);
    if (bias) for (let j = 0; j < o; j++) own[j]! += bias[j]!;
    bias = own;
  } else if (c) {
    if (add || beta !== 1) unsupported(node, 'Gemm whose C is a bias vector, or a matrix with beta 1');
    add = b.operand(c);
  }
  return [gemmByConstant(b, a, w, transB, alpha, { bias, add, act: epi.act }, [a.shape[0]!, o])];
}
