/**
 * One record per op kind: everything the runtime knows about a kernel that is not its arithmetic. Its FLOPs
 * (the cost model and `inspect`), its description, the weights it reads, the slices it writes, and the
 * parameter layouts of its device kernels by name: the WGSL struct at @binding(4) and the argument lists of
 * the AssemblyScript exports. The table is keyed by OpKind with a mapped type, so a new op kind without a
 * record does not compile; the backends' kernel tables are keyed the same way. WGSL and AssemblyScript
 * cannot import this file: test/op-layout.test.ts parses them and checks them against these names.
 */
import { RankawareError } from '../errors.js';
import type { Activation, Op, OpKind, Plan, Slice } from './ir.js';

/** Activation codes of the device kernels (WGSL `act`/ACT overrides, AssemblyScript `act` arguments). */
export const ACTIVATION_CODES = { none: 0, relu: 1, sigmoid: 2 } as const satisfies Record<Activation, number>;

/**
 * How a kernel reads a weight: `gemm` a linear weight [out, in] the backend may repack (the WASM backend
 * packs it in panels, WebGPU transposes it); `raw` as stored (embedding tables, biases).
 */
export interface WeightUse {
  readonly name: string;
  readonly use: 'gemm' | 'raw';
}

/**
 * A WGSL parameter struct (bound at @binding(4)), member by member: `fields` in order (the backend fills
 * each by name), then `pad` zero u32s (the struct's _pad members, which round it to 16 bytes), then the
 * runtime-sized array member `tail`, if any, whose values the backend appends.
 */
export interface GpuLayout<F extends string = string> {
  readonly struct: string;
  readonly fields: readonly F[];
  readonly pad: number;
  readonly tail?: string;
}

function layout<const F extends string>(struct: string, fields: readonly F[], pad: number, tail?: string): GpuLayout<F> {
  return tail === undefined ? { struct, fields, pad } : { struct, fields, pad, tail };
}

/** The params array of a layout: the named fields in order, the padding, then the tail values. */
export function gpuParams<F extends string>(l: GpuLayout<F>, values: Readonly<Record<F, number>>, tail: ArrayLike<number> = []): number[] {
  const out = l.fields.map((f) => values[f]);
  for (let i = 0; i < l.pad; i++) out.push(0);
  for (let i = 0; i < tail.length; i++) out.push(tail[i]!);
  return out;
}

/**
 * The exported AssemblyScript kernels (wasm/assembly/kernels.ts) and their parameter names in order: the
 * WASM backend calls them through wasmArgs, by name.
 */
export const WASM_KERNELS = {
  packedLength: ['inDim', 'outDim'],
  packWeight: ['src', 'inDim', 'outDim', 'dst'],
  gemm: ['x', 'xStride', 'rows', 'w', 'inDim', 'outDim', 'bias', 'add', 'addStride', 'out', 'outStride', 'act'],
  gather: ['table', 'dim', 'offsets', 'ids', 'rows', 'out', 'outStride', 'mean'],
  copyRows: ['src', 'srcStride', 'out', 'outStride', 'rows', 'width'],
  pairs: ['a', 'aStride', 'b', 'bStride', 'dim', 'pairList', 'count', 'rows', 'out', 'outStride'],
  outer: ['a', 'aStride', 'na', 'b', 'bStride', 'nb', 'dim', 'rows', 'out', 'outStride'],
  cross: ['x0', 'x0Stride', 'z', 'zStride', 'x', 'xStride', 'out', 'outStride', 'rows', 'width'],
  fmContext: ['src', 'count', 'dim', 'outSum', 'outFm'],
  fm: ['src', 'srcStride', 'count', 'dim', 'ctxSum', 'ctxFm', 'rows', 'out', 'outStride'],
  sumColumns: ['src', 'srcStride', 'width', 'rows', 'acc', 'accStride'],
  activate: ['ptr', 'stride', 'rows', 'width', 'act'],
  attentionContext: ['q', 'k', 'v', 'count', 'heads', 'headDim', 'scale', 'out'],
  attention: ['desc', 'rows'],
} as const;
export type WasmKernel = keyof typeof WASM_KERNELS;
export type WasmArg<K extends WasmKernel> = (typeof WASM_KERNELS)[K][number];

/** The arguments of a WASM kernel in its parameter order, from values by parameter name. */
export function wasmArgs<K extends WasmKernel>(kernel: K, values: Readonly<Record<WasmArg<K>, number>>): number[] {
  return (WASM_KERNELS[kernel] as readonly WasmArg<K>[]).map((name) => values[name]);
}

/**
 * The header of the i32 descriptor that the WASM attention kernel reads (wasm/assembly/attention.ts), by
 * name; segment records follow it.
 */
export const WASM_ATTENTION_DESC = ['heads', 'headDim', 'scale', 'act', 'out', 'outStride', 'block', 'blockStride', 'slots', 'nq'] as const;

export interface OpDef<O extends Op> {
  /** FLOPs for one row of the output (a ctx op runs on one row, a cand op on each candidate); see flops.ts. */
  flops(op: O, plan: Plan): number;
  /** One line for `rankaware inspect`; `name` renders a slice. */
  describe(plan: Plan, op: O, name: (s: Slice) => string): string;
  /** The plan weights the op reads. */
  weights(op: O): readonly WeightUse[];
  /** The slices the op writes; the first one's rank is the op's stage. */
  outputs(op: O): readonly Slice[];
  /** The WGSL entry points the op dispatches and their parameter struct. */
  readonly gpu: { readonly entries: readonly string[]; readonly layout: GpuLayout };
  /** The AssemblyScript kernels the op calls. */
  readonly wasm: readonly WasmKernel[];
}

export type OpTable = { readonly [K in OpKind]: OpDef<Extract<Op, { kind: K }>> };

const out = (op: { readonly out: Slice }): readonly Slice[] => [op.out];
const none = (): readonly WeightUse[] => [];
const zero = (): number => 0;
const count = (segments: readonly { readonly count: number }[]): number => segments.reduce((a, s) => a + s.count, 0);
const raw = (name: string | undefined): WeightUse[] => (name ? [{ name, use: 'raw' }] : []);

const COPY = layout('Copy', ['src', 'srcStride', 'out', 'outStride', 'width'], 3);
// fm and fmContext share one struct: fmContext writes its sum vector and scalar through `sum` and `fm`.
const FM = layout('Fm', ['src', 'srcStride', 'count', 'dim', 'out', 'outStride', 'sum', 'fm', 'hasContext'], 3);

export const OPS = {
  gather: {
    flops: zero,
    describe: (_plan, op, n) => `${op.table} (${op.pooling === 'none' ? 'lookup' : op.pooling + ' pooling'}) -> ${n(op.out)}`,
    weights: (op) => raw(op.table),
    outputs: out,
    gpu: { entries: ['gather'], layout: layout('Gather', ['out', 'outStride', 'dim', 'slot', 'rowBase', 'rowCount', 'flags'], 1) },
    wasm: ['gather'],
  },
  dense: {
    flops: zero,
    describe: (_plan, op, n) => `dense input #${op.field} -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['dense'], layout: layout('Dense', ['out', 'outStride', 'width', 'slot'], 0) },
    wasm: ['copyRows'],
  },
  copy: {
    flops: zero,
    describe: (plan, op, n) => `${n(op.src)} -> ${n(op.out)}${plan.buffers[op.src.buf]!.rank === 'ctx' && plan.buffers[op.out.buf]!.rank === 'cand' ? ' (broadcast)' : ''}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['copy'], layout: COPY },
    wasm: ['copyRows'],
  },
  linear: {
    flops: (op, plan) => {
      const [units, ins] = plan.weights.get(op.weight)!.shape as [number, number];
      return 2 * op.groups * units * ins;
    },
    describe: (plan, op, n) => {
      const [u, i] = plan.weights.get(op.weight)!.shape;
      const extra = [op.bias ? '+ bias' : '', op.add ? `+ ${n(op.add)}` : '', op.act !== 'none' ? op.act : ''].filter(Boolean).join(' ');
      return `${n(op.x)} x ${op.weight}^T [${u}x${i}]${op.groups > 1 ? ` per ${op.groups} vectors` : ''} ${extra} -> ${n(op.out)}`;
    },
    weights: (op) => [{ name: op.weight, use: 'gemm' }, ...raw(op.bias)],
    outputs: out,
    gpu: {
      entries: ['gemm', 'gemv'],
      layout: layout('Gemm', ['x', 'xStride', 'inDim', 'out', 'outStride', 'add', 'addStride', 'units', 'unitBase', 'groupIn', 'groupOut'], 1),
    },
    wasm: ['gemm'],
  },
  pairs: {
    flops: (op) => 2 * (op.pairs.length / 2) * op.dim,
    describe: (_plan, op, n) => `${op.pairs.length / 2} dot pairs of ${op.dim}-vectors in ${n(op.a)} -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['pairs'], layout: layout('Pairs', ['a', 'aStride', 'b', 'bStride', 'dim', 'count', 'out', 'outStride'], 0, 'list') },
    wasm: ['pairs'],
  },
  outer: {
    flops: (op) => 2 * (op.a.width / op.dim) * (op.b.width / op.dim) * op.dim,
    describe: (_plan, op, n) => `${n(op.a)} x ${n(op.b)}^T as ${op.a.width / op.dim}x${op.b.width / op.dim} dot products (target-anchored) -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['outer'], layout: layout('Outer', ['a', 'aStride', 'na', 'b', 'bStride', 'nb', 'dim', 'out', 'outStride'], 3) },
    wasm: ['outer'],
  },
  cross: {
    flops: zero,
    describe: (_plan, op, n) => `${n(op.x0)} * ${n(op.z)} + ${n(op.x)} -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['cross'], layout: layout('Cross', ['x0', 'x0Stride', 'z', 'zStride', 'x', 'xStride', 'out', 'outStride', 'width'], 3) },
    wasm: ['cross'],
  },
  fm: {
    flops: (op) => 2 * (op.count + 1) * op.dim + (op.context ? 2 * op.dim : 0),
    describe: (_plan, op, n) => `FM second order of ${op.count} vectors${op.context ? ' + ctx terms' : ''} -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['fm'], layout: FM },
    wasm: ['fm'],
  },
  fmContext: {
    flops: (op) => 2 * (op.count + 1) * op.dim,
    describe: (_plan, op, n) => `FM sums of ${op.count} ctx vectors -> ${n(op.outSum)}, ${n(op.outFm)}`,
    weights: none,
    outputs: (op) => [op.outSum, op.outFm],
    gpu: { entries: ['fmContext'], layout: FM },
    wasm: ['fmContext'],
  },
  sum: {
    flops: zero,
    describe: (_plan, op, n) => `sum of ${op.terms.map(n).join(', ')}${op.bias ? ' + ' + op.bias : ''}${op.act !== 'none' ? ' ' + op.act : ''} -> ${n(op.out)}`,
    weights: (op) => raw(op.bias),
    outputs: out,
    gpu: { entries: ['sum'], layout: layout('Sum', ['out', 'outStride', 'bias', 'terms'], 0, 'list') },
    wasm: ['sumColumns', 'activate'],
  },
  attention: {
    flops: (op) => {
      const keys = count(op.keys);
      let pairs = 0;
      op.queries.forEach((q, i) => (pairs += q.count * (op.block && i === 0 ? keys - op.keys[0]!.count : keys)));
      return 4 * op.heads * op.headDim * pairs;
    },
    describe: (_plan, op, n) =>
      `attention ${op.heads} heads, ${count(op.queries)} queries x ${count(op.keys)} keys${op.block ? ' (ctx block merged by log-sum-exp)' : ''}${op.residual ? ' + residual' : ''} ${op.act} -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: {
      entries: ['attention'],
      layout: layout('Attention', ['heads', 'headDim', 'scale', 'queries', 'out', 'outStride', 'block', 'blockStride', 'hasBlock', 'querySegments', 'keySegments', 'slots'], 0, 'data'),
    },
    wasm: ['attention'],
  },
  attentionContext: {
    flops: (op) => 4 * op.heads * op.headDim * op.queries.count * op.keys.count,
    describe: (_plan, op, n) => `ctx score block ${op.heads} heads, ${op.queries.count}x${op.keys.count} (max, sum, weighted V) -> ${n(op.out)}`,
    weights: none,
    outputs: out,
    gpu: { entries: ['attentionContext'], layout: layout('AttentionContext', ['heads', 'headDim', 'scale', 'count', 'q', 'k', 'v', 'keys', 'out'], 3) },
    wasm: ['attentionContext'],
  },
} as const satisfies OpTable;

/** The copy entry point's layout, which the WebGPU backend also uses to compact the score column. */
export const COPY_LAYOUT = COPY;

/**
 * The entry of an exhaustive per-kind table for `op`. The table's type covers every OpKind; a plan built
 * outside the type system (or a stale one) can still name another kind, which is refused here rather than
 * skipped or counted as zero.
 */
export function byKind<T>(table: { readonly [K in OpKind]: unknown }, op: { readonly kind: string }): T {
  // Own keys only: "toString" and the like are no op kinds.
  if (!Object.hasOwn(table, op.kind)) throw new RankawareError('plan op', `one of the op kinds ${Object.keys(OPS).join(', ')}`, JSON.stringify(op.kind), 'invalid');
  return (table as Readonly<Record<string, unknown>>)[op.kind] as T;
}

/** The record of an op, typed for any op (TypeScript cannot tie op.kind to the entry's op type). */
export function opDef(op: Op): OpDef<Op> {
  return byKind<OpDef<Op>>(OPS, op);
}
