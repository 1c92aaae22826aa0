/**
 * What each op launches on WebGPU: its kernel (entry point and override constants), its static parameters
 * and its grid. Specs live in a table keyed by op kind, so a kind without one does not compile, and every
 * params array is built by field name from the op's GpuLayout (src/plan/ops.ts), which
 * test/op-layout.test.ts checks against the WGSL structs. plan.ts owns the buffers these point into.
 */
import type { Op, OpKind, Plan, Slice } from '../../plan/ir.js';
import { ACTIVATION_CODES, COPY_LAYOUT, gpuParams, OPS } from '../../plan/ops.js';
import type { KernelKey } from './pipelines.js';

const LANES = 64;
const MAX_GROUPS = 65535;

const f32Bits = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!;

/** A 2-D grid of 64-lane workgroups covering `count` lanes (x capped by maxComputeWorkgroupsPerDimension). */
function lanes(count: number): [number, number, number] {
  const groups = Math.ceil(count / LANES);
  if (groups === 0) return [0, 0, 0];
  const x = Math.min(groups, MAX_GROUPS);
  return [x, Math.ceil(groups / x), 1];
}

export interface DispatchSpec {
  readonly kernel: KernelKey;
  readonly params: readonly number[];
  readonly a?: GPUBuffer;
  readonly b?: GPUBuffer;
  readonly grid: (rows: number) => [number, number, number];
}

/** A weight chunk on the device: first unit (linear) or row (table), and how many. */
export interface SpecChunk {
  readonly buffer: GPUBuffer;
  readonly start: number;
  readonly count: number;
}

/** What specs are built against (the compiled plan's arena layout and uploads). */
export interface SpecEnv {
  readonly plan: Plan;
  at(s: Slice): number;
  strideOf(s: Slice): number;
  weightShape(name: string): readonly number[];
  /** The first value of a weight (a sum's scalar bias). */
  weightValue(name: string): number;
  linearChunks(name: string): readonly SpecChunk[];
  tableChunks(name: string, dim: number): readonly SpecChunk[];
  bias(name: string): GPUBuffer;
  /** The field's slot in the inputs directory. */
  slot(field: number): number;
}

/** Copy src (any width) to arena offset `out`: also compacts the score column after the candidate stage. */
export function copySpec(e: SpecEnv, src: Slice, out: number, outStride: number): DispatchSpec {
  const params = gpuParams(COPY_LAYOUT, { src: e.at(src), srcStride: e.strideOf(src), out, outStride, width: src.width });
  return { kernel: { entry: 'copy' }, params, grid: (rows) => lanes(rows * src.width) };
}

type Specs<O extends Op> = (e: SpecEnv, op: O) => DispatchSpec[];

/** The launches of one op: usually one; a weight split into chunks launches once per chunk. */
export const SPECS: { readonly [K in OpKind]: Specs<Extract<Op, { kind: K }>> } = {
  gather: (e, op) => {
    const dim = op.out.width;
    const chunks = e.tableChunks(op.table, dim);
    const slot = e.slot(op.field);
    return chunks.map((c, i) => {
      const flags = (i === 0 ? 1 : 0) | (i === chunks.length - 1 ? 2 : 0) | (op.pooling === 'mean' ? 4 : 0);
      const params = gpuParams(OPS.gather.gpu.layout, { out: e.at(op.out), outStride: e.strideOf(op.out), dim, slot, rowBase: c.start, rowCount: c.count, flags });
      return { kernel: { entry: 'gather' }, params, a: c.buffer, grid: (rows) => lanes(rows * dim) };
    });
  },
  dense: (e, op) => {
    const params = gpuParams(OPS.dense.gpu.layout, { out: e.at(op.out), outStride: e.strideOf(op.out), width: op.out.width, slot: e.slot(op.field) });
    return [{ kernel: { entry: 'dense' }, params, grid: (rows) => lanes(rows * op.out.width) }];
  },
  copy: (e, op) => [copySpec(e, op.src, e.at(op.out), e.strideOf(op.out))],
  linear: (e, op) => {
    const [units, ins] = e.weightShape(op.weight) as [number, number];
    const bias = op.bias ? e.bias(op.bias) : undefined;
    const constants = { ACT: ACTIVATION_CODES[op.act], HAS_BIAS: bias ? 1 : 0, HAS_ADD: op.add ? 1 : 0 };
    // A ctx output is one row: the GEMV (a GEMM tile would compute 64 rows to keep one).
    const gemv = e.plan.buffers[op.out.buf]!.rank === 'ctx';
    return e.linearChunks(op.weight).map((c) => ({
      kernel: { entry: gemv ? 'gemv' : 'gemm', constants },
      params: gpuParams(OPS.linear.gpu.layout, {
        x: e.at(op.x),
        xStride: e.strideOf(op.x),
        inDim: ins,
        out: e.at(op.out),
        outStride: e.strideOf(op.out),
        add: op.add ? e.at(op.add) : 0,
        addStride: op.add ? e.strideOf(op.add) : 0,
        units: c.count,
        unitBase: c.start,
        groupIn: ins,
        groupOut: units,
      }),
      a: c.buffer,
      b: bias,
      grid: (rows): [number, number, number] => (gemv ? [lanes(rows * Math.ceil(c.count / 4))[0], 1, op.groups] : [Math.ceil(c.count / 64), Math.ceil(rows / 64), op.groups]),
    }));
  },
  pairs: (e, op) => {
    const count = op.pairs.length / 2;
    const params = gpuParams(
      OPS.pairs.gpu.layout,
      { a: e.at(op.a), aStride: e.strideOf(op.a), b: e.at(op.b), bStride: e.strideOf(op.b), dim: op.dim, count, out: e.at(op.out), outStride: e.strideOf(op.out) },
      op.pairs,
    );
    return [{ kernel: { entry: 'pairs' }, params, grid: (rows) => lanes(rows * count) }];
  },
  outer: (e, op) => {
    const na = op.a.width / op.dim;
    const nb = op.b.width / op.dim;
    const params = gpuParams(OPS.outer.gpu.layout, { a: e.at(op.a), aStride: e.strideOf(op.a), na, b: e.at(op.b), bStride: e.strideOf(op.b), nb, dim: op.dim, out: e.at(op.out), outStride: e.strideOf(op.out) });
    return [{ kernel: { entry: 'outer' }, params, grid: (rows) => lanes(rows * na * nb) }];
  },
  cross: (e, op) => {
    const params = gpuParams(OPS.cross.gpu.layout, {
      x0: e.at(op.x0),
      x0Stride: e.strideOf(op.x0),
      z: e.at(op.z),
      zStride: e.strideOf(op.z),
      x: e.at(op.x),
      xStride: e.strideOf(op.x),
      out: e.at(op.out),
      outStride: e.strideOf(op.out),
      width: op.out.width,
    });
    return [{ kernel: { entry: 'cross' }, params, grid: (rows) => lanes(rows * op.out.width) }];
  },
  fmContext: (e, op) => {
    // One row: no `out` of its own; the sum vector and the scalar go through `sum` and `fm`.
    const params = gpuParams(OPS.fmContext.gpu.layout, { src: e.at(op.src), srcStride: e.strideOf(op.src), count: op.count, dim: op.dim, out: 0, outStride: 0, sum: e.at(op.outSum), fm: e.at(op.outFm), hasContext: 0 });
    return [{ kernel: { entry: 'fmContext' }, params, grid: () => [1, 1, 1] }];
  },
  fm: (e, op) => {
    const params = gpuParams(OPS.fm.gpu.layout, {
      src: e.at(op.src),
      srcStride: e.strideOf(op.src),
      count: op.count,
      dim: op.dim,
      out: e.at(op.out),
      outStride: e.strideOf(op.out),
      sum: op.context ? e.at(op.context.sum) : 0,
      fm: op.context ? e.at(op.context.fm) : 0,
      hasContext: op.context ? 1 : 0,
    });
    return [{ kernel: { entry: 'fm' }, params, grid: (rows) => lanes(rows) }];
  },
  sum: (e, op) => {
    const bias = op.bias ? e.weightValue(op.bias) : 0;
    const params = gpuParams(
      OPS.sum.gpu.layout,
      { out: e.at(op.out), outStride: e.strideOf(op.out), bias: f32Bits(bias), terms: op.terms.length },
      op.terms.flatMap((t) => [e.at(t), e.strideOf(t), t.width]),
    );
    return [{ kernel: { entry: 'sum', constants: { ACT: ACTIVATION_CODES[op.act] } }, params, grid: (rows) => lanes(rows) }];
  },
  attentionContext: (e, op) => {
    const lanesCount = op.heads * op.queries.count;
    const params = gpuParams(OPS.attentionContext.gpu.layout, {
      heads: op.heads,
      headDim: op.headDim,
      scale: f32Bits(op.scale),
      count: op.queries.count,
      q: e.at(op.queries.slice),
      k: e.at(op.keys.slice),
      v: e.at(op.values.slice),
      keys: op.keys.count,
      out: e.at(op.out),
    });
    return [{ kernel: { entry: 'attentionContext' }, params, grid: () => lanes(lanesCount) }];
  },
  attention: (e, op) => {
    const ref = (s: Slice | undefined): [number, number] => (s ? [e.at(s), e.strideOf(s)] : [0, 0]);
    const queries = op.queries.reduce((n, q) => n + q.count, 0);
    // Per query segment [at, stride, count, residual, residualStride, hasResidual]; per key segment
    // [key, keyStride, value, valueStride, count] (the struct's `data`, then the output slots).
    const segments = op.queries.flatMap((q, i) => {
      const res = op.residual?.[i];
      return [...ref(q.slice), q.count, ...ref(res), res ? 1 : 0];
    });
    const keys = op.keys.flatMap((k, i) => [...ref(k.slice), ...ref(op.values[i]!.slice), k.count]);
    const [block, blockStride] = ref(op.block);
    const params = gpuParams(
      OPS.attention.gpu.layout,
      {
        heads: op.heads,
        headDim: op.headDim,
        scale: f32Bits(op.scale),
        queries,
        out: e.at(op.out),
        outStride: e.strideOf(op.out),
        block,
        blockStride,
        hasBlock: op.block ? 1 : 0,
        querySegments: op.queries.length,
        keySegments: op.keys.length,
        slots: segments.length + keys.length,
      },
      [...segments, ...keys, ...op.outSlots],
    );
    return [{ kernel: { entry: 'attention', constants: { ACT: ACTIVATION_CODES[op.act] } }, params, grid: (rows) => lanes(rows * queries * op.heads) }];
  },
};
