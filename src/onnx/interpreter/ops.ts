/**
 * The ONNX operators an imported graph may use, each a pure function of its input Values and the node's
 * attributes, plus its FLOP count. Semantics follow the ONNX operator specification (opset 13-18 forms:
 * axes as an input or an attribute). Anything else is refused at import, naming the node and the op.
 */
import { show } from '../../errors.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import { attr, axesOf, axisOf, checkShape, fail, need } from './kernel-parts.js';
import type { Kernel } from './kernel-parts.js';
import { batchNormalization, layerNormalization } from './normalization.js';
import { einsum, einsumFlops } from './einsum.js';
import { conv1x1, gatherElements } from './gather-conv.js';
import type { DType, Value } from './tensor.js';
import { broadcastIndex, broadcastShapes, expandTo, size, strides, value } from './tensor.js';

export type { Kernel } from './kernel-parts.js';
export { nodeWhere } from './kernel-parts.js';

// ----- elementwise -------------------------------------------------------------------------------

function binary(dtype: (a: DType, b: DType) => DType, f: (x: number, y: number, int: boolean) => number): Kernel {
  return (inputs, node) => {
    const a = need(node, inputs, 0);
    const b = need(node, inputs, 1);
    const shape = broadcastShapes(a.shape, b.shape);
    if (!shape) fail(node, 'inputs whose shapes broadcast', `[${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
    const out = value(dtype(a.dtype, b.dtype), shape);
    const ia = broadcastIndex(a.shape, shape);
    const ib = broadcastIndex(b.shape, shape);
    const int = a.dtype === 'int' && b.dtype === 'int';
    for (let k = 0; k < out.data.length; k++) out.data[k] = f(a.data[ia[k]!]!, b.data[ib[k]!]!, int);
    return [out];
  };
}

const same = (a: DType) => a;
const bool = () => 'bool' as const;

function unary(f: (x: number) => number): Kernel {
  return (inputs, node) => {
    const x = need(node, inputs, 0);
    const out = value(x.dtype, x.shape);
    for (let k = 0; k < out.data.length; k++) out.data[k] = f(x.data[k]!);
    return [out];
  };
}

/** Variadic Max / Min / Sum / Mean fold pairwise. */
function variadic(f: Kernel): Kernel {
  return (inputs, node) => {
    let acc = need(node, inputs, 0);
    for (let i = 1; i < inputs.length; i++) acc = f([acc, inputs[i]], node)[0]!;
    return [acc];
  };
}

/**
 * The error function, to float64 precision (what torch's exact GELU exports as: x * 0.5 * (1 + Erf(x / sqrt 2))).
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (2n+1)!!: every term positive, so no cancellation;
 * beyond |x| = 6, erf is 1 in float64.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  if (Math.abs(x) > 6) return Math.sign(x);
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** Gelu (opset 20): x Phi(x), exactly or by the tanh approximation. */
export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

// ----- linear algebra ----------------------------------------------------------------------------

/** numpy matmul: 1-D operands promoted and the added axis removed; batch axes broadcast. */
export function matmul(a: Value, b: Value, node: GraphNode): Value {
  const aShape = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
  const m = aShape[aShape.length - 2]!;
  const k = aShape[aShape.length - 1]!;
  const k2 = bShape[bShape.length - 2]!;
  const n = bShape[bShape.length - 1]!;
  if (k !== k2) fail(node, `operands with matching inner dims`, `[${a.shape.join(', ')}] x [${b.shape.join(', ')}]`);
  const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
  if (!batch) fail(node, 'operands whose batch dims broadcast', `[${a.shape.join(', ')}] x [${b.shape.join(', ')}]`);
  const ia = broadcastIndex(aShape.slice(0, -2), batch);
  const ib = broadcastIndex(bShape.slice(0, -2), batch);
  const out = value('float', [...batch, m, n]);
  const o = out.data;
  for (let p = 0; p < ia.length; p++) {
    const ao = ia[p]! * m * k;
    const bo = ib[p]! * k * n;
    const oo = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let kk = 0; kk < k; kk++) {
        const x = a.data[ao + i * k + kk]!;
        if (x === 0) continue;
        const brow = bo + kk * n;
        const orow = oo + i * n;
        for (let j = 0; j < n; j++) o[orow + j]! += x * b.data[brow + j]!;
      }
    }
  }
  let shape = out.shape;
  if (a.shape.length === 1) shape = [...shape.slice(0, -2), n];
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  return { dtype: 'float', shape, data: o };
}

function transpose2(v: Value): Value {
  const [r, c] = v.shape as [number, number];
  const out = value(v.dtype, [c, r]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = v.data[i * c + j]!;
  return out;
}

const gemm: Kernel = (inputs, node) => {
  let a = need(node, inputs, 0);
  let b = need(node, inputs, 1);
  if (a.shape.length !== 2 || b.shape.length !== 2) fail(node, '2-D A and B', `[${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  if (attr(node, 'transA', 0)) a = transpose2(a);
  if (attr(node, 'transB', 0)) b = transpose2(b);
  const alpha = attr(node, 'alpha', 1);
  const beta = attr(node, 'beta', 1);
  const y = matmul(a, b, node);
  if (alpha !== 1) for (let k = 0; k < y.data.length; k++) y.data[k]! *= alpha;
  const c = inputs[2];
  if (c) {
    const idx = broadcastIndex(c.shape, y.shape);
    for (let k = 0; k < y.data.length; k++) y.data[k]! += beta * c.data[idx[k]!]!;
  }
  return [y];
};

// ----- shape and data movement -------------------------------------------------------------------

function reshapeTo(x: Value, target: readonly number[], allowZero: boolean, node: GraphNode): Value {
  const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
  const known = shape.reduce((acc, d) => (d === -1 ? acc : acc * d), 1);
  const minus = shape.filter((d) => d === -1).length;
  if (minus > 1) fail(node, 'at most one -1 in the shape', show(target));
  if (minus === 1) shape[shape.indexOf(-1)] = known === 0 ? 0 : size(x.shape) / known;
  if (size(shape) !== size(x.shape) || !shape.every(Number.isInteger))
    fail(node, `a shape with ${size(x.shape)} elements (input [${x.shape.join(', ')}])`, target.length > 8 ? `a shape of ${target.length} dims` : `[${target.join(', ')}]`);
  return { dtype: x.dtype, shape, data: x.data };
}

function transpose(x: Value, perm: readonly number[]): Value {
  const rank = x.shape.length;
  const shape = perm.map((p) => x.shape[p]!);
  const src = strides(x.shape);
  const step = perm.map((p) => src[p]!);
  const out = value(x.dtype, shape);
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let k = 0; k < out.data.length; k++) {
    out.data[k] = x.data[at]!;
    for (let i = rank - 1; i >= 0; i--) {
      counter[i]!++;
      at += step[i]!;
      if (counter[i]! < shape[i]!) break;
      at -= step[i]! * shape[i]!;
      counter[i] = 0;
    }
  }
  return out;
}

export function concat(parts: readonly Value[], axis: number): Value {
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((acc, p) => acc + p.shape[axis]!, 0);
  const out = value(parts[0]!.dtype, shape);
  const outer = size(shape.slice(0, axis));
  const inner = size(shape.slice(axis + 1));
  const rowOut = shape[axis]! * inner;
  let col = 0;
  for (const p of parts) {
    const w = p.shape[axis]! * inner;
    for (let o = 0; o < outer; o++) out.data.set(p.data.subarray(o * w, (o + 1) * w), o * rowOut + col);
    col += w;
  }
  return out;
}

/** Take `count` indices along `axis` starting at `start` with `step` (Slice / Split). */
function take(x: Value, axis: number, indices: readonly number[]): Value {
  const shape = [...x.shape];
  shape[axis] = indices.length;
  const out = value(x.dtype, shape);
  const outer = size(x.shape.slice(0, axis));
  const inner = size(x.shape.slice(axis + 1));
  const dimIn = x.shape[axis]!;
  let k = 0;
  for (let o = 0; o < outer; o++)
    for (const i of indices) {
      out.data.set(x.data.subarray((o * dimIn + i) * inner, (o * dimIn + i + 1) * inner), k);
      k += inner;
    }
  return out;
}

const gather: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const idx = need(node, inputs, 1);
  const axis = axisOf(node, attr(node, 'axis', 0), x.shape.length);
  const dim = x.shape[axis]!;
  const list = Array.from(idx.data, (i) => {
    if (!Number.isInteger(i) || i < -dim || i >= dim) fail(node, `indices in [${-dim}, ${dim}) along axis ${axis}`, show(i));
    return i < 0 ? i + dim : i;
  });
  const flat = take(x, axis, list);
  const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  return [{ dtype: x.dtype, shape, data: flat.data }];
};

/** How a reduction starts and folds one more element in (l2 takes the square root at the end). */
const FOLDS = {
  sum: { start: 0, fold: (acc: number, x: number) => acc + x },
  mean: { start: 0, fold: (acc: number, x: number) => acc + x },
  max: { start: -Infinity, fold: (acc: number, x: number) => (x > acc || Number.isNaN(x) ? x : acc) },
  min: { start: Infinity, fold: (acc: number, x: number) => (x < acc || Number.isNaN(x) ? x : acc) },
  prod: { start: 1, fold: (acc: number, x: number) => acc * x },
  l2: { start: 0, fold: (acc: number, x: number) => acc + x * x },
} as const;

function reduce(kind: keyof typeof FOLDS, axesInput: boolean): Kernel {
  const { start, fold } = FOLDS[kind];
  return (inputs, node) => {
    const x = need(node, inputs, 0);
    const keep = attr(node, 'keepdims', 1) !== 0;
    let axes = axesInput ? axesOf(node, inputs, 1) : (node.attrs.get('axes') as number[] | undefined) ?? axesOf(node, inputs, 1);
    if (!axes || axes.length === 0) {
      if (attr(node, 'noop_with_empty_axes', 0)) return [x];
      axes = x.shape.map((_, i) => i);
    }
    const set = new Set(axes.map((a) => axisOf(node, a, x.shape.length)));
    const kept = x.shape.map((d, i) => (set.has(i) ? 1 : d));
    const out = value(x.dtype === 'int' ? 'int' : 'float', kept);
    out.data.fill(start);
    const idx = broadcastIndex(kept, x.shape);
    for (let k = 0; k < x.data.length; k++) out.data[idx[k]!] = fold(out.data[idx[k]!]!, x.data[k]!);
    if (kind === 'mean') {
      const count = x.data.length / Math.max(out.data.length, 1);
      for (let k = 0; k < out.data.length; k++) out.data[k]! /= count;
    }
    if (kind === 'l2') for (let k = 0; k < out.data.length; k++) out.data[k] = Math.sqrt(out.data[k]!);
    const shape = keep ? kept : x.shape.filter((_, i) => !set.has(i));
    return [{ dtype: out.dtype, shape, data: out.data }];
  };
}

/** Clip(x, min, max): the bounds as optional inputs (opset 11+) or attributes (opset 6). */
const clip: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const lo = inputs[1] ? inputs[1].data[0]! : attr(node, 'min', -Infinity);
  const hi = inputs[2] ? inputs[2].data[0]! : attr(node, 'max', Infinity);
  const out = value(x.dtype, x.shape);
  for (let k = 0; k < out.data.length; k++) out.data[k] = Math.min(Math.max(x.data[k]!, lo), hi);
  return [out];
};

const softmax: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const axis = axisOf(node, attr(node, 'axis', -1), x.shape.length);
  const inner = size(x.shape.slice(axis + 1));
  const dim = x.shape[axis]!;
  const outer = size(x.shape.slice(0, axis));
  const out = value('float', x.shape);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let max = -Infinity;
      for (let d = 0; d < dim; d++) max = Math.max(max, x.data[base + d * inner]!);
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += out.data[base + d * inner] = Math.exp(x.data[base + d * inner]! - max);
      for (let d = 0; d < dim; d++) out.data[base + d * inner]! /= sum;
    }
  return [out];
};

const slice: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const starts = inputs[1] ? [...inputs[1].data] : (node.attrs.get('starts') as number[] | undefined);
  const ends = inputs[2] ? [...inputs[2].data] : (node.attrs.get('ends') as number[] | undefined);
  if (!Array.isArray(starts) || !Array.isArray(ends) || starts.length !== ends.length)
    fail(node, 'starts and ends of one length (inputs 1 and 2, or attributes)', `${starts?.length ?? 'no'} starts and ${ends?.length ?? 'no'} ends`);
  const axes = inputs[3] ? [...inputs[3].data] : ((node.attrs.get('axes') as number[] | undefined) ?? starts.map((_, i) => i));
  const steps = inputs[4] ? [...inputs[4].data] : starts.map(() => 1);
  let out = x;
  axes.forEach((a, i) => {
    const axis = axisOf(node, a, x.shape.length);
    const dim = out.shape[axis]!;
    const step = steps[i]!;
    if (step === 0) fail(node, 'non-zero steps', '0');
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const s = step > 0 ? clamp(starts[i]!, 0, dim) : clamp(starts[i]!, -1, dim - 1);
    const e = step > 0 ? clamp(ends[i]!, 0, dim) : clamp(ends[i]!, -1, dim - 1);
    const list: number[] = [];
    for (let k = s; step > 0 ? k < e : k > e; k += step) list.push(k);
    out = take(out, axis, list);
  });
  return [out];
};

const split: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const axis = axisOf(node, attr(node, 'axis', 0), x.shape.length);
  const dim = x.shape[axis]!;
  let sizes = inputs[1] ? [...inputs[1].data] : (node.attrs.get('split') as number[] | undefined);
  if (!sizes) {
    const parts = attr(node, 'num_outputs', node.outputs.length);
    const each = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, dim - i * each)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim) fail(node, `split sizes summing to ${dim}`, show(sizes));
  let at = 0;
  return sizes.map((s) => {
    const list = Array.from({ length: s }, (_, i) => at + i);
    at += s;
    return take(x, axis, list);
  });
};

const unsqueeze: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const axes = axesOf(node, inputs, 1) ?? [];
  const rank = x.shape.length + axes.length;
  const set = new Set(axes.map((a) => axisOf(node, a, rank)));
  const shape: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(set.has(i) ? 1 : x.shape[j++]!);
  return [{ dtype: x.dtype, shape, data: x.data }];
};

const squeeze: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const axes = axesOf(node, inputs, 1);
  const set = new Set((axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(node, a, x.shape.length)));
  for (const a of set) if (x.shape[a] !== 1) fail(node, `axis ${a} of size 1 to squeeze`, `size ${x.shape[a]}`);
  return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !set.has(i)), data: x.data }];
};

const expand: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const target = [...need(node, inputs, 1).data];
  const shape = broadcastShapes(x.shape, checkShape(node, target, 'a target shape'));
  if (!shape) fail(node, `a shape [${x.shape.join(', ')}] broadcasts to`, `[${target.join(', ')}]`);
  return [expandTo(x, checkShape(node, shape, 'an output'))];
};

const tile: Kernel = (inputs, node) => {
  let x = need(node, inputs, 0);
  const repeats = checkShape(node, [...need(node, inputs, 1).data], 'repeats');
  if (repeats.length !== x.shape.length) fail(node, `${x.shape.length} repeats (one per axis)`, `${repeats.length}`);
  checkShape(node, x.shape.map((d, i) => d * repeats[i]!), 'an output');
  repeats.forEach((r, axis) => {
    if (r === 1) return;
    const list: number[] = [];
    for (let k = 0; k < r; k++) for (let i = 0; i < x.shape[axis]!; i++) list.push(i);
    x = take(x, axis, list);
  });
  return [x];
};

const shape: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const rank = x.shape.length;
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const dims = x.shape.slice(norm(attr(node, 'start', 0)), norm(attr(node, 'end', rank)));
  return [{ dtype: 'int', shape: [dims.length], data: Float64Array.from(dims) }];
};

const constantOfShape: Kernel = (inputs, node) => {
  const dims = checkShape(node, [...need(node, inputs, 0).data], 'a shape');
  const fill = node.attrs.get('value') as Value | undefined;
  const out = value(fill?.dtype ?? 'float', dims);
  out.data.fill(fill ? fill.data[0]! : 0);
  return [out];
};

const range: Kernel = (inputs, node) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => need(node, inputs, i).data[0]!);
  if (delta === 0) fail(node, 'a non-zero delta', '0');
  const count = checkShape(node, [Math.max(Math.ceil((limit! - start!) / delta!), 0)], 'a range')[0]!;
  return [value(inputs[0]!.dtype, [count], Float64Array.from({ length: count }, (_, i) => start! + i * delta!))];
};

const cast: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const to = attr(node, 'to', 1);
  const dtype: DType = to === 1 || to === 10 || to === 11 || to === 16 ? 'float' : to === 9 ? 'bool' : 'int';
  const data = Float64Array.from(x.data, (v) => (dtype === 'int' ? Math.trunc(v) : dtype === 'bool' ? (v !== 0 ? 1 : 0) : to === 1 ? Math.fround(v) : v));
  return [{ dtype, shape: x.shape, data }];
};

const where: Kernel = (inputs, node) => {
  const c = need(node, inputs, 0);
  const x = need(node, inputs, 1);
  const y = need(node, inputs, 2);
  const s = broadcastShapes(broadcastShapes(c.shape, x.shape) ?? [], y.shape);
  if (!s || !broadcastShapes(c.shape, x.shape)) fail(node, 'inputs whose shapes broadcast', `[${c.shape}], [${x.shape}], [${y.shape}]`);
  const [ic, ix, iy] = [c, x, y].map((v) => broadcastIndex(v.shape, s));
  const out = value(x.dtype, s);
  for (let k = 0; k < out.data.length; k++) out.data[k] = c.data[ic![k]!] ? x.data[ix![k]!]! : y.data[iy![k]!]!;
  return [out];
};

const flatten: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const axis = attr(node, 'axis', 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  return [{ dtype: x.dtype, shape: [size(x.shape.slice(0, a)), size(x.shape.slice(a))], data: x.data }];
};

export const KERNELS: Readonly<Record<string, Kernel>> = {
  Identity: (inputs, node) => [need(node, inputs, 0)],
  Cast: cast,
  Shape: shape,
  ConstantOfShape: constantOfShape,
  Range: range,
  Gather: gather,
  Reshape: (inputs, node) => [reshapeTo(need(node, inputs, 0), [...need(node, inputs, 1).data], attr(node, 'allowzero', 0) !== 0, node)],
  Flatten: flatten,
  Transpose: (inputs, node) => {
    const x = need(node, inputs, 0);
    return [transpose(x, (node.attrs.get('perm') as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i))];
  },
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Concat: (inputs, node) => {
    const parts = inputs.filter((v): v is Value => v !== undefined);
    const axis = axisOf(node, attr(node, 'axis', 0), parts[0]!.shape.length);
    for (const p of parts)
      if (p.shape.length !== parts[0]!.shape.length || p.shape.some((d, i) => i !== axis && d !== parts[0]!.shape[i]))
        fail(node, `inputs of equal shape except on axis ${axis}`, parts.map((q) => `[${q.shape.join(', ')}]`).join(', '));
    return [concat(parts, axis)];
  },
  Split: split,
  Slice: slice,
  Expand: expand,
  Tile: tile,
  Where: where,
  Add: binary(same, (x, y) => x + y),
  Sub: binary(same, (x, y) => x - y),
  Mul: binary(same, (x, y) => x * y),
  Div: binary(same, (x, y, int) => (int ? Math.trunc(x / y) : x / y)),
  Pow: binary(same, (x, y) => x ** y),
  Max: variadic(binary(same, (x, y) => Math.max(x, y))),
  Min: variadic(binary(same, (x, y) => Math.min(x, y))),
  Sum: variadic(binary(same, (x, y) => x + y)),
  Equal: binary(bool, (x, y) => +(x === y)),
  Less: binary(bool, (x, y) => +(x < y)),
  LessOrEqual: binary(bool, (x, y) => +(x <= y)),
  Greater: binary(bool, (x, y) => +(x > y)),
  GreaterOrEqual: binary(bool, (x, y) => +(x >= y)),
  And: binary(bool, (x, y) => +(x !== 0 && y !== 0)),
  Or: binary(bool, (x, y) => +(x !== 0 || y !== 0)),
  Not: (inputs, node) => [{ ...unary((x) => +(x === 0))(inputs, node)[0]!, dtype: 'bool' }],
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Reciprocal: unary((x) => 1 / x),
  Sqrt: unary(Math.sqrt),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Relu: unary((x) => (x > 0 ? x : 0)),
  LeakyRelu: (inputs, node) => {
    const alpha = attr(node, 'alpha', 0.01);
    return unary((x) => (x >= 0 ? x : alpha * x))(inputs, node);
  },
  Sigmoid: unary(sigmoid),
  Tanh: unary(Math.tanh),
  Softmax: softmax,
  LayerNormalization: layerNormalization,
  BatchNormalization: batchNormalization,
  LogSoftmax: (inputs, node) => [unary(Math.log)([softmax(inputs, node)[0]!], node)[0]!],
  Erf: unary(erf),
  Gelu: (inputs, node) => {
    const approximate = node.attrs.get('approximate') ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh') fail(node, 'approximate "none" or "tanh"', JSON.stringify(approximate));
    return unary(approximate === 'tanh' ? geluTanh : gelu)(inputs, node);
  },
  Softplus: unary((x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))),
  Clip: clip,
  MatMul: (inputs, node) => [matmul(need(node, inputs, 0), need(node, inputs, 1), node)],
  Gemm: gemm,
  Einsum: einsum,
  Conv: conv1x1,
  GatherElements: gatherElements,
  ReduceSum: reduce('sum', true),
  ReduceMean: reduce('mean', false),
  ReduceMax: reduce('max', false),
  ReduceMin: reduce('min', false),
  ReduceProd: reduce('prod', false),
  ReduceL2: reduce('l2', false),
};

export const SUPPORTED_OPS: readonly string[] = Object.keys(KERNELS).sort();

/** Elementwise ops broadcast a once value ([1, ...]) against per-candidate rows by themselves. */
export const BROADCASTING_OPS: ReadonlySet<string> = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Where',
]);

/**
 * FLOPs of one node from its input and output shapes: 2 per multiply-add of MatMul/Gemm, 1 per output
 * element of arithmetic and activations, 1 per input element of a reduction, 4 per element of Softmax
 * (max, exp, sum, divide; LogSoftmax 5), 4 per element of BatchNormalization, 8 of LayerNormalization (mean, centring, square, sum, scale by the
 * inverse deviation, by Scale, plus B); data movement (Gather, Concat, Reshape, Expand...) counts 0.
 */
export function nodeFlops(node: GraphNode, inputs: readonly (Value | undefined)[], outputs: readonly Value[]): number {
  const out = outputs[0] ? size(outputs[0].shape) : 0;
  switch (node.op) {
    case 'MatMul': {
      const a = inputs[0]!.shape;
      const k = a[a.length - 1]!;
      return 2 * out * k;
    }
    case 'Einsum':
      return einsumFlops(inputs, node);
    case 'Conv':
      return 2 * out * inputs[0]!.shape[1]!;
    case 'Gemm': {
      const a = inputs[0]!.shape;
      const k = attr(node, 'transA', 0) ? a[0]! : a[1]!;
      return 2 * out * k + (inputs[2] ? out : 0);
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Max': case 'Min': case 'Sum':
    case 'Relu': case 'LeakyRelu': case 'Sigmoid': case 'Tanh': case 'Exp': case 'Log': case 'Sqrt': case 'Neg': case 'Abs': case 'Reciprocal':
    case 'Softplus': case 'Clip': case 'Erf': case 'Gelu':
      return out;
    case 'Softmax':
      return 4 * out;
    case 'LogSoftmax':
      return 5 * out;
    case 'BatchNormalization':
      return 4 * out;
    case 'LayerNormalization':
      return 8 * out;
    case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL2':
      return size(inputs[0]!.shape);
    default:
      return 0;
  }
}
