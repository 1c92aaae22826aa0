/**
 * The normalizations of ranking graphs: LayerNormalization (nn.LayerNorm at opset 17) and
 * BatchNormalization in inference mode (nn.BatchNorm1d after model.eval()).
 */
import { attr, axisOf, fail, need } from './kernel-parts.js';
import type { Kernel } from './kernel-parts.js';
import { size, value } from './tensor.js';

/**
 * LayerNormalization (opset 17, what torch writes for nn.LayerNorm): each row of the axes from `axis` on
 * is normalized to mean 0 and variance 1 (population variance, plus epsilon), then scaled and shifted.
 * Scale and B broadcast over the normalized axes (a trailing-dims shape, [d] for the usual last axis).
 * The optional Mean and InvStdDev outputs are given too.
 */
export const layerNormalization: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const scale = need(node, inputs, 1);
  const bias = inputs[2];
  const axis = axisOf(node, attr(node, 'axis', -1), x.shape.length);
  const epsilon = attr(node, 'epsilon', 1e-5);
  const inner = size(x.shape.slice(axis));
  const outer = size(x.shape.slice(0, axis));
  for (const [what, t] of [['Scale', scale], ['B', bias]] as const)
    if (t && (t.data.length === 0 || inner % t.data.length !== 0))
      fail(node, `${what} broadcastable to the normalized shape [${x.shape.slice(axis).join(', ')}]`, `shape [${t.shape.join(', ')}]`);
  const out = value('float', x.shape);
  const stats = x.shape.map((d, i) => (i < axis ? d : 1));
  const mean = value('float', stats);
  const invStd = value('float', stats);
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let sum = 0;
    for (let i = 0; i < inner; i++) sum += x.data[base + i]!;
    const m = sum / inner;
    let sq = 0;
    for (let i = 0; i < inner; i++) sq += (x.data[base + i]! - m) ** 2;
    const inv = 1 / Math.sqrt(sq / inner + epsilon);
    for (let i = 0; i < inner; i++)
      out.data[base + i] = (x.data[base + i]! - m) * inv * scale.data[i % scale.data.length]! + (bias ? bias.data[i % bias.data.length]! : 0);
    mean.data[o] = m;
    invStd.data[o] = inv;
  }
  return [out, mean, invStd];
};

/**
 * BatchNormalization, inference mode (training_mode 0): per channel c (axis 1),
 * y = (x - mean_c) / sqrt(var_c + epsilon) * scale_c + B_c, with the running mean and variance.
 */
export const batchNormalization: Kernel = (inputs, node) => {
  const x = need(node, inputs, 0);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => need(node, inputs, i));
  if (attr(node, 'training_mode', 0) !== 0) fail(node, 'training_mode 0 (inference)', `training_mode ${attr(node, 'training_mode', 0)}`);
  if (x.shape.length < 2) fail(node, 'an input [N, C, ...]', `shape [${x.shape.join(', ')}]`);
  const channels = x.shape[1]!;
  for (const [what, t] of [['scale', scale], ['B', bias], ['input_mean', mean], ['input_var', variance]] as const)
    if (t!.data.length !== channels) fail(node, `${what} of ${channels} values (one per channel)`, `shape [${t!.shape.join(', ')}]`);
  const epsilon = attr(node, 'epsilon', 1e-5);
  const inner = size(x.shape.slice(2));
  const out = value('float', x.shape);
  for (let k = 0; k < x.data.length; k++) {
    const c = Math.floor(k / inner) % channels;
    out.data[k] = ((x.data[k]! - mean!.data[c]!) / Math.sqrt(variance!.data[c]! + epsilon)) * scale!.data[c]! + bias!.data[c]!;
  }
  return [out];
};
