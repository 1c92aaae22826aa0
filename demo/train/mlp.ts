/**
 * The trainers' MLP head: layers `<prefix>.<i>` ([out, in] weights), ReLU after every hidden layer, a
 * one-unit output (the logit). Forward keeps its activations for the backward pass of the same input.
 */
import type { Param, Params } from './params.js';

interface Layer {
  readonly w: Param;
  readonly b: Param;
  readonly ins: number;
  readonly outs: number;
}

export class Mlp {
  private readonly layers: Layer[];
  private readonly acts: Float64Array[];
  private readonly dActs: Float64Array[];

  /** @param sizes the input width, then each layer's width (the last one 1). */
  constructor(params: Params, prefix: string, sizes: readonly number[]) {
    this.layers = sizes.slice(1).map((outs, i) => ({ w: params.get(`${prefix}.${i}.weight`), b: params.get(`${prefix}.${i}.bias`), ins: sizes[i]!, outs }));
    this.acts = this.layers.map((l) => new Float64Array(l.outs));
    this.dActs = this.layers.map((l) => new Float64Array(l.outs));
  }

  /** The logit of `x`. */
  forward(x: Float64Array): number {
    let input = x;
    this.layers.forEach((layer, l) => {
      const out = this.acts[l]!;
      const w = layer.w.value;
      const last = l === this.layers.length - 1;
      for (let o = 0; o < layer.outs; o++) {
        let s = layer.b.value[o]!;
        const row = o * layer.ins;
        for (let k = 0; k < layer.ins; k++) s += w[row + k]! * input[k]!;
        out[o] = last || s > 0 ? s : 0;
      }
      input = out;
    });
    return this.acts[this.acts.length - 1]![0]!;
  }

  /** After forward(x): accumulate the weights' gradients for dLogit and write the input's gradient to dx. */
  backward(x: Float64Array, dLogit: number, dx: Float64Array): void {
    const L = this.layers.length;
    this.dActs[L - 1]![0] = dLogit;
    for (let l = L - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const dOut = this.dActs[l]!;
      const input = l === 0 ? x : this.acts[l - 1]!;
      const dIn = l === 0 ? dx : this.dActs[l - 1]!;
      dIn.fill(0);
      const w = layer.w.value;
      const gw = layer.w.grad;
      const gb = layer.b.grad;
      for (let o = 0; o < layer.outs; o++) {
        const g = dOut[o]!;
        if (g === 0) continue;
        gb[o]! += g;
        const base = o * layer.ins;
        for (let k = 0; k < layer.ins; k++) {
          gw[base + k]! += g * input[k]!;
          dIn[k]! += g * w[base + k]!;
        }
      }
      // Through the ReLU of the layer below (the input has none).
      if (l > 0) {
        const below = this.acts[l - 1]!;
        for (let k = 0; k < dIn.length; k++) if (below[k]! <= 0) dIn[k] = 0;
      }
    }
  }
}
