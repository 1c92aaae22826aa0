/**
 * Training a rankaware DIN in TypeScript (the sequence model beside the demo's DLRM): the forward pass of
 * the model format's din (docs/sequences.md), its backward pass written out by hand, binary cross-entropy
 * on the logit, and Adam (./params.ts). Sparse fields (pooling none) and one history only.
 *
 * Forward for one candidate t of a request with history items h_1..h_L (oldest first):
 *   h_l = E_table[id_l] + sum over side features x of E_x[x_l]            (once per request)
 *   u_l = act(A_0 [h_l, t, h_l - t, h_l * t] + a_0), ..., w_l = A_last u_l + a_last   (one unit)
 *   interest = sum_l w_l h_l                                            (no softmax: DIN's weights)
 *   logit = MLP([E_f[id_f] for every sparse field f in declared order, interest])
 */
import { withOutput } from '../../src/model/geometry.js';
import { flatFields } from '../../src/model/fields.js';
import { readHistory } from '../../src/model/sequence.js';
import type { SparseField, SpecOf } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';
import { historyOf } from '../../src/zoo/sequence.js';
import { Mlp } from './mlp.js';
import { Params, logitLoss } from './params.js';
import type { AdamOptions, Param } from './params.js';
import type { Example } from './dlrm-trainer.js';

/** One request in the trainer's layout, with a 0/1 label per candidate. */
export interface DinRequest {
  /** The context fields' ids (flat fields of side context, declared order). */
  readonly context: Int32Array;
  /** The history's item ids, oldest first, and each side feature's ids beside them. */
  readonly history: Int32Array;
  readonly features: readonly Int32Array[];
  /** Row-major [candidates, target fields]. */
  readonly candidates: Int32Array;
  readonly rows: number;
  readonly labels: ArrayLike<number>;
}

interface Request {
  readonly context: Readonly<Record<string, unknown>>;
  readonly candidates: readonly Readonly<Record<string, unknown>>[];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export class DinTrainer {
  private readonly params: Params;
  private readonly fields: readonly SparseField[];
  private readonly D: number;
  private readonly table: Param;
  private readonly featureTables: Param[];
  private readonly fieldTables: Param[];
  private readonly units: { w: Param; b: Param; ins: number; outs: number }[];
  private readonly relu: boolean;
  private readonly mlp: Mlp;
  /** Each flat field's place among the fields of its side; the target field the history shares a table with. */
  private readonly slots: number[];
  private readonly targetCount: number;
  private readonly target: number;
  // One request's history vectors and gradients; one candidate's activations, reused.
  private h = new Float64Array(0);
  private dh = new Float64Array(0);
  private readonly x: Float64Array;
  private readonly dx: Float64Array;
  private acts: Float64Array[][] = [];
  private weights = new Float64Array(0);

  constructor(
    readonly spec: SpecOf<'din'>,
    seed: number,
  ) {
    const flat = flatFields(spec);
    if (flat.some((f) => f.type !== 'sparse' || f.pooling !== 'none')) throw new Error('DinTrainer: sparse fields without pooling only');
    if (spec.linearLayout !== 'out_in' || spec.output !== 'sigmoid') throw new Error('DinTrainer: linearLayout "out_in" and a sigmoid output only');
    const { field, target, dim } = historyOf(spec);
    if (flat.some((f) => f.dim !== dim)) throw new Error('DinTrainer: every field at the item dim');
    this.fields = flat as SparseField[];
    this.slots = this.fields.map((f, i) => this.fields.slice(0, i).filter((g) => g.side === f.side).length);
    this.targetCount = this.fields.filter((f) => f.side === 'target').length;
    this.target = this.fields.findIndex((f) => f.name === target.name);
    this.D = dim;
    this.params = new Params(spec, seed);
    this.table = this.params.get(`embedding.${target.name}`);
    this.featureTables = field.features.map((x) => this.params.get(`embedding.${field.name}.${x.name}`));
    this.fieldTables = this.fields.map((f) => this.params.get(`embedding.${f.name}`));
    const sizes = [4 * dim, ...withOutput(spec.options.attention)];
    this.units = sizes.slice(1).map((outs, i) => ({ w: this.params.get(`attention.${i}.weight`), b: this.params.get(`attention.${i}.bias`), ins: sizes[i]!, outs }));
    this.relu = spec.options.attentionActivation === 'relu';
    const width = (this.fields.length + 1) * dim;
    this.mlp = new Mlp(this.params, 'mlp', [width, ...withOutput(spec.options.mlp)]);
    this.x = new Float64Array(width);
    this.dx = new Float64Array(width);
  }

  /** A request JSON (the model's format) in the trainer's layout. The history is truncated as the model says. */
  layout(request: Request, labels: ArrayLike<number>): DinRequest {
    const { field } = historyOf(this.spec);
    const h = readHistory(this.spec, field, request.context, 'request.context');
    const contextFields = this.fields.filter((f) => f.side === 'context');
    const targetFields = this.fields.filter((f) => f.side === 'target');
    return {
      context: Int32Array.from(contextFields, (f) => Number(request.context[f.name])),
      history: Int32Array.from(h.ids),
      features: h.features.map((x) => Int32Array.from(x)),
      candidates: Int32Array.from(request.candidates.flatMap((c) => targetFields.map((f) => Number(c[f.name])))),
      rows: request.candidates.length,
      labels,
    };
  }

  /** The history's vectors h_l (once per request), left in this.h. */
  private embedHistory(req: DinRequest): void {
    const { D } = this;
    const L = req.history.length;
    if (this.h.length < L * D) {
      this.h = new Float64Array(L * D);
      this.dh = new Float64Array(L * D);
    }
    for (let l = 0; l < L; l++) {
      const at = l * D;
      const row = req.history[l]! * D;
      for (let d = 0; d < D; d++) this.h[at + d] = this.table.value[row + d]!;
      this.featureTables.forEach((t, x) => {
        const r = req.features[x]![l]! * D;
        for (let d = 0; d < D; d++) this.h[at + d]! += t.value[r + d]!;
      });
    }
    while (this.acts.length < L) this.acts.push(this.units.map((u) => new Float64Array(u.ins)));
    if (this.weights.length < L) this.weights = new Float64Array(L);
  }

  /** The id of flat field f for candidate `row`. */
  private idOf(req: DinRequest, f: number, row: number): number {
    const slot = this.slots[f]!;
    return this.fields[f]!.side === 'context' ? req.context[slot]! : req.candidates[row * this.targetCount + slot]!;
  }

  /** Forward pass of one candidate after embedHistory; leaves the activations for backward(). */
  private forward(req: DinRequest, row: number): number {
    const { D, x } = this;
    const L = req.history.length;
    const tRow = this.idOf(req, this.target, row) * D;
    const t = this.table.value.subarray(tRow, tRow + D);
    const lead = this.fields.length * D;
    x.fill(0, lead);
    for (let l = 0; l < L; l++) {
      const a = this.acts[l]!;
      const input = a[0]!;
      for (let d = 0; d < D; d++) {
        const hv = this.h[l * D + d]!;
        const tv = t[d]!;
        input[d] = hv;
        input[D + d] = tv;
        input[2 * D + d] = hv - tv;
        input[3 * D + d] = hv * tv;
      }
      let w = 0;
      this.units.forEach((u, k) => {
        const from = a[k]!;
        const last = k === this.units.length - 1;
        const to = last ? undefined : a[k + 1]!;
        for (let o = 0; o < u.outs; o++) {
          let s = u.b.value[o]!;
          const base = o * u.ins;
          for (let i = 0; i < u.ins; i++) s += u.w.value[base + i]! * from[i]!;
          if (last) w = s;
          else to![o] = this.relu ? Math.max(s, 0) : sigmoid(s);
        }
      });
      this.weights[l] = w;
      for (let d = 0; d < D; d++) x[lead + d]! += w * this.h[l * D + d]!;
    }
    for (let f = 0; f < this.fields.length; f++) {
      const r = this.idOf(req, f, row) * D;
      const table = this.fieldTables[f]!.value;
      for (let d = 0; d < D; d++) x[f * D + d] = table[r + d]!;
    }
    return this.mlp.forward(x);
  }

  /** Accumulate the gradients for dLogit; the history's gradient goes to this.dh (applied per request). */
  private backward(req: DinRequest, row: number, dLogit: number): void {
    const { D, x, dx } = this;
    const L = req.history.length;
    this.mlp.backward(x, dLogit, dx);
    for (let f = 0; f < this.fields.length; f++) {
      const r = this.idOf(req, f, row) * D;
      const grad = this.fieldTables[f]!.grad;
      for (let d = 0; d < D; d++) grad[r + d]! += dx[f * D + d]!;
    }
    const tRow = this.idOf(req, this.target, row) * D;
    const t = this.table.value;
    const dt = new Float64Array(D);
    const lead = this.fields.length * D;
    for (let l = 0; l < L; l++) {
      const a = this.acts[l]!;
      // interest = sum w_l h_l
      let dw = 0;
      for (let d = 0; d < D; d++) {
        dw += dx[lead + d]! * this.h[l * D + d]!;
        this.dh[l * D + d]! += this.weights[l]! * dx[lead + d]!;
      }
      // Back through the activation unit: dOut of the last layer is dw.
      let dOut = Float64Array.of(dw);
      for (let k = this.units.length - 1; k >= 0; k--) {
        const u = this.units[k]!;
        const from = a[k]!;
        const dIn = new Float64Array(u.ins);
        for (let o = 0; o < u.outs; o++) {
          const g = dOut[o]!;
          if (g === 0) continue;
          u.b.grad[o]! += g;
          const base = o * u.ins;
          for (let i = 0; i < u.ins; i++) {
            u.w.grad[base + i]! += g * from[i]!;
            dIn[i]! += g * u.w.value[base + i]!;
          }
        }
        // Through the activation of the layer below (the unit's input [h, t, h - t, h * t] has none).
        if (k > 0) for (let i = 0; i < u.ins; i++) dIn[i]! *= this.relu ? (from[i]! > 0 ? 1 : 0) : from[i]! * (1 - from[i]!);
        dOut = dIn;
      }
      for (let d = 0; d < D; d++) {
        const hv = this.h[l * D + d]!;
        const tv = t[tRow + d]!;
        this.dh[l * D + d]! += dOut[d]! + dOut[2 * D + d]! + dOut[3 * D + d]! * tv;
        dt[d]! += dOut[D + d]! - dOut[2 * D + d]! + dOut[3 * D + d]! * hv;
      }
    }
    for (let d = 0; d < D; d++) this.table.grad[tRow + d]! += dt[d]!;
  }

  /** The history's gradient onto its tables (after every candidate of the request). */
  private backwardHistory(req: DinRequest): void {
    const { D } = this;
    for (let l = 0; l < req.history.length; l++) {
      const row = req.history[l]! * D;
      for (let d = 0; d < D; d++) this.table.grad[row + d]! += this.dh[l * D + d]!;
      this.featureTables.forEach((t, x) => {
        const r = req.features[x]![l]! * D;
        for (let d = 0; d < D; d++) t.grad[r + d]! += this.dh[l * D + d]!;
      });
    }
  }

  /** The model's logit for every candidate of a request. */
  logits(req: DinRequest): Float64Array {
    this.embedHistory(req);
    const out = new Float64Array(req.rows);
    for (let r = 0; r < out.length; r++) out[r] = this.forward(req, r);
    return out;
  }

  /**
   * Mean binary cross-entropy of a batch and its gradients, accumulated into each parameter's grad
   * (zeroed first). A batch's examples of one request share its history pass. Exposed for the gradient check.
   */
  lossAndGradients(data: readonly DinRequest[], batch: readonly Example[]): number {
    this.params.zeroGrad();
    let loss = 0;
    const byRequest = new Map<number, number[]>();
    for (const { request, row } of batch) byRequest.set(request, [...(byRequest.get(request) ?? []), row]);
    for (const [request, rows] of byRequest) {
      const req = data[request]!;
      this.embedHistory(req);
      this.dh.fill(0);
      for (const row of rows) {
        const z = this.forward(req, row);
        const y = req.labels[row]!;
        loss += logitLoss(z, y);
        this.backward(req, row, (sigmoid(z) - y) / batch.length);
      }
      this.backwardHistory(req);
    }
    return loss / batch.length;
  }

  /** One Adam step on a batch; returns the batch's loss before the step. */
  step(data: readonly DinRequest[], batch: readonly Example[], adam: AdamOptions): number {
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
