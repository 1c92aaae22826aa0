/**
 * Lowering one node of an imported graph onto float32 kernels, at the shapes of one compiled program.
 * A node whose inputs are all known is folded by the interpreter (shape arithmetic, constants); a data
 * movement op becomes one copy kernel whose element map the interpreter computes (./lower-movement.ts);
 * MatMul and Gemm are ./lower-linear.ts; the elementwise, normalization and reduction ops are here. An op with no lowering is refused with the node's name: nothing
 * falls back to the float64 interpreter silently.
 */
import type { GraphNode } from '../reader/onnx-graph.js';
import { einsumSizes, parseEinsum } from '../interpreter/einsum.js';
import { attr, axisOf, fail } from '../interpreter/kernel-parts.js';
import { KERNELS } from '../interpreter/ops.js';
import type { DType, Value } from '../interpreter/tensor.js';
import { broadcastIndex, broadcastShapes, size, strides } from '../interpreter/tensor.js';
import type { CValue, ProgramBuilder, RTensor } from './builder.js';
import { storage } from './builder.js';
import { broadcastPlan } from './kernels/broadcast.js';
import { BINARY_CODES, SQUARE_CODE, UNARY_CODES, binary, cast, unary, where } from './kernels/elementwise.js';
import type { BinaryOp, UnaryOp } from './kernels/elementwise.js';
import { REDUCE_CODES, channelAffine, einsum, layerNorm, reduce, reduceBlock, softmax } from './kernels/math.js';
import type { ReduceKind } from './kernels/math.js';
import { SIMD_BINARY, SIMD_UNARY } from './simd-kernels.js';
import { gpuEmit, isInt, known, need, unsupported } from './lower-parts.js';
import type { Inputs } from './lower-parts.js';
import { lowerGather, lowerMovement, MOVEMENT } from './lower-movement.js';
import { emitBatchedMatmul, lowerGemm, lowerMatMul } from './lower-linear.js';


type Lowering = (node: GraphNode, ins: Inputs, b: ProgramBuilder) => (CValue | undefined)[];
const COMPARISONS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or']);

function binaryOf(node: GraphNode, op: BinaryOp, x: CValue, y: CValue, b: ProgramBuilder): RTensor {
  const [p, q] = [b.operand(x), b.operand(y)];
  const shape = broadcastShapes(p.shape, q.shape);
  if (!shape) fail(node, 'inputs whose shapes broadcast', `[${p.shape.join(', ')}] and [${q.shape.join(', ')}]`);
  const dtype: DType = COMPARISONS.has(op) ? 'bool' : p.dtype === 'float' || q.dtype === 'float' ? 'float' : 'int';
  const out = b.tensor(dtype, shape);
  const plan = broadcastPlan([p.shape, q.shape], shape);
  const [sp, sq, so] = [storage(p.dtype), storage(q.dtype), storage(dtype)];
  const exponent = op === 'Pow' && y.kind === 'known' && size(y.value.shape) === 1 ? y.value.data[0] : undefined;
  const code = exponent === 2 ? SQUARE_CODE : BINARY_CODES[op];
  if (b.store.gpu) {
    const [sa, sb] = plan.steps as [number, number];
    gpuEmit(b, [p, q], [out], 'binary', () => [code, out.slot.at, p.slot.at, q.slot.at, b.store.ints(plan.bases[0]!), b.store.ints(plan.bases[1]!), plan.rows, plan.inner, sa, sb, isInt(p), isInt(q), isInt(out)], plan.rows * plan.inner);
    return out;
  }
  const simd = b.store.simd;
  if (simd && SIMD_BINARY.has(code) && dtype === 'float' && p.dtype === 'float' && q.dtype === 'float') {
    const [ab, bb] = [b.store.ints(plan.bases[0]!), b.store.ints(plan.bases[1]!)];
    const [sa, sb] = plan.steps as [number, number];
    b.emit([p, q], [out], () => {
      const [oa, pa, qa] = [out.slot.at * 4, p.slot.at * 4, q.slot.at * 4];
      return () => simd.binaryRows(code, oa, pa, qa, ab * 4, bb * 4, plan.rows, plan.inner, sa, sb);
    });
    return out;
  }
  b.emit([p, q], [out], () => {
    const [pa, qa, oa] = [p.slot.at, q.slot.at, out.slot.at];
    return (v) => binary(code, v[so], v[sp], v[sq], oa, pa, qa, plan);
  });
  return out;
}

function lowerBinary(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const op = (node.op === 'Sum' ? 'Add' : node.op) as BinaryOp;
  const operands = ins.filter((v): v is CValue => v !== undefined);
  if (operands.length === 1) return [operands[0]!];
  let acc = binaryOf(node, op, operands[0]!, operands[1]!, b);
  for (const next of operands.slice(2)) acc = binaryOf(node, op, acc, next, b);
  return [acc];
}

function lowerWhere(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const [c, x, y] = [0, 1, 2].map((i) => b.operand(need(node, ins, i))) as [RTensor, RTensor, RTensor];
  const shape = broadcastShapes(broadcastShapes(c.shape, x.shape) ?? [], y.shape);
  if (!shape || !broadcastShapes(c.shape, x.shape)) fail(node, 'inputs whose shapes broadcast', `[${c.shape}], [${x.shape}], [${y.shape}]`);
  const out = b.tensor(x.dtype, shape);
  const plan = broadcastPlan([c.shape, x.shape, y.shape], shape);
  if (b.store.gpu) {
    const [sc, sx, sy] = plan.steps as [number, number, number];
    gpuEmit(b, [c, x, y], [out], 'select3', () => [out.slot.at, c.slot.at, x.slot.at, y.slot.at, ...plan.bases.map((t) => b.store.ints(t)), plan.rows, plan.inner, sc, sx, sy], plan.rows * plan.inner);
    return [out];
  }
  const [sx, sy, so] = [storage(x.dtype), storage(y.dtype), storage(x.dtype)];
  b.emit([c, x, y], [out], () => {
    const [ca, xa, ya, oa] = [c.slot.at, x.slot.at, y.slot.at, out.slot.at];
    return (v) => where(v[so], v.i32, v[sx], v[sy], oa, ca, xa, ya, plan);
  });
  return [out];
}

function lowerUnary(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  let [p, q] = [0, 0];
  if (node.op === 'LeakyRelu') p = attr(node, 'alpha', 0.01);
  if (node.op === 'Clip') {
    if ((ins[1] && !known(ins[1])) || (ins[2] && !known(ins[2]))) unsupported(node, 'Clip with constant bounds');
    p = ins[1] ? known(ins[1])!.data[0]! : attr(node, 'min', -Infinity);
    q = ins[2] ? known(ins[2])!.data[0]! : attr(node, 'max', Infinity);
  }
  const dtype: DType = node.op === 'Not' ? 'bool' : node.op === 'Clip' || node.op === 'Neg' || node.op === 'Abs' ? x.dtype : 'float';
  const out = b.tensor(dtype, x.shape);
  const code = node.op === 'Gelu' && node.attrs.get('approximate') === 'tanh' ? UNARY_CODES.GeluTanh : UNARY_CODES[node.op as UnaryOp];
  const [sx, so] = [storage(x.dtype), storage(dtype)];
  const n = size(x.shape);
  if (b.store.gpu) {
    gpuEmit(b, [x], [out], 'unary', () => [code, out.slot.at, x.slot.at, n, { f: p }, { f: q }, isInt(x), isInt(out)], n);
    return [out];
  }
  const simd = b.store.simd;
  if (simd && SIMD_UNARY.has(code) && x.dtype === 'float' && dtype === 'float') {
    b.emit([x], [out], () => {
      const [xa, oa] = [x.slot.at * 4, out.slot.at * 4];
      return () => simd.unaryRows(code, oa, xa, n, p, q);
    });
    return [out];
  }
  b.emit([x], [out], () => {
    const [xa, oa] = [x.slot.at, out.slot.at];
    return (v) => unary(code, v[so], v[sx], oa, xa, n, p, q);
  });
  return [out];
}

function lowerCast(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  const code = attr(node, 'to', 1);
  const to: DType = code === 1 || code === 10 || code === 11 || code === 16 ? 'float' : code === 9 ? 'bool' : 'int';
  // Same storage and no change of value: the same elements (bool to int keeps 0 and 1).
  if (to === x.dtype || (to === 'int' && x.dtype === 'bool')) return [{ ...x, dtype: to }];
  const out = b.tensor(to, x.shape);
  const [sx, so] = [storage(x.dtype), storage(to)];
  const n = size(x.shape);
  if (b.store.gpu) {
    gpuEmit(b, [x], [out], 'convert', () => [out.slot.at, x.slot.at, n, isInt(x), to === 'float' ? 0 : to === 'int' ? 1 : 2], n);
    return [out];
  }
  b.emit([x], [out], () => {
    const [xa, oa] = [x.slot.at, out.slot.at];
    return (v) => cast(v[so], v[sx], oa, xa, n, to);
  });
  return [out];
}
function lowerSoftmax(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  const axis = axisOf(node, attr(node, 'axis', -1), x.shape.length);
  const [outer, len, inner] = [size(x.shape.slice(0, axis)), x.shape[axis]!, size(x.shape.slice(axis + 1))];
  const out = b.tensor('float', x.shape);
  const log = node.op === 'LogSoftmax';
  if (b.store.gpu) {
    gpuEmit(b, [x], [out], 'softmax', () => [x.slot.at, out.slot.at, outer, len, inner, log ? 1 : 0], outer * inner);
    return [out];
  }
  const simd = b.store.simd;
  if (simd && inner === 1 && !log) {
    b.emit([x], [out], () => {
      const [xa, oa] = [x.slot.at * 4, out.slot.at * 4];
      return () => simd.softmaxRows(xa, oa, outer, len);
    });
    return [out];
  }
  b.emit([x], [out], () => {
    const [xa, oa] = [x.slot.at, out.slot.at];
    return (v) => softmax(v.f32, xa, oa, outer, len, inner, log);
  });
  return [out];
}

function lowerLayerNorm(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  const axis = axisOf(node, attr(node, 'axis', -1), x.shape.length);
  return [layerNormOf(node, b, x, axis, attr(node, 'epsilon', 1e-5), b.operand(need(node, ins, 1), 'float'), ins[2] ? b.operand(ins[2], 'float') : undefined)];
}

/**
 * Normalize x over its axes from `axis` on. Scale and bias broadcast over the normalized axes, or over
 * the last axes of a row block ([F, D] per field, as MaskNet's field-wise LayerNorm writes them).
 */
export function layerNormOf(node: GraphNode, b: ProgramBuilder, x: RTensor, axis: number, eps: number, scale: RTensor | undefined, bias: RTensor | undefined): RTensor {
  const width = size(x.shape.slice(axis));
  const rows = size(x.shape.slice(0, axis));
  const fits = (t: RTensor | undefined) => {
    if (!t) return true;
    const n = size(t.shape);
    const trailing = t.shape.length <= x.shape.length && t.shape.every((d, i) => d === 1 || d === x.shape[x.shape.length - t.shape.length + i]);
    // Within a row: the trailing normalized dims themselves ([5] or [3, 5] of [N, 3, 5]), leading ones aside.
    const core = t.shape.slice(Math.max(0, t.shape.findIndex((d) => d !== 1)));
    const suffix = core.length <= x.shape.length - axis && core.every((d, i) => d === x.shape[x.shape.length - core.length + i]);
    return n > 0 && (n <= width ? n === 1 || suffix : n % width === 0 && trailing && rows % (n / width) === 0);
  };
  const shown = (t: RTensor | undefined) => (t ? `[${t.shape.join(', ')}]` : 'none');
  if (!fits(scale) || !fits(bias)) fail(node, `Scale and B broadcastable to the normalized shape [${x.shape.slice(axis).join(', ')}]`, `${shown(scale)} and ${shown(bias)}`);
  const [sLen, bLen] = [scale ? size(scale.shape) : 1, bias ? size(bias.shape) : 1];
  const out = b.tensor('float', x.shape);
  if (b.store.gpu) {
    const rowsOf = (len: number) => (len > width ? [len / width, width] : [1, len]);
    const [[sRows, sCols], [bRows, bCols]] = [rowsOf(sLen), rowsOf(bLen)];
    gpuEmit(b, [x, ...(scale ? [scale] : []), ...(bias ? [bias] : [])], [out], 'layerNorm', () => [x.slot.at, out.slot.at, rows, width, { f: eps }, scale ? scale.slot.at : 0, sRows!, sCols!, bias ? bias.slot.at : 0, bRows!, bCols!], rows);
    return out;
  }
  const simd = b.store.simd;
  // The SIMD kernel reads scale and bias as whole rows (a [width] or per-field [F, width] table).
  if (simd && (!scale || sLen % width === 0) && (!bias || bLen % width === 0)) {
    b.emit([x, ...(scale ? [scale] : []), ...(bias ? [bias] : [])], [out], () => {
      const [xa, oa, sa, ba] = [x.slot.at * 4, out.slot.at * 4, scale ? scale.slot.at * 4 : 0, bias ? bias.slot.at * 4 : 0];
      return () => simd.layerNormRows(xa, oa, rows, width, eps, sa, scale ? sLen / width : 1, ba, bias ? bLen / width : 1);
    });
    return out;
  }
  b.emit([x, ...(scale ? [scale] : []), ...(bias ? [bias] : [])], [out], () => {
    const [xa, oa, sa, ba] = [x.slot.at, out.slot.at, scale ? scale.slot.at : 0, bias ? bias.slot.at : 0];
    return (v) => layerNorm(v.f32, xa, oa, rows, width, eps, sa, sLen, ba, bLen);
  });
  return out;
}

function lowerBatchNorm(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  const params = [1, 2, 3, 4].map((i) => known(ins[i]));
  if (params.some((p) => !p)) unsupported(node, 'BatchNormalization with constant scale, B, mean and var');
  if (attr(node, 'training_mode', 0) !== 0) fail(node, 'training_mode 0 (inference)', `training_mode ${attr(node, 'training_mode', 0)}`);
  const [scale, shift, mean, variance] = params as Value[];
  const channels = x.shape[1]!;
  if ([scale, shift, mean, variance].some((p) => p!.data.length !== channels)) fail(node, `parameters of ${channels} values (one per channel)`, `shape [${scale!.shape.join(', ')}]`);
  const eps = attr(node, 'epsilon', 1e-5);
  const a = Float64Array.from({ length: channels }, (_, c) => scale!.data[c]! / Math.sqrt(variance!.data[c]! + eps));
  const s = Float64Array.from({ length: channels }, (_, c) => shift!.data[c]! - mean!.data[c]! * a[c]!);
  const inner = size(x.shape.slice(2));
  const n = size(x.shape);
  const out = b.tensor('float', x.shape);
  if (b.store.gpu) {
    const [ta, ts] = [b.operand({ kind: 'known', value: { dtype: 'float', shape: [channels], data: a } }), b.operand({ kind: 'known', value: { dtype: 'float', shape: [channels], data: s } })];
    gpuEmit(b, [x, ta, ts], [out], 'affine', () => [x.slot.at, out.slot.at, n, channels, inner, ta.slot.at, ts.slot.at], n);
    return [out];
  }
  b.emit([x], [out], () => {
    const [xa, oa] = [x.slot.at, out.slot.at];
    return (v) => channelAffine(v.f32, xa, oa, n, channels, inner, a, s);
  });
  return [out];
}

const REDUCTIONS: Readonly<Record<string, ReduceKind>> = {
  ReduceSum: 'sum', ReduceMean: 'mean', ReduceMax: 'max', ReduceMin: 'min', ReduceProd: 'prod', ReduceL2: 'l2',
};

function lowerReduce(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const x = b.operand(need(node, ins, 0));
  if (ins[1] && !known(ins[1])) unsupported(node, 'reductions over constant axes');
  const keep = attr(node, 'keepdims', 1) !== 0;
  let axes = (node.attrs.get('axes') as number[] | undefined) ?? (ins[1] ? [...known(ins[1])!.data] : undefined);
  if (!axes || axes.length === 0) {
    if (attr(node, 'noop_with_empty_axes', 0)) return [x];
    axes = x.shape.map((_, i) => i);
  }
  const set = new Set(axes.map((a) => axisOf(node, a, x.shape.length)));
  const kept = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const map = broadcastIndex(kept, x.shape);
  const outSize = size(kept);
  const dtype: DType = x.dtype === 'int' ? 'int' : 'float';
  const out = b.tensor(dtype, keep ? kept : x.shape.filter((_, i) => !set.has(i)));
  const code = REDUCE_CODES[REDUCTIONS[node.op]!];
  const count = size(x.shape) / Math.max(outSize, 1);
  const [sx, so] = [storage(x.dtype), storage(dtype)];
  if (sx !== so) unsupported(node, 'reductions of float or int tensors');
  // Reduced axes in one block (size-1 axes aside): a plain strided loop.
  const moving = x.shape.map((_, i) => i).filter((i) => x.shape[i] !== 1);
  const red = moving.filter((i) => set.has(i));
  const block = red.length > 0 && moving.filter((i) => i >= red[0]! && i <= red[red.length - 1]!).every((i) => set.has(i));
  if (block) {
    const [first, last] = [red[0]!, red[red.length - 1]!];
    const [outer, len, inner] = [size(x.shape.slice(0, first)), size(x.shape.slice(first, last + 1)), size(x.shape.slice(last + 1))];
    if (b.store.gpu) {
      gpuEmit(b, [x], [out], 'reduceLines', () => [x.slot.at, out.slot.at, outer, len, inner, code, isInt(x)], outer * inner);
      return [out];
    }
    const simd = b.store.simd;
    if (simd && sx === 'f32' && len > 0) {
      b.emit([x], [out], () => {
        const [xa, oa] = [x.slot.at * 4, out.slot.at * 4];
        return () => simd.reduceLines(code, xa, oa, outer, len, inner);
      });
      return [out];
    }
    b.emit([x], [out], () => {
      const [xa, oa] = [x.slot.at, out.slot.at];
      return (v) => reduceBlock(v[so], xa, oa, outer, len, inner, code);
    });
    return [out];
  }
  if (b.store.gpu) {
    // Per axis: its dim, stride in x, stride in the output (0: reduced), radix among the reduced axes.
    const inStrides = x.shape.map((_, i) => size(x.shape.slice(i + 1)));
    const outStrides = x.shape.map((_, i) => (set.has(i) ? 0 : size(kept.slice(i + 1))));
    let radix = 1;
    const radices: number[] = new Array(x.shape.length).fill(0);
    for (let i = x.shape.length - 1; i >= 0; i--)
      if (set.has(i)) {
        radices[i] = radix;
        radix *= x.shape[i]!;
      }
    const table = Int32Array.from(x.shape.flatMap((d, i) => [d, inStrides[i]!, outStrides[i]!, radices[i]!]));
    gpuEmit(b, [x], [out], 'reduceAxes', () => [x.slot.at, out.slot.at, x.shape.length, b.store.ints(table), outSize, count, code, isInt(x)], outSize);
    return [out];
  }
  b.emit([x], [out], () => {
    const [xa, oa] = [x.slot.at, out.slot.at];
    const acc = new Float64Array(outSize);
    return (v) => reduce(v[so], xa, oa, map, acc, code, count);
  });
  return [out];
}

function lowerEinsum(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const operands = ins.filter((v): v is CValue => v !== undefined).map((v) => b.operand(v, 'float'));
  if (operands.length > 3) unsupported(node, 'Einsum of one to three operands');
  const { inputs: terms, output } = parseEinsum(node, operands.length);
  const sizes = einsumSizes(node, terms, operands.map((o) => o.shape));
  const letters = [...sizes.keys()];
  const stridesFor = (term: string) => {
    const own = strides([...term].map((c) => sizes.get(c)!));
    return Int32Array.from(letters, (c) => [...term].reduce((s, t, axis) => (t === c ? s + own[axis]! : s), 0));
  };
  const dims = Int32Array.from(letters, (c) => sizes.get(c)!);
  const operandStrides = terms.map(stridesFor);
  const so = stridesFor(output);
  const out = b.tensor('float', [...output].map((c) => sizes.get(c)!));
  const n = size(out.shape);
  if (b.store.gpu) {
    // Per letter: its dim, strides in each operand and in the output (0: summed), its radix among the summed letters.
    let radix = 1;
    const summed: number[] = new Array(letters.length).fill(0);
    for (let l = letters.length - 1; l >= 0; l--)
      if (so[l] === 0) {
        summed[l] = radix;
        radix *= dims[l]!;
      }
    const table = Int32Array.from(letters.flatMap((_, l) => [dims[l]!, operandStrides[0]![l]!, operandStrides[1]?.[l] ?? 0, operandStrides[2]?.[l] ?? 0, so[l]!, summed[l]!]));
    const at = (i: number) => operands[i]?.slot.at ?? 0;
    gpuEmit(b, operands, [out], 'einsum', () => [at(0), at(1), at(2), out.slot.at, operands.length, letters.length, b.store.ints(table), n, radix], n);
    return [out];
  }
  b.emit(operands, [out], () => {
    const at = Int32Array.from(operands, (o) => o.slot.at);
    const oa = out.slot.at;
    return (v) => einsum(v.f32, at, oa, dims, operandStrides, so, n);
  });
  return [out];
}

/** A 1x1 Conv: per batch item, W [O, C] times x [C, S], plus the bias per output channel. */
function lowerConv(node: GraphNode, ins: Inputs, b: ProgramBuilder): CValue[] {
  const w = known(ins[1]);
  const x = b.operand(need(node, ins, 0));
  if (!w) unsupported(node, 'Conv with constant weights');
  const kernel = w.shape.slice(2);
  const flat = (name: string, v: number) => ((node.attrs.get(name) as number[] | undefined) ?? []).every((d) => d === v);
  if (x.shape.length < 3 || w.shape.length !== x.shape.length || kernel.some((d) => d !== 1) || !flat('strides', 1) || !flat('dilations', 1) || !flat('pads', 0) || attr(node, 'group', 1) !== 1)
    unsupported(node, 'a 1x1 Conv (kernel of ones, unit strides and dilations, no padding, one group)');
  const [n, c] = x.shape as [number, number];
  const o = w.shape[0]!;
  if (w.shape[1] !== c) fail(node, `weights of ${c} input channels`, `[${w.shape.join(', ')}]`);
  const s = size(x.shape.slice(2));
  const wt = b.operand({ kind: 'known', value: { dtype: 'float', shape: [o, c], data: w.data } });
  const y = b.tensor('float', [n, o, ...x.shape.slice(2)]);
  const ia = new Int32Array(n);
  const ib = Int32Array.from({ length: n }, (_, i) => i * c * s);
  emitBatchedMatmul(b, wt, x, y, ia, ib, o, c, s);
  const bias = known(ins[2]);
  if (!ins[2]) return [y];
  if (!bias) unsupported(node, 'Conv with a constant bias');
  return [binaryOf(node, 'Add', y, { kind: 'known', value: { dtype: 'float', shape: [o, ...kernel], data: bias.data } }, b)];
}

const LOWERINGS: Readonly<Record<string, Lowering>> = {
  ...Object.fromEntries(Object.keys(BINARY_CODES).map((op) => [op, lowerBinary])),
  Sum: lowerBinary,
  Where: lowerWhere,
  ...Object.fromEntries(Object.keys(UNARY_CODES).filter((op) => op !== 'Identity' && op !== 'GeluTanh').map((op) => [op, lowerUnary])),
  Cast: lowerCast,
  MatMul: (node, ins, b) => lowerMatMul(node, ins, b),
  Gemm: (node, ins, b) => lowerGemm(node, ins, b),
  Softmax: lowerSoftmax,
  LogSoftmax: lowerSoftmax,
  LayerNormalization: (node, ins, b) => lowerLayerNorm(node, ins, b),
  BatchNormalization: lowerBatchNorm,
  ...Object.fromEntries(Object.keys(REDUCTIONS).map((op) => [op, lowerReduce])),
  Einsum: lowerEinsum,
  Conv: lowerConv,
};

/** The ops the compiler lowers (the interpreter's, less none). */
export const LOWERED_OPS: readonly string[] = [...new Set([...Object.keys(LOWERINGS), ...Object.keys(MOVEMENT), 'Shape'])].sort();

/** Lower one node: its outputs, known or runtime. */
export function lowerNode(node: GraphNode, ins: Inputs, b: ProgramBuilder): (CValue | undefined)[] {
  if (ins.every((v) => !v || v.kind === 'known')) return KERNELS[node.op]!(ins.map(known), node).map((value) => ({ kind: 'known', value }));
  if (node.op === 'Shape') {
    const x = need(node, ins, 0);
    const shape = x.kind === 'known' ? x.value.shape : x.shape;
    return KERNELS.Shape!([{ dtype: 'float', shape, data: new Float64Array(0) }], node).map((value) => ({ kind: 'known', value }));
  }
  if (node.op === 'Gather' && ins[1]?.kind === 'tensor') return lowerGather(node, ins, b);
  if (node.op === 'GatherElements' && ins[1]?.kind === 'tensor') unsupported(node, 'GatherElements by constant indices');
  const dataIdx = MOVEMENT[node.op];
  if (dataIdx) {
    if (dataIdx !== 'all' && ins.some((v, i) => v?.kind === 'tensor' && !dataIdx.includes(i))) unsupported(node, `${node.op} whose shape inputs are known when the program is compiled`);
    return lowerMovement(node, ins, b);
  }
  const lower = LOWERINGS[node.op];
  if (!lower) unsupported(node, LOWERED_OPS.join(', '));
  return lower(node, ins, b);
}
