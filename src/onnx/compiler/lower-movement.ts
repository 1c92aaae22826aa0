/**
 * Lowering data movement: the ops whose outputs copy their inputs' elements (by the interpreter's own map
 * of positions, ./kernels/movement.ts; some of X X^T's products: ./pair-products.ts), Gather by runtime ids, the broadcast of a context row, and the
 * concatenation of rows a split layer reads.
 */
import { RankawareError, show } from '../../errors.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import { attr, axisOf } from '../interpreter/kernel-parts.js';
import { KERNELS, nodeWhere } from '../interpreter/ops.js';
import type { Value } from '../interpreter/tensor.js';
import { broadcastIndex, size } from '../interpreter/tensor.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import { storage } from './builder.js';
import { gatherRows, movePlan, moveStep, rowSegments } from './kernels/movement.js';
import type { MovePlan } from './kernels/movement.js';
import { gpuEmit, known, need } from './lower-parts.js';
import type { Inputs } from './lower-parts.js';
import { selectPairs } from './pair-products.js';

/** A copy plan's absolute source offset for every output element (the GPU's copyMap reads one table). */
function absoluteMap(plan: MovePlan, sourceAt: readonly number[], n: number): Int32Array {
  const abs = new Int32Array(n);
  if (plan.kind === 'map') for (let j = 0; j < n; j++) abs[j] = sourceAt[plan.source[j]!]! + plan.from[j]!;
  else
    for (let r = 0; r < plan.runs.length; r += 4) {
      const [k, from, to, len] = [plan.runs[r]!, plan.runs[r + 1]!, plan.runs[r + 2]!, plan.runs[r + 3]!];
      for (let t = 0; t < len; t++) abs[to + t] = sourceAt[k]! + from + t;
    }
  return abs;
}

/** Copy elements of `sources` into `out` by a plan: the copy kernel (js), or copyMap (webgpu). */
export function emitMove(b: ProgramBuilder, plan: MovePlan, sources: readonly RTensor[], out: RTensor, elidable = false): void {
  const n = size(out.shape);
  if (b.store.gpu) {
    gpuEmit(b, sources, [out], 'copyMap', () => [out.slot.at, b.store.ints(absoluteMap(plan, sources.map((s) => s.slot.at), n)), n], n, elidable);
    return;
  }
  const simd = b.store.simd;
  // Rows of pieces (a concatenation): one kernel call copies them all, row by row.
  const segs = simd && out.shape.length >= 2 ? rowSegments(plan, out.shape[0]!, n / out.shape[0]!) : undefined;
  if (simd && segs) {
    b.emit(sources, [out], () => {
      const per = segs.segments.length / 5;
      const table = new Int32Array(per * 4);
      for (let j = 0; j < per; j++) {
        const [k, from, stride, to, len] = segs.segments.subarray(5 * j, 5 * j + 5);
        table.set([(sources[k!]!.slot.at + from!) * 4, stride! * 4, to! * 4, len!], 4 * j);
      }
      const at = b.store.ints(table) * 4;
      const [o, stride, rows] = [out.slot.at * 4, segs.rowWidth * 4, segs.rows];
      return () => simd.copySegments(o, stride, rows, at, per);
    }, false, elidable);
    return;
  }
  if (simd && plan.kind === 'runs') {
    // The runs as a table of [from, to, floats] in bytes: one memory.copy each, in the kernel.
    b.emit(sources, [out], () => {
      const r = plan.runs;
      const count = r.length / 4;
      const table = new Int32Array(count * 3);
      for (let j = 0; j < count; j++) {
        table[3 * j] = (sources[r[4 * j]!]!.slot.at + r[4 * j + 1]!) * 4;
        table[3 * j + 1] = (out.slot.at + r[4 * j + 2]!) * 4;
        table[3 * j + 2] = r[4 * j + 3]!;
      }
      const at = b.store.ints(table) * 4;
      return () => simd.copyRuns(at, count);
    }, false, elidable);
    return;
  }
  const key = storage(out.dtype);
  b.emit(sources, [out], () => {
    const run = moveStep(plan, sources.map((s) => s.slot.at), out.slot.at);
    return (v) => run(v[key]);
  }, false, elidable);
}
/** The data inputs of each movement op (all: every input); its other inputs must be known. */
export const MOVEMENT: Readonly<Record<string, readonly number[] | 'all'>> = {
  Identity: [0], Reshape: [0], Flatten: [0], Squeeze: [0], Unsqueeze: [0], Transpose: [0], Expand: [0], Tile: [0], Slice: [0],
  Split: [0], Concat: 'all', Gather: [0], GatherElements: [0],
};

/** Copy elements of runtime (or placed known) sources as the interpreter's kernel moves their positions. */
export function lowerMovement(node: GraphNode, ins: Inputs, b: ProgramBuilder): (CValue | undefined)[] {
  const dataIdx = MOVEMENT[node.op] === 'all' ? ins.map((_, i) => i) : (MOVEMENT[node.op] as number[]);
  const sources: RTensor[] = [];
  const offsets: number[] = [];
  let next = 0;
  const fake = ins.map((v, i) => {
    if (!v || !dataIdx.includes(i)) return known(v);
    const t = b.operand(v);
    // A broadcast context value is read from its one row: the positions are the source's, repeated.
    const repeated = b.broadcasts.get(t.slot);
    offsets.push(next);
    sources.push(repeated?.source ?? t);
    const data = new Float64Array(size(t.shape));
    if (repeated) for (let j = 0; j < data.length; j++) data[j] = next + repeated.map[j]!;
    else for (let j = 0; j < data.length; j++) data[j] = next + j;
    next += repeated ? size(repeated.source.shape) : data.length;
    return { dtype: t.dtype, shape: t.shape, data } as Value;
  });
  const outs = KERNELS[node.op]!(fake, node);
  return outs.map((o) => {
    const plan = movePlan(o.data, offsets);
    if (plan.kind === 'runs' && plan.runs.length === 4 && plan.runs[1] === 0 && plan.runs[3] === size(sources[plan.runs[0]!]!.shape))
      return b.view(sources[plan.runs[0]!]!, o.shape);
    // Some of X X^T's products (DLRM's selected pairs): computed here, only those.
    const pairs = sources.length === 1 ? selectPairs(b, sources[0]!, o.data, o.shape) : undefined;
    if (pairs) return pairs;
    const out = b.tensor(sources[0]!.dtype, o.shape);
    emitMove(b, plan, sources, out);
    return out;
  });
}

/** Gather by runtime indices (embedding lookups): rows of the data along `axis`. */
export function lowerGather(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const data = b.operand(need(node, ins, 0));
  const idx = b.operand(need(node, ins, 1));
  const axis = axisOf(node, attr(node, 'axis', 0), data.shape.length);
  const dim = data.shape[axis]!;
  const outer = size(data.shape.slice(0, axis));
  const inner = size(data.shape.slice(axis + 1));
  const count = size(idx.shape);
  const out = b.tensor(data.dtype, [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)]);
  if (b.store.gpu) {
    gpuEmit(b, [data, idx], [out], 'gather', () => [out.slot.at, data.slot.at, idx.slot.at, count, outer, dim, inner], outer * count * inner);
    return [out];
  }
  const simd = b.store.simd;
  if (simd) {
    b.emit([data, idx], [out], () => {
      const [d, i, o] = [data.slot.at * 4, idx.slot.at * 4, out.slot.at * 4];
      return () => {
        const bad = simd.gatherRows(d, i, count, outer, dim, inner, o);
        if (bad !== -0x80000000) throw new RankawareError(nodeWhere(node), `indices in [${-dim}, ${dim})`, show(bad), 'invalid');
      };
    });
    return [out];
  }
  const key = storage(data.dtype);
  b.emit([data, idx], [out], () => {
    const [d, i, o] = [data.slot.at, idx.slot.at, out.slot.at];
    return (v) => {
      const bad = gatherRows(v[key], v.i32, d, i, count, outer, dim, inner, o);
      if (bad !== -1) throw new RankawareError(nodeWhere(node), `indices in [${-dim}, ${dim})`, show(bad), 'invalid');
    };
  });
  return [out];
}
/**
 * A once value ([1, ...] along its candidate axes) repeated to `shape`: a copy kernel, dropped when only
 * copies read it (they read `t` in its place).
 */
export function materialize(b: ProgramBuilder, t: RTensor, shape: readonly number[]): RTensor {
  const map = broadcastIndex(t.shape, shape);
  const plan = movePlan(Float64Array.from(map), [0]);
  const out = b.tensor(t.dtype, shape);
  emitMove(b, plan, [t], out, true);
  b.broadcasts.set(out.slot, { source: t, map });
  return out;
}

/** Rows of several [rows, width_i] tensors side by side: [rows, sum of widths] (one part: a view). */
export function concatColumns(b: ProgramBuilder, parts: readonly RTensor[], widths: readonly number[], rows: number): RTensor {
  const total = widths.reduce((a, w) => a + w, 0);
  if (parts.length === 1) return b.view(parts[0]!, [rows, total]);
  const runs: number[] = [];
  for (let r = 0; r < rows; r++) {
    let col = 0;
    parts.forEach((p, k) => {
      // A part of one row (a context row, or a constant) is the same for every row.
      const one = size(p.shape) === widths[k];
      runs.push(k, one ? 0 : r * widths[k]!, r * total + col, widths[k]!);
      col += widths[k]!;
    });
  }
  const out = b.tensor(parts[0]!.dtype, [rows, total]);
  emitMove(b, { kind: 'runs', runs: Int32Array.from(runs) }, parts, out);
  return out;
}
