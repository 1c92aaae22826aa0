/**
 * What each op compiles to on the WASM backend: a step, one or more kernel calls on fixed offsets of the
 * linear memory (index.ts owns the memory, the weight image and the buffers). Steps live in a table keyed
 * by op kind, so a kind without one does not compile, and every kernel is called with its arguments by
 * name (WASM_KERNELS in src/plan/ops.ts holds their order, which test/op-layout.test.ts checks against the
 * AssemblyScript signatures).
 */
import type { LinearOp, Op, OpKind, Plan, Slice } from '../../plan/ir.js';
import { ACTIVATION_CODES, WASM_ATTENTION_DESC, WASM_KERNELS as WASM_KERNEL_ARGS, wasmArgs } from '../../plan/ops.js';
import type { WASM_KERNELS, WasmArg, WasmKernel } from '../../plan/ops.js';
import type { LinearMemory } from './memory.js';

/** The kernel ABI (wasm/assembly/kernels.ts). Pointers are byte offsets, sizes count f32 elements. */
export type Kernels = {
  readonly [K in WasmKernel]: (...args: Numbers<(typeof WASM_KERNELS)[K]>) => K extends 'packedLength' ? number : void;
};
/** A number per parameter name (a type parameter, so that the mapped type keeps the tuple). */
type Numbers<T extends readonly string[]> = { -readonly [I in keyof T]: number };

/** Call a kernel with its arguments by name (at compile time: packing; steps use `bind`). */
export function call<K extends WasmKernel>(k: Kernels, kernel: K, args: Readonly<Record<WasmArg<K>, number>>): ReturnType<Kernels[K]> {
  return (k[kernel] as unknown as (...a: number[]) => ReturnType<Kernels[K]>)(...wasmArgs(kernel, args));
}

/** An argument of a bound kernel: fixed at compile time, the step's rows, or read at each call (a slot that grows). */
type Arg = number | 'rows' | (() => number);

/**
 * A kernel call with its arguments by name, put in parameter order once, at compile time: each call of
 * the step only writes the rows (and what a getter reads) into the same array. Building the arguments per
 * call (an object, then an array) cost 18% at N=16 on AutoInt, whose steps are many and small.
 */
export function bind<K extends WasmKernel>(k: Kernels, kernel: K, args: Readonly<Record<WasmArg<K>, Arg>>): Step {
  const names = WASM_KERNEL_ARGS[kernel] as readonly WasmArg<K>[];
  const values = names.map((n) => (typeof args[n] === 'number' ? (args[n] as number) : 0));
  const rowsAt = names.findIndex((n) => args[n] === 'rows');
  const getters = names.flatMap((n, i) => (typeof args[n] === 'function' ? [[i, args[n] as () => number] as const] : []));
  const fn = k[kernel] as unknown as (...a: number[]) => void;
  return (rows) => {
    if (rowsAt >= 0) values[rowsAt] = rows;
    for (let j = 0; j < getters.length; j++) values[getters[j]![0]] = getters[j]![1]();
    Reflect.apply(fn, undefined, values);
  };
}

/** Where an input field's data goes for the current rows (grown on demand, so read at call time). */
export interface InputSlot {
  offsets: number;
  ids: number;
  idCapacity: number;
  rowCapacity: number;
}

export interface DenseSlot {
  at: number;
  capacity: number;
}

/** What a step is compiled against. */
export interface StepEnv {
  readonly k: Kernels;
  readonly mem: LinearMemory;
  readonly plan: Plan;
  at(s: Slice): number;
  strideOf(s: Slice): number;
  /** Place an i32 array in memory; its byte offset. */
  ints(values: ArrayLike<number>): number;
  rawAt(weight: string): number;
  packedAt(weight: string): number;
  /** The (shared) input slot of a field, made on first use. */
  sparseSlot(field: number): InputSlot;
  denseSlot(field: number): DenseSlot;
}

export type Step = (rows: number) => void;
type Compile<O extends Op> = (e: StepEnv, op: O) => Step;

/** One compiler per op kind. */
export const STEPS: { readonly [K in OpKind]: Compile<Extract<Op, { kind: K }>> } = {
  gather: (e, op) => {
    const table = e.rawAt(op.table);
    const s = e.sparseSlot(op.field);
    const [out, outStride] = [e.at(op.out), e.strideOf(op.out)];
    const mean = op.pooling === 'mean' ? 1 : 0;
    return bind(e.k, 'gather', { table, dim: op.out.width, offsets: () => s.offsets, ids: () => s.ids, rows: 'rows', out, outStride, mean });
  },
  dense: (e, op) => {
    const slot = e.denseSlot(op.field);
    const [out, outStride, width] = [e.at(op.out), e.strideOf(op.out), op.out.width];
    return bind(e.k, 'copyRows', { src: () => slot.at, srcStride: width, out, outStride, rows: 'rows', width });
  },
  copy: (e, op) => {
    const [src, srcStride, out, outStride] = [e.at(op.src), e.strideOf(op.src), e.at(op.out), e.strideOf(op.out)];
    return bind(e.k, 'copyRows', { src, srcStride, out, outStride, rows: 'rows', width: op.out.width });
  },
  linear: (e, op) => {
    const [outDim] = e.plan.weights.get(op.weight)!.shape as [number, number];
    // Groups share the weight: group g reads and writes the next inDim / outDim columns of each row.
    const groups = Array.from({ length: op.groups }, (_, g) => bind(e.k, 'gemm', gemmArgs(e, op, 0, outDim, g)));
    if (groups.length === 1) return groups[0]!;
    return (rows) => {
      for (let g = 0; g < groups.length; g++) groups[g]!(rows);
    };
  },
  pairs: (e, op) => {
    const pairList = e.ints(op.pairs);
    const [a, aStride, b, bStride, out, outStride] = [e.at(op.a), e.strideOf(op.a), e.at(op.b), e.strideOf(op.b), e.at(op.out), e.strideOf(op.out)];
    const count = op.pairs.length / 2;
    return bind(e.k, 'pairs', { a, aStride, b, bStride, dim: op.dim, pairList, count, rows: 'rows', out, outStride });
  },
  outer: (e, op) => {
    const [a, aStride, b, bStride, out, outStride] = [e.at(op.a), e.strideOf(op.a), e.at(op.b), e.strideOf(op.b), e.at(op.out), e.strideOf(op.out)];
    const [na, nb] = [op.a.width / op.dim, op.b.width / op.dim];
    return bind(e.k, 'outer', { a, aStride, na, b, bStride, nb, dim: op.dim, rows: 'rows', out, outStride });
  },
  cross: (e, op) => {
    const args = { x0: e.at(op.x0), x0Stride: e.strideOf(op.x0), z: e.at(op.z), zStride: e.strideOf(op.z), x: e.at(op.x), xStride: e.strideOf(op.x), out: e.at(op.out), outStride: e.strideOf(op.out) };
    return bind(e.k, 'cross', { ...args, rows: 'rows', width: op.out.width });
  },
  fmContext: (e, op) => {
    const [src, outSum, outFm] = [e.at(op.src), e.at(op.outSum), e.at(op.outFm)];
    return bind(e.k, 'fmContext', { src, count: op.count, dim: op.dim, outSum, outFm });
  },
  fm: (e, op) => {
    const [src, srcStride, out, outStride] = [e.at(op.src), e.strideOf(op.src), e.at(op.out), e.strideOf(op.out)];
    const ctxSum = op.context ? e.at(op.context.sum) : 0;
    const ctxFm = op.context ? e.at(op.context.fm) : 0;
    return bind(e.k, 'fm', { src, srcStride, count: op.count, dim: op.dim, ctxSum, ctxFm, rows: 'rows', out, outStride });
  },
  sum: (e, op) => {
    const [out, os] = [e.at(op.out), e.strideOf(op.out)];
    // From the placed image, not plan.weights: a worker's plan carries weight shapes only (planSkeleton).
    const bias = op.bias ? e.mem.f32[e.rawAt(op.bias) >>> 2]! : 0;
    const terms = op.terms.map((t) => bind(e.k, 'sumColumns', { src: e.at(t), srcStride: e.strideOf(t), width: t.width, rows: 'rows', acc: out, accStride: os }));
    const activate = op.act === 'none' ? undefined : bind(e.k, 'activate', { ptr: out, stride: os, rows: 'rows', width: 1, act: ACTIVATION_CODES[op.act] });
    return (rows) => {
      const f32 = e.mem.f32;
      for (let r = 0; r < rows; r++) f32[(out >>> 2) + r * os] = bias;
      for (const term of terms) term(rows);
      activate?.(rows);
    };
  },
  attentionContext: (e, op) => {
    const [q, k, v, out] = [e.at(op.queries.slice), e.at(op.keys.slice), e.at(op.values.slice), e.at(op.out)];
    return bind(e.k, 'attentionContext', { q, k, v, count: op.queries.count, heads: op.heads, headDim: op.headDim, scale: op.scale, out });
  },
  attention: (e, op) => {
    const scaleBits = new Int32Array(new Float32Array([op.scale]).buffer)[0]!;
    const header: Record<(typeof WASM_ATTENTION_DESC)[number], number> = {
      heads: op.heads,
      headDim: op.headDim,
      scale: scaleBits,
      act: ACTIVATION_CODES[op.act],
      out: e.at(op.out),
      outStride: e.strideOf(op.out),
      block: op.block ? e.at(op.block) : 0,
      blockStride: op.block ? e.strideOf(op.block) : 0,
      slots: e.ints(op.outSlots),
      nq: op.queries.length,
    };
    const desc = WASM_ATTENTION_DESC.map((name) => header[name]);
    op.queries.forEach((q, i) => {
      const res = op.residual?.[i];
      desc.push(e.at(q.slice), e.strideOf(q.slice), q.count, res ? e.at(res) : 0, res ? e.strideOf(res) : 0);
    });
    desc.push(op.keys.length);
    op.keys.forEach((key, i) => {
      const v = op.values[i]!;
      desc.push(e.at(key.slice), e.strideOf(key.slice), e.at(v.slice), e.strideOf(v.slice), key.count);
    });
    const at = e.ints(desc);
    return bind(e.k, 'attention', { desc: at, rows: 'rows' });
  },
};

/**
 * The GEMM arguments of a linear op over output columns [lo, hi) of group g. The packed weight is in panels
 * of 16 output columns, so lo must be a multiple of 16; hi is a multiple of 16 or the layer's width.
 */
function gemmArgs(e: StepEnv, op: LinearOp, lo: number, hi: number, g: number): Record<WasmArg<'gemm'>, Arg> {
  const [outDim, inDim] = e.plan.weights.get(op.weight)!.shape as [number, number];
  const w = e.packedAt(op.weight);
  const bias = op.bias ? e.rawAt(op.bias) : 0;
  const [x, out] = [e.at(op.x), e.at(op.out)];
  const add = op.add ? e.at(op.add) : 0;
  const col = (g * outDim + lo) * 4;
  return {
    x: x + g * inDim * 4,
    xStride: e.strideOf(op.x),
    rows: 'rows',
    w: w + lo * inDim * 4,
    inDim,
    outDim: hi - lo,
    bias: bias ? bias + lo * 4 : 0,
    add: add ? add + col : 0,
    addStride: op.add ? e.strideOf(op.add) : 0,
    out: out + col,
    outStride: e.strideOf(op.out),
    act: ACTIVATION_CODES[op.act],
  };
}

/** The GEMM of a linear op over output columns [lo, hi) of group g, for any split (the context split's columns). */
export function linearKernel(e: StepEnv, op: LinearOp): (rows: number, lo: number, hi: number, g: number) => void {
  return (rows, lo, hi, g) => bind(e.k, 'gemm', gemmArgs(e, op, lo, hi, g))(rows);
}
