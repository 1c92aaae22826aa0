/**
 * The vanilla ONNX graph of a model, broadcast first like the PyTorch exports in the golden cases: context
 * embeddings are looked up once and expanded to N rows right away, and everything after runs on N rows
 * (rdcn's and rank-attention's context streams included). onnxruntime scores it as an independent oracle
 * and as the performance peer. The math follows docs/model-format.md, architecture by architecture.
 *
 * Inputs are named after the fields, in declared order (see ./feeds.ts for building them from a request):
 * - sparse, pooling none: int64 [1] (context) or [N] (target);
 * - sparse, pooled (sum | mean): int64 [1, L] or [N, L], L dynamic: every candidate's list of one pooled
 *   target field has the same length, as ONNX tensors are rectangular;
 * - dense: float32 [1, dim] or [N, dim].
 * Ids of an `oov: "bucket"` field outside [0, vocab) read row `vocab` inside the graph; other fields must
 * hold valid ids. The output `score` is float32 [N, 1] (the logit when the model's output is "none").
 * Linear weights and attention projections become [in, out] initializers named `<weight>:T`, so that each
 * linear map is one MatMul; tables and biases keep their weight names. Each architecture's layers are its
 * exporter in src/zoo/<arch>/export.ts, built from the public helpers of OnnxExporter; exportOnnx
 * (./export.ts) joins the two.
 */
import type { Model } from '../../model/model.js';
import type { Tensor } from '../../model/safetensors.js';
import type { Field, ModelSpec, SequenceField, SparseField, SpecOf } from '../../model/spec.js';
import { maskInput } from '../../model/sequence.js';
import { GraphBuilder } from './graph.js';

export class OnnxExporter {
  readonly g = new GraphBuilder();
  private readonly spec: ModelSpec;
  /** [N, 1]: the Expand shape that broadcasts a [1, x] context value to N rows. */
  private readonly rows: string;
  /** Per sparse field: its ids as the tables read them (OOV ids already mapped to the bucket row). */
  private readonly ids = new Map<string, string>();
  /** Per field: its vector on N rows, [N, dim] (the pooled embedding, or the dense values). */
  readonly values = new Map<string, string>();
  /** Weight initializers written so far, by initializer name. */
  private readonly initializers = new Map<string, string>();

  constructor(private readonly model: Model) {
    this.spec = model.spec;
    for (const f of this.spec.fields) this.declareInput(f);
    const anchor = this.spec.fields.find((f) => f.side === 'target')!;
    const n = this.g.op('Shape', [anchor.name], { start: 0, end: 1 });
    this.rows = this.g.op('Concat', [n, this.g.int64s([1])], { axis: 0 });
    for (const f of this.spec.fields) {
      if (f.type === 'sequence') continue; // read by the architecture: history(f)
      if (f.type === 'sparse') {
        this.ids.set(f.name, this.tableIds(f));
        this.values.set(f.name, this.perRow(f, this.lookup(`embedding.${f.name}`, f)));
      } else {
        this.values.set(f.name, this.perRow(f, f.name));
      }
    }
  }

  /** The graph with `logit` (the architecture's layers, built with the helpers below) as its score. */
  build(logit: string): Uint8Array {
    const score = this.spec.output === 'sigmoid' ? this.g.op('Sigmoid', [logit]) : logit;
    this.g.output('score', score, 'float32', ['N', 1]);
    const doc =
      `rankaware ${this.spec.architecture} "${this.spec.name}", vanilla (broadcast-first) graph. Inputs are the fields in declared ` +
      'order; pooled target fields take [N, L] ids, one list length shared by every candidate.';
    return this.g.encode(this.spec.name, doc);
  }

  // ----- inputs -------------------------------------------------------------------------------

  private declareInput(f: Field): void {
    const rows = f.side === 'context' ? 1 : 'N';
    if (f.type === 'sequence') {
      // The history, its mask (1 item, 0 padding) and each side feature: [1, L], one L for all of them.
      this.g.input(f.name, 'int64', [1, `L_${f.name}`]);
      this.g.input(maskInput(f), 'float32', [1, `L_${f.name}`]);
      for (const x of f.features) this.g.input(`${f.name}.${x.name}`, 'int64', [1, `L_${f.name}`]);
    } else if (f.type === 'dense') this.g.input(f.name, 'float32', [rows, f.dim]);
    else if (f.pooling === 'none') this.g.input(f.name, 'int64', [rows]);
    else this.g.input(f.name, 'int64', [rows, `L_${f.name}`]);
  }

  /** The field's ids, with ids outside [0, vocab) sent to the bucket row `vocab` when the field has one. */
  private tableIds(f: SparseField): string {
    if (f.oov !== 'bucket') return f.name;
    const below = this.g.op('Less', [f.name, this.g.int64Scalar(0)]);
    const above = this.g.op('GreaterOrEqual', [f.name, this.g.int64Scalar(f.vocab)]);
    return this.g.op('Where', [this.g.op('Or', [below, above]), this.g.int64Scalar(f.vocab), f.name]);
  }

  /** Rows of `table` read by the field's ids, pooled like an nn.EmbeddingBag: [rows, width]. */
  lookup(table: string, f: SparseField): string {
    const rows = this.g.op('Gather', [this.plain(table), this.ids.get(f.name)!], { axis: 0 });
    if (f.pooling === 'none') return rows;
    const sum = this.g.op('ReduceSum', [rows, this.g.int64s([1])], { keepdims: 0 });
    if (f.pooling === 'sum') return sum;
    // Mean over max(L, 1): an empty list pools to a zero vector, as in the reference, not 0/0.
    const length = this.g.op('Cast', [this.g.op('Shape', [f.name], { start: 1, end: 2 })], { to: 1 });
    return this.g.op('Div', [sum, this.g.op('Max', [length, this.g.scalar(1)])]);
  }

  /** A field value on N rows: context values ([1, x]) are broadcast right away. */
  perRow(f: Field, value: string): string {
    return f.side === 'context' ? this.g.op('Expand', [value, this.rows]) : value;
  }

  /** A history's item vectors, [1, L, dim]: its table's rows plus each side feature's embedding. */
  history(f: SequenceField): string {
    const items = this.g.op('Gather', [this.plain(`embedding.${f.table}`), f.name], { axis: 0 });
    return this.sum([items, ...f.features.map((x) => this.g.op('Gather', [this.plain(`embedding.${f.name}.${x.name}`), `${f.name}.${x.name}`], { axis: 0 }))]);
  }

  /** Where a history's items are real: its mask input as [1, L, 1] (1 item, 0 padding). */
  historyMask(f: SequenceField): string {
    return this.g.op('Unsqueeze', [maskInput(f), this.g.int64s([2])]);
  }

  /** The Expand shape [N, 1, 1]: a [1, L, d] context value on N rows. */
  rows3(): string {
    return this.g.op('Concat', [this.rows, this.g.int64s([1])], { axis: 0 });
  }

  /** LayerNorm over the last axis with `<prefix>.weight` and `<prefix>.bias` (opset 17's LayerNormalization). */
  layerNorm(x: string, prefix: string): string {
    return this.g.op('LayerNormalization', [x, this.plain(`${prefix}.weight`), this.plain(`${prefix}.bias`)], { axis: -1, epsilon: 1e-5 });
  }

  valuesOf(fields: readonly Field[]): string[] {
    return fields.map((f) => this.values.get(f.name)!);
  }

  // ----- weights and layers -------------------------------------------------------------------

  private tensor(name: string): Tensor {
    const t = this.model.weights.get(name);
    if (!t) throw new Error(`ONNX export: the model has no weight "${name}"`);
    return t;
  }

  /** A weight as stored in canonical layout (tables, biases, [in, out] first-order weights). */
  plain(name: string): string {
    return this.initializer(name, () => {
      const t = this.tensor(name);
      return this.g.floats(name, t.data, t.shape);
    });
  }

  /** A canonical [out, in] linear weight as an [in, out] initializer, so that x W^T is MatMul(x, W^T). */
  transposed(name: string): string {
    return this.initializer(`${name}:T`, () => {
      const t = this.tensor(name);
      const [rows, cols] = t.shape as [number, number];
      const data = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = t.data[r * cols + c]!;
      return this.g.floats(`${name}:T`, data, [cols, rows]);
    });
  }

  /** A [rows, cols] table with its rows in reverse order (bst's positions by recency). */
  reversedRows(name: string): string {
    return this.initializer(`${name}:reversed`, () => {
      const t = this.tensor(name);
      const [rows, cols] = t.shape as [number, number];
      const data = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) data.set(t.data.subarray((rows - 1 - r) * cols, (rows - r) * cols), r * cols);
      return this.g.floats(`${name}:reversed`, data, [rows, cols]);
    });
  }

  /** Each initializer is written once, however many layers read it. */
  private initializer(name: string, make: () => string): string {
    let init = this.initializers.get(name);
    if (!init) this.initializers.set(name, (init = make()));
    return init;
  }

  /** x W^T for the canonical [out, in] weight `name`; x is [..., in]. */
  project(x: string, name: string): string {
    return this.g.op('MatMul', [x, this.transposed(name)]);
  }

  /** x W^T (+ b) with W = `<prefix>.weight`, b = `<prefix>.bias`. */
  linear(x: string, prefix: string, bias = true): string {
    const y = this.project(x, `${prefix}.weight`);
    return bias ? this.g.op('Add', [y, this.plain(`${prefix}.bias`)]) : y;
  }

  /** Layers `<prefix>.0 .. <prefix>.(count-1)`, ReLU after each (after the last one only when reluLast). */
  mlp(x: string, prefix: string, count: number, reluLast: boolean): string {
    for (let i = 0; i < count; i++) {
      x = this.linear(x, `${prefix}.${i}`);
      if (i < count - 1 || reluLast) x = this.g.op('Relu', [x]);
    }
    return x;
  }

  /** MLP with hidden sizes then a 1-unit output layer (no ReLU): the logit. */
  mlpWithOutput(x: string, prefix: string, hidden: readonly number[]): string {
    return this.mlp(x, prefix, hidden.length + 1, false);
  }

  concat(parts: readonly string[], axis = 1): string {
    return parts.length === 1 ? parts[0]! : this.g.op('Concat', [...parts], { axis });
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.g.op('Reshape', [x, this.g.int64s(shape)]);
  }

  /** [N, D] vectors -> [N, count, D]. */
  stack(vectors: readonly string[], dim: number): string {
    return this.reshape(this.concat(vectors), [-1, vectors.length, dim]);
  }

  sum(terms: readonly string[]): string {
    return terms.reduce((acc, t) => this.g.op('Add', [acc, t]));
  }

  /**
   * Multi-head attention of q [N, fq, H*dh] over k, v [N, fk, H*dh]; head h owns columns h*dh .. (h+1)*dh-1.
   * Returns cat_h(softmax(q_h k_h^T [/ sqrt(dh)]) v_h): [N, fq, H*dh].
   */
  attend(spec: SpecOf<'autoint' | 'rank-attention'>, q: string, k: string, v: string, fq: number, fk: number): string {
    const { heads, headDim, scaling } = spec.options;
    const split = (x: string, f: number, perm: number[]) => this.g.op('Transpose', [this.reshape(x, [-1, f, heads, headDim])], { perm });
    let scores = this.g.op('MatMul', [split(q, fq, [0, 2, 1, 3]), split(k, fk, [0, 2, 3, 1])]);
    if (scaling) scores = this.g.op('Div', [scores, this.g.scalar(Math.sqrt(headDim))]);
    const out = this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), split(v, fk, [0, 2, 1, 3])]);
    return this.reshape(this.g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), [-1, fq, heads * headDim]);
  }

  /** relu(attention + x W_res^T), the residual only when the model has one. */
  attentionOutput(att: string, x: string, residual: string, spec: SpecOf<'autoint' | 'rank-attention'>): string {
    return this.g.op('Relu', [spec.options.residual ? this.g.op('Add', [att, this.project(x, residual)]) : att]);
  }
}
