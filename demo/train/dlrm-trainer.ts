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
import type { Random } from '../../src/model/random.js';
import type { EncodedRequest } from '../../src/model/request.js';
import type { SparseField, SpecOf } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';
import { Mlp } from './mlp.js';
import { Params, logitLoss } from './params.js';
import type { AdamOptions, Param } from './params.js';
export type { AdamOptions } from './params.js';

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

export class DlrmTrainer {
  private readonly fields: readonly SparseField[];
  private readonly D: number;
  private readonly pairs: Int32Array;
  private readonly params: Params;
  private readonly tables: Param[];
  private readonly mlp: Mlp;
  // Per-example activations and their gradients, reused.
  private readonly x: Float64Array;
  private readonly dx: Float64Array;

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
    this.params = new Params(spec, seed);
    this.tables = this.fields.map((f) => this.params.get(`embedding.${f.name}`));
    this.mlp = new Mlp(this.params, 'top_mlp', [g.topInputWidth, ...withOutput(spec.options.topMlp)]);
    this.x = new Float64Array(g.topInputWidth);
    this.dx = new Float64Array(g.topInputWidth);
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
    return this.mlp.forward(x);
  }

  /** Accumulate the gradients of the loss for dLogit (the loss's derivative by the logit). */
  private backward(req: EncodedRequest, row: number, dLogit: number): void {
    const { D, x, dx } = this;
    this.mlp.backward(x, dLogit, dx);
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
    this.params.zeroGrad();
    let loss = 0;
    for (const { request, row } of batch) {
      const { inputs, labels } = data[request]!;
      const z = this.forward(inputs, row);
      const y = labels[row]!;
      loss += logitLoss(z, y);
      this.backward(inputs, row, (1 / (1 + Math.exp(-z)) - y) / batch.length);
    }
    return loss / batch.length;
  }

  /** One Adam step on a batch; returns the batch's loss before the step. */
  step(data: readonly LabeledRequest[], batch: readonly Example[], adam: AdamOptions): number {
    const loss = this.lossAndGradients(data, batch);
    this.params.adam(adam);
    return loss;
  }

  /** A parameter's values and gradient (for the gradient check). */
  param(name: string): Pick<Param, 'value' | 'grad'> {
    return this.params.get(name);
  }

  /** The trained model in rankaware's format (float32 weights). */
  toModel(): Model {
    return this.params.toModel();
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
