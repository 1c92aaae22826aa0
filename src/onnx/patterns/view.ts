/**
 * The structural view the architecture recognizer reads an imported graph through: who produces a value,
 * which constant feeds which node, and a few shapes of subgraph that every exporter writes its own way
 * (a linear layer as Gemm or MatMul + Add, an MLP, a concatenation of field vectors, an embedding lookup
 * and its pooling). Each matcher either returns what it matched or throws NoMatch saying what it found
 * instead; the nodes a match consumed are recorded so that the recognizer can report them.
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis, ShapeTemplate } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';

/** A structure the recognizer expected and did not find (the reason the graph falls back to the interpreter). */
export class NoMatch extends Error {}

export function fail(what: string): never {
  throw new NoMatch(what);
}

/** A linear map in the canonical layout: y = x W^T + b, W [out, in]. */
export interface Linear {
  readonly x: string;
  readonly weight: Float32Array;
  readonly out: number;
  readonly in: number;
  readonly bias: Float32Array;
}

/** A field as the graph reads it: an input looked up in a table (sparse) or read as floats (dense). */
export interface FieldRead {
  readonly input: string;
  readonly type: 'sparse' | 'dense';
  readonly dim: number;
  readonly pooling: 'none' | 'sum' | 'mean';
  /** bucket: ids outside [0, vocab) read row vocab (the Where(Or(Less, GreaterOrEqual)) our exporter writes). */
  readonly oov: 'error' | 'bucket';
  readonly table?: Value;
}

const f32 = (v: Value) => Float32Array.from(v.data);

export class GraphView {
  private readonly producers = new Map<string, GraphNode>();
  /** Nodes consumed by matches so far. */
  readonly used = new Set<GraphNode>();

  constructor(
    readonly graph: OnnxGraph,
    readonly rank: RankAnalysis,
  ) {
    for (const node of graph.nodes) for (const o of node.outputs) this.producers.set(o, node);
  }

  template(name: string): ShapeTemplate {
    return this.rank.templates.get(name) ?? fail(`no shape for "${name}"`);
  }

  /** The value's dims at N = 2 (the probe the recognizer reads shapes from). */
  dims(name: string): readonly number[] {
    return this.template(name).at2;
  }

  /** Row-major width after the batch axis. */
  width(name: string): number {
    return this.dims(name).slice(1).reduce((a, d) => a * d, 1);
  }

  constant(name: string): Value | undefined {
    return this.rank.classes.get(name) === 'const' ? this.rank.folded.get(name) : undefined;
  }

  isInput(name: string): boolean {
    return this.graph.inputs.some((i) => i.name === name);
  }

  /** The node producing `name`, skipping the broadcast of a context row to N rows and Identity. */
  producer(name: string): GraphNode | undefined {
    const node = this.producers.get(name);
    if (!node) return undefined;
    if (node.op === 'Identity' || (node.op === 'Expand' && this.broadcastsRows(node)) || (node.op === 'Tile' && this.broadcastsRows(node))) {
      this.used.add(node);
      return this.producer(node.inputs[0]!);
    }
    return node;
  }

  /** The value `name` is, once Identity and row broadcasts are looked through. */
  source(name: string): string {
    const node = this.producers.get(name);
    if (node && (node.op === 'Identity' || ((node.op === 'Expand' || node.op === 'Tile') && this.broadcastsRows(node)))) return this.source(node.inputs[0]!);
    return name;
  }

  /** Expand / Tile of a [1, ...] value to [N, ...], nothing else changed. */
  private broadcastsRows(node: GraphNode): boolean {
    const a = this.rank.templates.get(node.inputs[0]!);
    const b = this.rank.templates.get(node.outputs[0]!);
    if (!a || !b || a.at2.length !== b.at2.length || a.at2[0] !== 1 || a.at3[0] !== 1) return false;
    const cls = this.rank.classes.get(node.inputs[1]!);
    return (cls === 'shape' || cls === 'const') && b.at2[0] === 2 && b.at3[0] === 3 && a.at2.slice(1).every((d, i) => d === b.at2[i + 1] && d === b.at3[i + 1]);
  }

  /** The producer of `name` with op `op`, consumed; NoMatch otherwise. */
  expect(name: string, op: string | readonly string[], what: string): GraphNode {
    const node = this.producer(name);
    const ops = typeof op === 'string' ? [op] : op;
    if (!node || !ops.includes(node.op)) fail(`${what}: expected ${ops.join(' or ')} producing "${name}", found ${node ? `${node.op} "${node.name}"` : 'a graph input or constant'}`);
    this.used.add(node);
    return node;
  }

  is(name: string, op: string): boolean {
    return this.producer(name)?.op === op;
  }

  intAttr(node: GraphNode, key: string, fallback: number): number {
    return (node.attrs.get(key) as number | undefined) ?? fallback;
  }

  /** Reduction axes, from the attribute (opset < 13/18) or the constant second input. */
  axes(node: GraphNode): number[] {
    const attr = node.attrs.get('axes') as readonly number[] | undefined;
    if (attr) return [...attr];
    const c = node.inputs[1] ? this.constant(node.inputs[1]) : undefined;
    return c ? [...c.data] : fail(`node "${node.name}": reduction axes that are not a constant`);
  }

  /** A reduction over exactly `axis` of a value of `rank` dims (negative axes normalized). */
  reducesOver(node: GraphNode, axis: number, rank: number, keepdims: boolean): boolean {
    const axes = this.axes(node).map((a) => (a < 0 ? a + rank : a));
    return axes.length === 1 && axes[0] === axis && (this.intAttr(node, 'keepdims', 1) === 1) === keepdims;
  }

  /** A scalar constant (any shape of one element). */
  scalar(name: string): number | undefined {
    const c = this.constant(name);
    return c && c.data.length === 1 ? c.data[0] : undefined;
  }

  // ----- linear layers -----------------------------------------------------------------------

  /**
   * y = x W^T + b on [B, in] rows: Gemm (alpha = beta = 1, no transA, transB either way), MatMul(x, W) + b
   * (either operand order of the Add), or MatMul(x, W) alone (b = 0, exact).
   */
  linear(name: string, what: string, withBias: 'optional' | 'none' = 'optional'): Linear {
    const node = this.expect(name, ['Gemm', 'Add', 'MatMul'], what);
    if (node.op === 'Gemm') {
      if (withBias === 'none' && node.inputs[2]) fail(`${what}: a bias-free layer, found Gemm "${node.name}" with a bias`);
      if ((node.attrs.get('alpha') ?? 1) !== 1 || (node.attrs.get('beta') ?? 1) !== 1 || this.intAttr(node, 'transA', 0) !== 0)
        fail(`${what}: Gemm "${node.name}" with alpha = beta = 1 and no transA`);
      const w = this.constant(node.inputs[1]!) ?? fail(`${what}: Gemm "${node.name}" with a constant weight`);
      if (w.shape.length !== 2) fail(`${what}: a 2-d weight in Gemm "${node.name}"`);
      const transB = this.intAttr(node, 'transB', 0) === 1;
      const [out, inn] = transB ? [w.shape[0]!, w.shape[1]!] : [w.shape[1]!, w.shape[0]!];
      const weight = transB ? f32(w) : transposed(w);
      const bias = node.inputs[2] ? this.bias(node.inputs[2], out, `${what}: Gemm "${node.name}" bias`) : new Float32Array(out);
      return this.rowsLinear({ x: node.inputs[0]!, weight, out, in: inn, bias }, what);
    }
    if (node.op === 'Add') {
      if (withBias === 'none') fail(`${what}: a bias-free MatMul, found Add "${node.name}"`);
      const [a, b] = node.inputs as [string, string];
      const [mm, c] = this.constant(b) ? [a, b] : this.constant(a) ? [b, a] : fail(`${what}: Add "${node.name}" of a MatMul and a constant bias`);
      const inner = this.matmulByConstant(mm, what);
      return this.rowsLinear({ ...inner, bias: this.bias(c, inner.out, `${what}: Add "${node.name}" bias`) }, what);
    }
    this.used.delete(node);
    return this.rowsLinear({ ...this.matmulByConstant(name, what), bias: new Float32Array(this.matmulWidth(name)) }, what);
  }

  private matmulWidth(name: string): number {
    const d = this.dims(name);
    return d[d.length - 1]!;
  }

  /** MatMul(x, W) with W a constant [in, out]: canonical W^T. */
  matmulByConstant(name: string, what: string): { x: string; weight: Float32Array; out: number; in: number } {
    const node = this.expect(name, 'MatMul', what);
    const w = this.constant(node.inputs[1]!) ?? fail(`${what}: MatMul "${node.name}" by a constant weight`);
    if (w.shape.length !== 2 || this.constant(node.inputs[0]!)) fail(`${what}: MatMul "${node.name}" of rows by a 2-d constant`);
    return { x: node.inputs[0]!, weight: transposed(w), out: w.shape[1]!, in: w.shape[0]! };
  }

  private rowsLinear(l: Linear, what: string): Linear {
    const d = this.dims(l.x);
    if (d.length !== 2 || d[1] !== l.in) fail(`${what}: an input of [rows, ${l.in}], found [${d.join(', ')}] for "${l.x}"`);
    return l;
  }

  /** A bias of `out` values: [out], [1, out] or TorchRec's [out, 1]. */
  bias(name: string, out: number, what: string): Float32Array {
    const c = this.constant(name) ?? fail(`${what}: a constant`);
    if (c.data.length !== out || c.shape.filter((d) => d !== 1).length > 1) fail(`${what}: ${out} values, found shape [${c.shape.join(', ')}]`);
    return f32(c);
  }

  /**
   * An MLP ending at `name`: linear layers with a ReLU between each (and after the last when
   * `reluAfterLast`), walked back while the pattern holds. Layers in forward order.
   */
  mlp(name: string, what: string, reluAfterLast: boolean): { input: string; layers: Linear[] } {
    let cur = name;
    if (reluAfterLast) cur = this.expect(cur, 'Relu', `${what} (ReLU after its last layer)`).inputs[0]!;
    const layers = [this.linear(cur, `${what} layer`)];
    for (;;) {
      const relu = this.producer(layers[0]!.x);
      if (!relu || relu.op !== 'Relu') break;
      const before = this.producer(relu.inputs[0]!);
      if (!before || !['Gemm', 'Add', 'MatMul'].includes(before.op)) break;
      let layer: Linear;
      const mark = new Set(this.used);
      try {
        layer = this.linear(relu.inputs[0]!, `${what} layer`);
      } catch (e) {
        if (!(e instanceof NoMatch)) throw e;
        this.used.clear();
        for (const n of mark) this.used.add(n);
        break;
      }
      this.used.add(relu);
      layers.unshift(layer);
    }
    return { input: layers[0]!.x, layers };
  }

  // ----- concatenations and fields -----------------------------------------------------------

  /**
   * The values whose row-wise concatenation `name` is, flattened after the batch axis: looks through
   * Concat on axis 1 (or the last axis of 2-d values), and Reshape / Flatten / Unsqueeze / Squeeze that
   * keep the batch axis first (they only regroup a row's values).
   */
  parts(name: string): string[] {
    const node = this.producer(name);
    if (!node) return [this.source(name)];
    const rank = this.dims(name).length;
    if (node.op === 'Concat') {
      const axis = this.intAttr(node, 'axis', 0);
      const a = axis < 0 ? axis + rank : axis;
      if (a === 1) {
        this.used.add(node);
        return node.inputs.flatMap((i) => this.parts(i));
      }
    }
    if (['Reshape', 'Flatten', 'Unsqueeze', 'Squeeze'].includes(node.op) && this.keepsRows(node)) {
      this.used.add(node);
      return this.parts(node.inputs[0]!);
    }
    return [this.source(name)];
  }

  /** The op keeps axis 0 as the rows (N, or 1 for a context value) and the row's values in order. */
  private keepsRows(node: GraphNode): boolean {
    const a = this.template(node.inputs[0]!);
    const b = this.template(node.outputs[0]!);
    if (node.op === 'Flatten' && this.intAttr(node, 'axis', 1) !== 1) return false;
    return a.at2[0] === b.at2[0] && a.at3[0] === b.at3[0] && a.at2.length >= 1 && b.at2.length >= 1 && size(a.at2) === size(b.at2);
  }

  /** The field a part reads: an input looked up in a table (pooled or not), or a float input itself. */
  field(name: string, what: string): FieldRead {
    const src = this.source(name);
    const input = this.graph.inputs.find((i) => i.name === src);
    if (input) {
      if (input.dtype !== 'float' || this.dims(src).length !== 2) fail(`${what}: a float [rows, dim] input, found "${src}"`);
      return { input: src, type: 'dense', dim: this.dims(src)[1]!, pooling: 'none', oov: 'error' };
    }
    const node = this.producer(src) ?? fail(`${what}: a field value, found a constant "${src}"`);
    if (node.op === 'Gather') return this.lookup(src, 'none', what);
    if (node.op === 'ReduceSum' || node.op === 'ReduceMean') {
      const rows = node.inputs[0]!;
      if (!this.reducesOver(node, 1, 3, false) || this.dims(rows).length !== 3) fail(`${what}: pooling over the list axis of a lookup, found ${node.op} "${node.name}"`);
      this.used.add(node);
      return this.lookup(rows, node.op === 'ReduceSum' ? 'sum' : 'mean', what);
    }
    if (node.op === 'Div') {
      // Mean over max(L, 1) (our exporter): ReduceSum(rows) / Max(Cast(Shape(ids)[1:2]), 1).
      const sum = this.expect(node.inputs[0]!, 'ReduceSum', `${what} (mean pooling)`);
      if (!this.reducesOver(sum, 1, 3, false)) fail(`${what}: a sum over the list axis`);
      const read = this.lookup(sum.inputs[0]!, 'mean', what);
      const max = this.expect(node.inputs[1]!, 'Max', `${what} (mean pooling)`);
      const [cnt, one] = this.scalar(max.inputs[1]!) === 1 ? [max.inputs[0]!, 1] : [max.inputs[1]!, this.scalar(max.inputs[0]!)];
      if (one !== 1) fail(`${what}: a mean over max(L, 1)`);
      const shape = this.expect(this.expect(cnt, 'Cast', `${what} (list length)`).inputs[0]!, 'Shape', `${what} (list length)`);
      if (shape.inputs[0] !== read.input || this.intAttr(shape, 'start', 0) !== 1 || this.intAttr(shape, 'end', 99) !== 2) fail(`${what}: the length of "${read.input}"'s list`);
      this.used.add(node);
      return read;
    }
    return fail(`${what}: an embedding lookup or a float input, found ${node.op} "${node.name}"`);
  }

  /** Gather(table, ids) on axis 0, ids an input (Cast, and the OOV bucket Where, looked through). */
  private lookup(name: string, pooling: FieldRead['pooling'], what: string): FieldRead {
    const node = this.expect(name, 'Gather', `${what} (embedding lookup)`);
    const table = this.constant(node.inputs[0]!);
    if (!table || table.shape.length !== 2 || this.intAttr(node, 'axis', 0) !== 0) fail(`${what}: Gather "${node.name}" of rows of a 2-d constant table`);
    let ids = node.inputs[1]!;
    while (this.is(ids, 'Cast')) ids = this.expect(ids, 'Cast', what).inputs[0]!;
    let oov: FieldRead['oov'] = 'error';
    if (this.is(ids, 'Where')) {
      const where = this.expect(ids, 'Where', `${what} (OOV bucket)`);
      const bucket = this.scalar(where.inputs[1]!);
      const input = where.inputs[2]!;
      const or = this.expect(where.inputs[0]!, 'Or', `${what} (OOV bucket)`);
      const less = this.expect(or.inputs[0]!, 'Less', `${what} (OOV bucket)`);
      const above = this.expect(or.inputs[1]!, 'GreaterOrEqual', `${what} (OOV bucket)`);
      if (bucket !== table.shape[0]! - 1 || less.inputs[0] !== input || this.scalar(less.inputs[1]!) !== 0 || above.inputs[0] !== input || this.scalar(above.inputs[1]!) !== bucket)
        fail(`${what}: ids outside [0, vocab) sent to the last row of the table`);
      ids = input;
      oov = 'bucket';
    }
    const input = this.graph.inputs.find((i) => i.name === ids);
    if (!input || input.dtype !== 'int') fail(`${what}: a lookup by an int input's ids, found "${ids}"`);
    const rank = this.dims(ids).length;
    if ((pooling === 'none') !== (rank === 1)) fail(`${what}: ${pooling === 'none' ? 'one id per row ([rows])' : 'a list of ids per row ([rows, L])'} for "${ids}"`);
    return { input: ids, type: 'sparse', dim: table.shape[1]!, pooling, oov, table };
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** A 2-d constant [r, c] as [c, r] float32 (an [in, out] weight in the canonical [out, in] layout). */
export function transposed(w: Value): Float32Array {
  const [r, c] = w.shape as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j]!;
  return out;
}
