/** The deepfm matcher: reads a graph's deepfm structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import type { FieldRead, Linear, GraphView } from '../../onnx/patterns/view.js';
import { fail } from '../../onnx/patterns/view.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { tensor, addMlp, addTables } from '../../onnx/patterns/match-parts.js';

/** The terms of a sum written as a tree of Add nodes (left fold or any other grouping). */
function addTerms(v: GraphView, name: string): string[] {
  const node = v.producer(name);
  if (node?.op !== 'Add') return [name];
  v.used.add(node);
  return node.inputs.flatMap((i) => addTerms(v, i));
}

/** A reduction over the field axis 1 of [rows, F, D] stacked vectors (keepdims either way). */
function fieldSum(v: GraphView, name: string, what: string): string {
  const node = v.expect(name, 'ReduceSum', what);
  const rank = v.dims(node.inputs[0]!).length;
  if (rank !== 3 || v.axes(node).map((a) => (a < 0 ? a + 3 : a)).join() !== '1') fail(`${what}: ReduceSum "${node.name}" over the field axis of [rows, F, D]`);
  return node.inputs[0]!;
}

/** The square of a value: Pow(x, 2) or Mul(x, x). */
function squared(v: GraphView, name: string, what: string): string {
  const node = v.expect(name, ['Pow', 'Mul'], what);
  if (node.op === 'Pow' ? v.scalar(node.inputs[1]!) !== 2 : node.inputs[0] !== node.inputs[1]) fail(`${what}: ${node.op} "${node.name}" squaring its input`);
  return node.inputs[0]!;
}

/** FM = 0.5 * sum_d((sum_f E_f)^2 - sum_f E_f^2): returns the stacked E [rows, F, D]. */
function fmTerm(v: GraphView, name: string): string {
  const half = v.expect(name, 'Mul', 'FM (times 0.5)');
  const at = half.inputs.findIndex((i) => v.scalar(i) === 0.5);
  if (at < 0) fail(`FM: Mul "${half.name}" by 0.5`);
  const total = v.expect(half.inputs[1 - at]!, 'ReduceSum', 'FM (sum over the embedding dim)');
  const inner = v.dims(total.inputs[0]!);
  const last = inner.length - 1;
  if (v.axes(total).map((a) => (a < 0 ? a + inner.length : a)).join() !== String(last) || v.dims(name).join() !== '2,1') fail(`FM: ReduceSum "${total.name}" over the embedding dim giving [rows, 1]`);
  const sub = v.expect(total.inputs[0]!, 'Sub', 'FM (square of sum minus sum of squares)');
  const e = fieldSum(v, squared(v, sub.inputs[0]!, 'FM square of the sum'), 'FM sum of the field vectors');
  const e2 = fieldSum(v, sub.inputs[1]!, 'FM sum of squares');
  if (v.source(squared(v, e2, 'FM squares')) !== v.source(e)) fail('FM: the sum of squares of the same stacked field vectors');
  return e;
}

/** One field's first-order term: a [rows, 1] lookup of a [vocab, 1] table, or a dense input times a [dim, 1] weight. */
function firstOrderTerm(v: GraphView, name: string, what: string): { read: FieldRead; weight: Float32Array } {
  if (v.is(name, 'MatMul')) {
    const m = v.matmulByConstant(name, what);
    if (m.out !== 1) fail(`${what}: a [dim, 1] weight`);
    const read = v.field(m.x, what);
    if (read.type !== 'dense') fail(`${what}: a dense input times its weights`);
    return { read, weight: m.weight };
  }
  const read = v.field(name, what);
  if (read.type !== 'sparse' || read.dim !== 1) fail(`${what}: a lookup in a [vocab, 1] first-order table`);
  return { read, weight: Float32Array.from(read.table!.data) };
}

export const deepfmMatcher: Matcher = (v, logit, track) => {
  const terms = addTerms(v, logit);
  const biases = terms.filter((t) => v.constant(t));
  if (biases.length !== 1 || v.constant(biases[0]!)!.data.length !== 1) fail('DeepFM: one constant bias added to the logit');
  const bias = Float32Array.from(v.constant(biases[0]!)!.data);
  let e: string | undefined;
  let dnn: { layers: Linear[]; output: Linear; parts: string[] } | undefined;
  const first: { read: FieldRead; weight: Float32Array }[] = [];
  for (const t of terms.filter((x) => !v.constant(x))) {
    const node = v.producer(t);
    if (node?.op === 'Mul') {
      if (e) fail('DeepFM: one FM term');
      e = track('FM', 'fm (context sums once, per candidate the target terms)', () => fmTerm(v, t));
    } else if (node?.op === 'MatMul' && v.is(node.inputs[0]!, 'Relu')) {
      if (dnn) fail('DeepFM: one DNN');
      dnn = track('DNN', 'linear (first layer split by rank) + dense', () => {
        const output = v.linear(t, 'DeepFM DNN output (no bias)', 'none');
        if (output.out !== 1) fail('DeepFM DNN output: 1 unit');
        const m = v.mlp(output.x, 'DeepFM DNN', true);
        return { layers: m.layers, output, parts: v.parts(m.input) };
      });
    } else if (node?.op === 'ReduceSum' && v.dims(node.inputs[0]!).length === 2) {
      // DeepCTR: the first-order terms concatenated, then summed over the last axis (keepdims).
      track('first-order terms', 'gather + sum', () => {
        if (!v.reducesOver(node, 1, 2, true)) fail(`DeepFM first-order terms: ReduceSum "${node.name}" over axis 1 with keepdims`);
        v.used.add(node);
        for (const p of v.parts(node.inputs[0]!)) first.push(firstOrderTerm(v, p, 'DeepFM first-order term'));
      });
    } else first.push(track('first-order term', 'gather + sum', () => firstOrderTerm(v, t, 'DeepFM first-order term')));
  }
  if (!e) fail('DeepFM: an FM term 0.5 * sum((sum E)^2 - sum E^2)');
  const sparse = track('embedding lookup', 'gather (context once, targets per candidate)', () => v.parts(e!).map((p, i) => v.field(p, `FM field ${i}`)));
  if (sparse.some((f) => f.type !== 'sparse')) fail('DeepFM: the FM reads embedding lookups only');
  const [d] = v.dims(e).slice(2);
  if (sparse.some((f) => f.dim !== d)) fail(`DeepFM: every FM field vector of width ${d}`);
  const dense = first.filter((t) => t.read.type === 'dense').map((t) => t.read);
  if (dnn) {
    const want = [...sparse, ...dense].map((f) => f.input);
    const got = dnn.parts.map((p) => v.field(p, 'DeepFM DNN input').input);
    if (got.join() !== want.join()) fail(`DeepFM DNN: an input cat(sparse field vectors, dense values) = [${want.join(', ')}], found [${got.join(', ')}]`);
  }
  const weights = new Map<string, Tensor>();
  addTables(weights, sparse);
  for (const f of sparse) {
    const t = first.find((x) => x.read.input === f.input) ?? fail(`DeepFM: a first-order term for "${f.input}"`);
    if (t.read.pooling !== f.pooling || t.read.oov !== f.oov || t.read.table!.shape[0] !== f.table!.shape[0]) fail(`DeepFM: "${f.input}"'s first-order lookup pooled and bucketed like its embedding`);
  }
  if (new Set(first.map((t) => t.read.input)).size !== first.length || first.length !== sparse.length + dense.length) fail('DeepFM: one first-order term per field');
  for (const t of first) weights.set(`first_order.${t.read.input}`, tensor([t.weight.length, 1], t.weight));
  if (dnn) {
    addMlp(weights, 'dnn', dnn.layers);
    weights.set('output.weight', tensor([1, dnn.output.in], dnn.output.weight));
  }
  weights.set('output.bias', tensor([1], bias));
  return { architecture: 'deepfm', options: { dnn: dnn ? dnn.layers.map((l) => l.out) : [] }, fields: [...sparse, ...dense], weights, components: [] };
};
