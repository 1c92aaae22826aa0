/**
 * Training a rankaware DLRM in TypeScript: the forward pass of the model format (docs/model-format.md,
 * dlrm with sparse fields only and topInput "embeddings+pairs"), its backward pass written out by hand,
 * binary cross-entropy on the logit, and Adam. Parameters are float64 while training and float32 once
 * saved, the layout rankaware loads (top_mlp.<i>.weight is [out, in]).
 *
 * Forward for one candidate row:  V_f = pool(embedding.f[ids of f])  (f in declared order)
 *   x = [V_0, ..., V_{F-1}, <V_i, V_j> for (i, j) in DLRM pair order]
 *   h_0 = relu(W_0 x + b_0), ..., logit = W_L h_{L-1} + b_L
 */
import { dlrmGeometry, withOutput } from '../../src/model/geometry.js';
import { randomWeights } from '../../src/model/random.js';
import type { Random } from '../../src/model/random.js';
import type { EncodedRequest } from '../../src/model/request.js';
import type { Tensor } from '../../src/model/safetensors.js';
import type { SparseField, SpecOf } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';

/** One request's encoded inputs with a 0/1 label per candidate. */
export interface LabeledRequest {
  readonly inputs: EncodedRequest;
  readonly labels: ArrayLike<number>;
}

/** A training example: candidate `row` of request `request`. */
export interface Example {
  readonly request: number;
  readonly row: number;
}

export interface AdamOptions {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

interface Param {
  readonly shape: readonly number[];
  readonly value: Float64Array;
  readonly grad: Float64Array;
  readonly m: Float64Array;
  readonly v: Float64Array;
}

const relu = (x: number) => (x > 0 ? x : 0);

export class DlrmTrainer {
  private readonly fields: readonly SparseField[];
  private readonly D: number;
  private readonly pairs: Int32Array;
  private readonly sizes: number[];
  private readonly params = new Map<string, Param>();
  private readonly tables: Param[];
  private readonly layers: { w: Param; b: Param; ins: number; outs: number }[];
  private steps = 0;
  // Per-example activations and their gradients, reused.
  private readonly x: Float64Array;
  private readonly dx: Float64Array;
  private readonly acts: Float64Array[];
  private readonly dActs: Float64Array[];

  constructor(
    readonly spec: SpecOf<'dlrm'>,
    seed: number,
  ) {
    if (spec.fields.some((f) => f.type !== 'sparse')) throw new Error('DlrmTrainer: sparse fields only');
    if (spec.options.topInput !== 'embeddings+pairs' || spec.options.bottomMlp.length > 0) throw new Error('DlrmTrainer: topInput "embeddings+pairs" without a bottom MLP only');
    if (spec.linearLayout !== 'out_in' || spec.output !== 'sigmoid') throw new Error('DlrmTrainer: linearLayout "out_in" and a sigmoid output only');
    const g = dlrmGeometry(spec);
    this.fields = spec.fields as SparseField[];
    this.D = g.dim;
    this.pairs = Int32Array.from(g.pairs.flat());
    this.sizes = [g.topInputWidth, ...withOutput(spec.options.topMlp)];
    // The library's seeded initialization: N(0, 1/dim) tables, N(0, 1/fan_in) weights.
    for (const [name, t] of randomWeights(spec, seed)) {
      const n = t.data.length;
      this.params.set(name, { shape: t.shape, value: Float64Array.from(t.data), grad: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) });
    }
    this.tables = this.fields.map((f) => this.params.get(`embedding.${f.name}`)!);
    this.layers = this.sizes.slice(1).map((outs, i) => ({ w: this.params.get(`top_mlp.${i}.weight`)!, b: this.params.get(`top_mlp.${i}.bias`)!, ins: this.sizes[i]!, outs }));
    this.x = new Float64Array(g.topInputWidth);
    this.dx = new Float64Array(g.topInputWidth);
    this.acts = this.layers.map((l) => new Float64Array(l.outs));
    this.dActs = this.layers.map((l) => new Float64Array(l.outs));
  }

  /** The ids of field f for candidate `row` (context fields: the request's one row). */
  private ids(req: EncodedRequest, f: number, row: number): Int32Array {
    const side = this.fields[f]!.side === 'context' ? req.context : req.candidates;
    const input = side.sparse.get(f)!;
    const r = this.fields[f]!.side === 'context' ? 0 : row;
    return input.ids.subarray(input.offsets[r]!, input.offsets[r + 1]!);
  }

  /** Forward pass of one candidate; leaves the activations in place for backward(). Returns the logit. */
  private forward(req: EncodedRequest, row: number): number {
    const { D, x } = this;
    for (let f = 0; f < this.fields.length; f++) {
      const ids = this.ids(req, f, row);
      const table = this.tables[f]!.value;
      const scale = this.fields[f]!.pooling === 'mean' && ids.length > 0 ? 1 / ids.length : 1;
      const at = f * D;
      x.fill(0, at, at + D);
      for (const id of ids) for (let d = 0; d < D; d++) x[at + d]! += table[id * D + d]! * scale;
    }
    const lead = this.fields.length * D;
    for (let p = 0; p < this.pairs.length / 2; p++) {
      const i = this.pairs[2 * p]! * D;
      const j = this.pairs[2 * p + 1]! * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += x[i + d]! * x[j + d]!;
      x[lead + p] = dot;
    }
    let input: Float64Array = x;
    this.layers.forEach((layer, l) => {
      const out = this.acts[l]!;
      const w = layer.w.value;
      const last = l === this.layers.length - 1;
      for (let o = 0; o < layer.outs; o++) {
        let s = layer.b.value[o]!;
        const row = o * layer.ins;
        for (let k = 0; k < layer.ins; k++) s += w[row + k]! * input[k]!;
        out[o] = last ? s : relu(s);
      }
      input = out;
    });
    return this.acts[this.acts.length - 1]![0]!;
  }

  /** Accumulate the gradients of the loss for dLogit (the loss's derivative by the logit). */
  private backward(req: EncodedRequest, row: number, dLogit: number): void {
    const { D, x, dx } = this;
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
      // Through the ReLU of the layer below (the top input has none).
      if (l > 0) {
        const below = this.acts[l - 1]!;
        for (let k = 0; k < dIn.length; k++) if (below[k]! <= 0) dIn[k] = 0;
      }
    }
    // Pairs: d<V_i, V_j> / dV_i = V_j.
    const lead = this.fields.length * D;
    for (let p = 0; p < this.pairs.length / 2; p++) {
      const g = dx[lead + p]!;
      if (g === 0) continue;
      const i = this.pairs[2 * p]! * D;
      const j = this.pairs[2 * p + 1]! * D;
      for (let d = 0; d < D; d++) {
        dx[i + d]! += g * x[j + d]!;
        dx[j + d]! += g * x[i + d]!;
      }
    }
    for (let f = 0; f < this.fields.length; f++) {
      const ids = this.ids(req, f, row);
      const grad = this.tables[f]!.grad;
      const scale = this.fields[f]!.pooling === 'mean' && ids.length > 0 ? 1 / ids.length : 1;
      for (const id of ids) for (let d = 0; d < D; d++) grad[id * D + d]! += dx[f * D + d]! * scale;
    }
  }

  /** The model's logit for every candidate of a request. */
  logits(req: EncodedRequest): Float64Array {
    const out = new Float64Array(req.candidates.rows);
    for (let r = 0; r < out.length; r++) out[r] = this.forward(req, r);
    return out;
  }

  /**
   * Mean binary cross-entropy of a batch and its gradients, accumulated into each parameter's grad
   * (zeroed first). Exposed for the gradient check.
   */
  lossAndGradients(data: readonly LabeledRequest[], batch: readonly Example[]): number {
    for (const p of this.params.values()) p.grad.fill(0);
    let loss = 0;
    for (const { request, row } of batch) {
      const { inputs, labels } = data[request]!;
      const z = this.forward(inputs, row);
      const y = labels[row]!;
      // log(1 + e^z) - y z, computed without overflow; its derivative is sigmoid(z) - y.
      loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z;
      this.backward(inputs, row, (1 / (1 + Math.exp(-z)) - y) / batch.length);
    }
    return loss / batch.length;
  }

  /** One Adam step on a batch; returns the batch's loss before the step. */
  step(data: readonly LabeledRequest[], batch: readonly Example[], adam: AdamOptions): number {
    const loss = this.lossAndGradients(data, batch);
    const { learningRate: lr, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 } = adam;
    this.steps++;
    const c1 = 1 - beta1 ** this.steps;
    const c2 = 1 - beta2 ** this.steps;
    for (const p of this.params.values()) {
      const { value, grad, m, v } = p;
      for (let i = 0; i < value.length; i++) {
        const g = grad[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        value[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + epsilon);
      }
    }
    return loss;
  }

  /** A parameter's values and gradient (for the gradient check). */
  param(name: string): { readonly value: Float64Array; readonly grad: Float64Array } {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p;
  }

  /** The trained model in rankaware's format (float32 weights). */
  toModel(): Model {
    const weights = new Map<string, Tensor>();
    for (const [name, p] of this.params) weights.set(name, { shape: p.shape, data: Float32Array.from(p.value) });
    return { spec: this.spec, weights };
  }
}

/** Every candidate of every request as an example. */
export function examplesOf(data: readonly LabeledRequest[]): Example[] {
  return data.flatMap((d, request) => Array.from({ length: d.inputs.candidates.rows }, (_, row) => ({ request, row })));
}

/** Fisher-Yates in place with a seeded generator. */
export function shuffle<T>(items: T[], rand: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Area under the ROC curve (ties count one half), by ranking. */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]!]) {
      positives++;
      rankSum += midRank;
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
