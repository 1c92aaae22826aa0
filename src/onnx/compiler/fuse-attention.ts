/**
 * Scaled dot-product attention fused into one kernel: MatMul(Q, Transpose(K)) [then Div or Mul by a
 * constant] [then Add of a key mask: one row of o scores, broadcast over the rest], Softmax over the keys, MatMul by V become one pass per query row (wasm/assembly/attention-rows.ts
 * on the wasm engine, the same loops in js), so the [m, o] scores are never written and read back by
 * four kernels. Each intermediate must be read only by the next node, as in the LayerNorm fusion.
 * WebGPU keeps the nodes (its stage compiler reads no Transpose in place).
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { attr, axisOf } from '../interpreter/kernel-parts.js';
import { broadcastIndex, broadcastShapes } from '../interpreter/tensor.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import type { FusionView } from './fuse-layer-norm.js';
import { scalar } from './lower-parts.js';
import { attentionRows } from './kernels/math.js';

/**
 * The attention block whose scores are `scores` = MatMul(q, Transpose(k)) (k read in place, [..., o, dk]),
 * or undefined when the nodes after it are not scale, Softmax over the keys and MatMul by the values.
 */
export function fusedAttention(scores: GraphNode, q: CValue, k: CValue, v: FusionView, b: ProgramBuilder): { absorbed: GraphNode[]; output: string; value: RTensor } | undefined {
  if (b.store.gpu || q.kind !== 'tensor' || q.dtype !== 'float' || q.shape.length < 2) return undefined;
  const absorbed: GraphNode[] = [];
  let at = scores.outputs[0]!;
  let [mul, div] = [1, 1];
  let next = v.sole(at);
  if (next && (next.op === 'Div' || next.op === 'Mul')) {
    const other = next.inputs[0] === at ? next.inputs[1]! : next.inputs[0]!;
    const c = scalar(v.read(other, next));
    if (c === undefined || (next.op === 'Div' && next.inputs[0] !== at)) return undefined;
    if (next.op === 'Div') div = c;
    else mul = c;
    absorbed.push(next);
    at = next.outputs[0]!;
    next = v.sole(at);
  }
  const rank = q.shape.length;
  // A key mask (bst's 0 / -1e9 on padded keys): one row of o values added to every row of scores.
  let mask: CValue | undefined;
  if (next && next.op === 'Add') {
    const other = next.inputs[0] === at ? next.inputs[1]! : next.inputs[0]!;
    const m = v.read(other, next);
    const shapeOf = (c: CValue) => (c.kind === 'tensor' ? c.shape : c.value.shape);
    const o = shapeOf(k).at(-2);
    const ms = m && shapeOf(m);
    if (!m || !ms || (m.kind === 'tensor' ? m.dtype : m.value.dtype) !== 'float' || ms.length > rank || ms.at(-1) !== o || ms.slice(0, -1).some((d) => d !== 1)) return undefined;
    mask = m;
    absorbed.push(next);
    at = next.outputs[0]!;
    next = v.sole(at);
  }
  if (!next || next.op !== 'Softmax' || axisOf(next, attr(next, 'axis', -1), rank) !== rank - 1) return undefined;
  absorbed.push(next);
  at = next.outputs[0]!;
  const weighted = v.sole(at);
  if (!weighted || weighted.op !== 'MatMul' || weighted.inputs[0] !== at || weighted.inputs[1] === at) return undefined;
  const values = v.read(weighted.inputs[1]!, weighted);
  if (!values || values.kind !== 'tensor' || values.dtype !== 'float' || values.shape.length !== rank) return undefined;
  absorbed.push(weighted);
  const kt = b.operand(k);
  const [m, dk] = q.shape.slice(-2) as [number, number];
  const [o, dk2] = kt.shape.slice(-2) as [number, number];
  const [o2, dv] = values.shape.slice(-2) as [number, number];
  if (kt.shape.length !== rank || dk !== dk2 || o !== o2) return undefined;
  const scored = broadcastShapes(q.shape.slice(0, -2), kt.shape.slice(0, -2));
  const batch = scored && broadcastShapes(scored, values.shape.slice(0, -2));
  if (!batch) return undefined;
  const bases = (t: RTensor, rowElems: number) => broadcastIndex(t.shape.slice(0, -2), batch).map((i) => i * rowElems);
  const [qb, kb, vb] = [bases(q, m * dk), bases(kt, o * dk), bases(values, o * dv)];
  const out = b.tensor('float', [...batch, m, dv]);
  const room = b.tensor('float', [Math.ceil(o / 4) * 4]);
  const simd = b.store.simd;
  const mk = mask && b.operand(mask);
  const reads = mk ? [q, kt, values, mk] : [q, kt, values];
  if (simd) {
    const [qa, ka, va] = [b.store.ints(qb), b.store.ints(kb), b.store.ints(vb)];
    b.emit(reads, [out, room], () => {
      const [p, kk, vv, oo, r] = [q.slot.at * 4, kt.slot.at * 4, values.slot.at * 4, out.slot.at * 4, room.slot.at * 4];
      const mm = mk ? mk.slot.at * 4 : 0;
      return () => simd.attentionRows(p, kk, vv, oo, qa * 4, ka * 4, va * 4, qb.length, m, o, dk, dv, mul, div, r, mm, mk ? 1 : 0);
    });
  } else {
    b.emit(reads, [out, room], () => {
      const [p, kk, vv, oo, r] = [q.slot.at, kt.slot.at, values.slot.at, out.slot.at, room.slot.at];
      const mm = mk ? mk.slot.at : -1;
      return (views) => attentionRows(views.f32, p, kk, vv, oo, qb, kb, vb, m, o, dk, dv, mul, div, r, mm);
    });
  }
  return { absorbed, output: weighted.outputs[0]!, value: out };
}
