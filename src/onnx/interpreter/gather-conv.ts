/**
 * GatherElements, and Conv restricted to what ranking graphs use it for: a 1x1 convolution (xDeepFM's
 * CIN and FiBiNET write their field-wise linear maps as Conv1d with kernel size 1). Any other Conv (a
 * wider kernel, strides, dilations, padding, groups) is refused naming the node.
 */
import { attr, axisOf, fail, need } from './kernel-parts.js';
import type { Kernel } from './kernel-parts.js';
import { size, strides, value } from './tensor.js';

/** out[..., i, ...] = data[..., indices[..., i, ...], ...] along `axis`; the output has the indices' shape. */
export const gatherElements: Kernel = (inputs, node) => {
  const data = need(node, inputs, 0);
  const indices = need(node, inputs, 1);
  const rank = data.shape.length;
  if (indices.shape.length !== rank) fail(node, `indices of rank ${rank} (the data's)`, `rank ${indices.shape.length}`);
  const axis = axisOf(node, attr(node, 'axis', 0), rank);
  const out = value(data.dtype, indices.shape);
  const ds = strides(data.shape);
  const is = strides(indices.shape);
  for (let k = 0; k < indices.data.length; k++) {
    let offset = 0;
    let rest = k;
    for (let a = 0; a < rank; a++) {
      const i = Math.floor(rest / is[a]!);
      rest -= i * is[a]!;
      let at = a === axis ? indices.data[k]! : i;
      if (a === axis) {
        if (at < 0) at += data.shape[axis]!;
        if (at < 0 || at >= data.shape[axis]!) fail(node, `indices in [${-data.shape[axis]!}, ${data.shape[axis]!})`, String(indices.data[k]));
      }
      offset += at * ds[a]!;
    }
    out.data[k] = data.data[offset]!;
  }
  return [out];
};

/** y[n, o, ...] = B[o] + sum_c W[o, c] x[n, c, ...]: Conv with a kernel of ones in every spatial dim. */
export const conv1x1: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const w = need(node, inputs, 1);
  const bias = inputs[2];
  const spatial = x.shape.length - 2;
  const ones = (name: string, fallback: number) => {
    const v = node.attrs.get(name) as number[] | undefined;
    return !v || v.every((d) => d === fallback);
  };
  const kernel = w.shape.slice(2);
  if (spatial < 1 || w.shape.length !== x.shape.length || kernel.some((d) => d !== 1) || !ones('strides', 1) || !ones('dilations', 1) || !ones('pads', 0) || attr(node, 'group', 1) !== 1)
    fail(node, 'a 1x1 convolution (kernel of ones, unit strides and dilations, no padding, one group)', `weights [${w.shape.join(', ')}] on an input [${x.shape.join(', ')}]`);
  const [n, c] = x.shape as [number, number];
  const o = w.shape[0]!;
  if (w.shape[1] !== c) fail(node, `weights of ${c} input channels`, `[${w.shape.join(', ')}]`);
  const inner = size(x.shape.slice(2));
  const out = value('float', [n, o, ...x.shape.slice(2)]);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const at = (b * o + oc) * inner;
      const shift = bias ? bias.data[oc]! : 0;
      for (let i = 0; i < inner; i++) out.data[at + i] = shift;
      for (let ic = 0; ic < c; ic++) {
        const weight = w.data[oc * c + ic]!;
        const from = (b * c + ic) * inner;
        for (let i = 0; i < inner; i++) out.data[at + i]! += weight * x.data[from + i]!;
      }
    }
  return [out];
};
