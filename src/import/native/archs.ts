/**
 * One structural matcher per architecture of the zoo. Each walks back from the logit through the
 * subgraphs the architecture is made of (docs/model-format.md gives the math), checks the op of every
 * node on the way, the shapes, and which constant feeds which node, and returns the native model's
 * options, fields (in the order the graph reads them) and canonical weights. Anything else throws
 * NoMatch with what it found instead.
 */
import type { Architecture } from '../../model/spec.js';
import type { Tensor } from '../../model/safetensors.js';
import { pairOrder } from '../../model/geometry.js';
import type { FieldRead, GraphView, Linear } from './view.js';
import { fail } from './view.js';
import type { AttentionBlock, Projection } from './attention.js';
import { attentionBlock } from './attention.js';

/** A recognized subgraph and the plan kernels it runs on natively. */
export interface Component {
  readonly what: string;
  readonly kernel: string;
  readonly nodes: readonly string[];
}

export interface Matched {
  readonly architecture: Architecture;
  readonly options: Record<string, unknown>;
  /** Fields in declared order (the order the graph's layers read them). */
  readonly fields: readonly FieldRead[];
  readonly weights: Map<string, Tensor>;
  readonly components: Component[];
}

type Matcher = (v: GraphView, logit: string, track: Tracker) => Matched;
export type Tracker = <T>(what: string, kernel: string, match: () => T) => T;

const tensor = (shape: number[], data: Float32Array): Tensor => ({ shape, data });

function addLinear(weights: Map<string, Tensor>, prefix: string, l: Linear, bias = true): void {
  weights.set(`${prefix}.weight`, tensor([l.out, l.in], l.weight));
  if (bias) weights.set(`${prefix}.bias`, tensor([l.out], l.bias));
}

function addMlp(weights: Map<string, Tensor>, prefix: string, layers: readonly Linear[]): void {
  layers.forEach((l, i) => addLinear(weights, `${prefix}.${i}`, l));
}

function addTables(weights: Map<string, Tensor>, fields: readonly FieldRead[], prefix = 'embedding'): void {
  for (const f of fields) if (f.type === 'sparse') weights.set(`${prefix}.${f.input}`, tensor([...f.table!.shape], Float32Array.from(f.table!.data)));
}

/** An MLP whose last layer gives the 1-unit logit; its hidden sizes are the rest. */
function headMlp(v: GraphView, logit: string, what: string): { input: string; layers: Linear[]; hidden: number[] } {
  const m = v.mlp(logit, what, false);
  if (m.layers[m.layers.length - 1]!.out !== 1) fail(`${what}: a last layer of 1 unit (the logit)`);
  return { ...m, hidden: m.layers.slice(0, -1).map((l) => l.out) };
}

function sameParts(v: GraphView, a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => v.source(x) === v.source(b[i]!));
}

// ----- dlrm ------------------------------------------------------------------------------------

const dlrm: Matcher = (v, logit, track) => {
  const top = track('top MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'top MLP'));
  const topParts = v.parts(top.input);
  const pairsValue = topParts[topParts.length - 1]!;
  const { vectors, order } = track('dot interaction', 'pairs (context x context once, target-anchored per candidate)', () => {
    const select = v.expect(pairsValue, 'Gather', 'DLRM pair selection');
    const idx = v.constant(select.inputs[1]!) ?? fail('DLRM pair selection: constant pair indices');
    if (v.intAttr(select, 'axis', 0) !== 1) fail('DLRM pair selection: a Gather on axis 1');
    const flat = v.expect(select.inputs[0]!, ['Reshape', 'Flatten'], 'DLRM pair selection');
    const dots = v.expect(flat.inputs[0]!, 'MatMul', 'DLRM dot interaction');
    const tr = v.expect(dots.inputs[1]!, 'Transpose', 'DLRM dot interaction');
    const perm = tr.attrs.get('perm') as readonly number[] | undefined;
    if (!perm || perm.join() !== '0,2,1' || v.source(tr.inputs[0]!) !== v.source(dots.inputs[0]!)) fail('DLRM dot interaction: X times its own transpose [0, 2, 1]');
    const [, count, dim] = v.dims(dots.inputs[0]!) as [number, number, number];
    const vectors = v.parts(dots.inputs[0]!);
    if (vectors.length !== count || vectors.some((p) => v.width(p) !== dim)) fail(`DLRM dot interaction: ${count} stacked vectors of width ${dim}`);
    const flatIdx = (o: 'dlrm' | 'torchrec') => pairOrder(count, o).map(([i, j]) => i * count + j).join();
    const got = [...idx.data].join();
    const order = got === flatIdx('dlrm') ? 'dlrm' : got === flatIdx('torchrec') ? 'torchrec' : fail(`DLRM pair selection: the pairs in DLRM's (li, lj) or TorchRec's triu order over ${count} vectors, found indices [${got.slice(0, 60)}...]`);
    return { vectors, order };
  });
  let bottom: { layers: Linear[]; dense: FieldRead[] } | undefined;
  const sparse: FieldRead[] = [];
  vectors.forEach((p, i) => {
    if (v.is(p, 'Relu')) {
      if (i !== 0) fail('DLRM: the bottom MLP output as the first interacting vector');
      bottom = track('bottom MLP', 'linear + dense', () => {
        const m = v.mlp(p, 'bottom MLP', true);
        return { layers: m.layers, dense: v.parts(m.input).map((d) => v.field(d, 'bottom MLP input')) };
      });
      if (bottom.dense.some((f) => f.type !== 'dense')) fail('DLRM: the bottom MLP reads dense inputs only');
    } else sparse.push(track('embedding lookup', 'gather (context once, targets per candidate)', () => v.field(p, `DLRM vector ${i}`)));
  });
  if (sparse.some((f) => f.type !== 'sparse')) fail('DLRM: interacting vectors are embeddings or the bottom MLP output');
  const lead = topParts.slice(0, -1);
  const topInput = sameParts(v, lead, vectors) && lead.length > (bottom ? 1 : 0) ? 'embeddings+pairs' : sameParts(v, lead, bottom ? [vectors[0]!] : []) ? 'dense+pairs' : fail('DLRM top input: cat(bottom output, pairs) or cat(flatten(vectors), pairs)');
  const weights = new Map<string, Tensor>();
  addTables(weights, sparse);
  if (bottom) addMlp(weights, 'bottom_mlp', bottom.layers);
  addMlp(weights, 'top_mlp', top.layers);
  return {
    architecture: 'dlrm',
    options: { bottomMlp: bottom ? bottom.layers.map((l) => l.out) : [], topMlp: top.hidden, pairOrder: order, topInput },
    fields: [...(bottom?.dense ?? []), ...sparse],
    weights,
    components: [],
  };
};

// ----- dcnv2 -----------------------------------------------------------------------------------

interface CrossLayer {
  readonly weight?: Float32Array;
  readonly up?: Float32Array;
  readonly down?: Float32Array;
  readonly rank: number;
  readonly bias: Float32Array;
}

/**
 * A matrix product of the layer input by a constant: TorchRec's W @ x.unsqueeze(2) (W [out, in]) or
 * x @ W (W [in, out]). Returns the canonical [out, in] weight.
 */
function crossProduct(v: GraphView, name: string, what: string): { x: string; weight: Float32Array; out: number; in: number } {
  const node = v.expect(name, 'MatMul', what);
  const left = v.constant(node.inputs[0]!);
  if (left && left.shape.length === 2) {
    const d = v.dims(node.inputs[1]!);
    if (d.length !== 3 || d[1] !== left.shape[1] || d[2] !== 1) fail(`${what}: W @ x with x [rows, ${left.shape[1]}, 1]`);
    return { x: node.inputs[1]!, weight: Float32Array.from(left.data), out: left.shape[0]!, in: left.shape[1]! };
  }
  v.used.delete(node);
  return v.matmulByConstant(name, what);
}

/** x_{l+1} = x0 * (W_l x_l + b_l) + x_l (full or low rank), walked back from the last layer's output. */
function crossStack(v: GraphView, end: string): { x0: string; layers: CrossLayer[] } {
  const layers: CrossLayer[] = [];
  let cur = end;
  let x0: string | undefined;
  while (v.is(cur, 'Add')) {
    const add = v.expect(cur, 'Add', 'cross layer');
    const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
    const mul = v.expect(mulName, 'Mul', 'cross layer (x0 * gate)');
    const gateAt = mul.inputs.findIndex((i) => v.is(i, 'Add'));
    if (gateAt < 0) fail(`cross layer: Mul "${mul.name}" of x0 and W x + b`);
    const gate = v.expect(mul.inputs[gateAt]!, 'Add', 'cross layer gate');
    const [mm, b] = v.constant(gate.inputs[1]!) ? [gate.inputs[0]!, gate.inputs[1]!] : [gate.inputs[1]!, gate.inputs[0]!];
    const outer = crossProduct(v, mm, 'cross layer W x');
    const bias = v.bias(b, outer.out, 'cross layer bias');
    let layer: CrossLayer;
    let xl = outer.x;
    const lowRank = v.producer(xl)?.op === 'MatMul' && v.producer(xl)!.inputs.some((i) => v.constant(i));
    if (lowRank) {
      const inner = crossProduct(v, xl, 'low-rank cross layer V x');
      xl = inner.x;
      layer = { up: outer.weight, down: inner.weight, rank: inner.out, bias };
    } else layer = { weight: outer.weight, rank: 0, bias };
    const first = mul.inputs[1 - gateAt]!;
    if (x0 !== undefined && v.source(first) !== x0) fail('cross layers: every layer gates by the same x0');
    x0 = v.source(first);
    if (v.source(xl) !== v.source(resid)) fail('cross layer: the residual is the layer input x_l');
    layers.unshift(layer);
    cur = resid;
  }
  if (layers.length === 0 || v.source(cur) !== x0) fail('cross stack: x_{l+1} = x0 * (W x_l + b) + x_l down to x_0');
  const ranks = new Set(layers.map((l) => l.rank));
  if (ranks.size !== 1) fail('cross stack: every layer full rank, or every layer the same low rank');
  return { x0: x0!, layers };
}

const dcnv2: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length > 2) fail('DCNv2: an MLP on x_L, or on cat(x_L, deep MLP output)');
  const cross = track('cross layers', 'cross (layer 0 split by rank)', () => crossStack(v, top[0]!));
  const x0 = v.parts(cross.x0);
  let deep: Linear[] = [];
  if (top.length === 2) {
    const m = track('deep MLP', 'linear (first layer split by rank) + dense', () => v.mlp(top[1]!, 'deep MLP', true));
    if (!sameParts(v, v.parts(m.input), x0)) fail('DCNv2 parallel: the deep MLP reads x_0');
    deep = m.layers;
  }
  const fields = track('embedding lookup', 'gather', () => x0.map((p, i) => v.field(p, `x_0 part ${i}`)));
  const d = fields.reduce((a, f) => a + f.dim, 0);
  const rank = cross.layers[0]!.rank;
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  cross.layers.forEach((l, i) => {
    if (rank === 0) weights.set(`cross.${i}.weight`, tensor([d, d], l.weight!));
    else {
      weights.set(`cross.${i}.down`, tensor([rank, d], l.down!));
      weights.set(`cross.${i}.up`, tensor([d, rank], l.up!));
    }
    weights.set(`cross.${i}.bias`, tensor([d], l.bias));
  });
  addMlp(weights, 'deep', deep);
  addMlp(weights, 'mlp', head.layers);
  const structure = deep.length > 0 ? 'parallel' : 'stacked';
  return { architecture: 'dcnv2', options: { layers: cross.layers.length, rank, structure, deep: deep.map((l) => l.out), mlp: head.hidden }, fields, weights, components: [] };
};

// ----- rdcn ------------------------------------------------------------------------------------

const rdcn: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length !== 2) fail('rDCN: an MLP on cat(c_L, T_L)');
  const ctx = track('context cross stream', 'linear + cross (all once per request)', () => {
    const layers: Linear[] = [];
    const states: string[] = [];
    let cur = top[0]!;
    let c0: string | undefined;
    while (v.is(cur, 'Add')) {
      const add = v.expect(cur, 'Add', 'rDCN context layer');
      const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
      const mul = v.expect(mulName, 'Mul', 'rDCN context layer');
      const gateAt = v.is(mul.inputs[1]!, 'Gemm') || v.is(mul.inputs[1]!, 'Add') ? 1 : 0;
      const lin = v.linear(mul.inputs[gateAt]!, 'rDCN context layer Wc c + bc');
      if (v.source(lin.x) !== v.source(resid)) fail('rDCN context layer: the residual is c_l');
      if (c0 !== undefined && v.source(mul.inputs[1 - gateAt]!) !== c0) fail('rDCN context layers: every layer gates by c_0');
      c0 = v.source(mul.inputs[1 - gateAt]!);
      layers.unshift(lin);
      states.unshift(v.source(resid));
      cur = resid;
    }
    if (layers.length === 0 || v.source(cur) !== c0) fail('rDCN context stream: c_{l+1} = c_0 * (Wc c_l + bc) + c_l down to c_0');
    return { c0: c0!, layers, states };
  });
  const tgt = track('target cross stream', 'linear (Wct c_l once) + cross per candidate', () => {
    const cross: Linear[] = [];
    const own: Linear[] = [];
    let cur = top[1]!;
    let t0: string | undefined;
    for (let l = ctx.layers.length - 1; l >= 0; l--) {
      const add = v.expect(cur, 'Add', 'rDCN target layer');
      const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
      const mul = v.expect(mulName, 'Mul', 'rDCN target layer');
      const gateAt = mul.inputs.findIndex((i) => v.is(i, 'Add') && !v.constant(v.producer(i)!.inputs[0]!) && !v.constant(v.producer(i)!.inputs[1]!));
      if (gateAt < 0) fail('rDCN target layer: T_0 * (Wct c_l + Wt T_l + bt)');
      const gate = v.expect(mul.inputs[gateAt]!, 'Add', 'rDCN target gate');
      const [a, b] = gate.inputs as [string, string];
      const first = v.linear(a, 'rDCN target gate term');
      const second = v.linear(b, 'rDCN target gate term');
      const [ct, t] = v.source(first.x) === ctx.states[l] ? [first, second] : [second, first];
      if (v.source(ct.x) !== ctx.states[l] || ct.bias.some((x) => x !== 0) || !(v.is(ct === first ? a : b, 'MatMul'))) fail(`rDCN target layer ${l}: a bias-free Wct applied to c_${l}`);
      if (v.source(t.x) !== v.source(resid)) fail(`rDCN target layer ${l}: Wt applied to T_${l}, the residual`);
      if (t0 !== undefined && v.source(mul.inputs[1 - gateAt]!) !== t0) fail('rDCN target layers: every layer gates by T_0');
      t0 = v.source(mul.inputs[1 - gateAt]!);
      cross.unshift(ct);
      own.unshift(t);
      cur = resid;
    }
    if (v.source(cur) !== t0) fail('rDCN target stream: down to T_0');
    return { t0: t0!, cross, own };
  });
  const fields = track('embedding lookup', 'gather', () => [...v.parts(ctx.c0), ...v.parts(tgt.t0)].map((p, i) => v.field(p, `rDCN stream part ${i}`)));
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  ctx.layers.forEach((l, i) => {
    addLinear(weights, `ctx_cross.${i}`, l);
    addLinear(weights, `ct_cross.${i}`, tgt.cross[i]!, false);
    addLinear(weights, `tgt_cross.${i}`, tgt.own[i]!);
  });
  addMlp(weights, 'mlp', head.layers);
  return { architecture: 'rdcn', options: { layers: ctx.layers.length, mlp: head.hidden }, fields, weights, components: [] };
};

// ----- deepfm ----------------------------------------------------------------------------------

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

const deepfm: Matcher = (v, logit, track) => {
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

// ----- autoint and rank-attention --------------------------------------------------------------

/** Options every layer shares, and the projections stored as [in, out] (projectionLayout in_out). */
function attentionOptions(blocks: readonly AttentionBlock[], what: string): Record<string, unknown> {
  const b = blocks[0]!;
  if (blocks.some((x) => x.heads !== b.heads || x.headDim !== b.headDim || x.scaling !== b.scaling || !!x.residual !== !!b.residual)) fail(`${what}: every layer with the same heads, headDim, scaling and residual`);
  return { layers: blocks.length, heads: b.heads, headDim: b.headDim, scaling: b.scaling, residual: !!b.residual, projectionLayout: 'in_out' };
}

function addProjection(weights: Map<string, Tensor>, name: string, p: Projection): void {
  weights.set(name, tensor([p.in, p.out], p.inOut));
}

function addBlock(weights: Map<string, Tensor>, prefix: string, b: AttentionBlock, key: Projection, value: Projection): void {
  addProjection(weights, `${prefix}.query`, b.query);
  addProjection(weights, `${prefix}.key`, key);
  addProjection(weights, `${prefix}.value`, value);
  if (b.residual) addProjection(weights, `${prefix}.residual`, b.residual);
}

/** The stacked field vectors [rows, F, D] as fields, each a [rows, D] embedding lookup. */
function stackedFields(v: GraphView, x: string, what: string): FieldRead[] {
  const d = v.dims(x);
  if (d.length !== 3) fail(`${what}: stacked field vectors [rows, F, D]`);
  const fields = v.parts(x).map((p, i) => v.field(p, `${what} ${i}`));
  if (fields.length !== d[1] || fields.some((f) => f.type !== 'sparse' || f.dim !== d[2])) fail(`${what}: ${d[1]} embedding lookups of width ${d[2]}`);
  return fields;
}

const autoint: Matcher = (v, logit, track) => {
  const output = v.linear(logit, 'AutoInt output layer');
  if (output.out !== 1) fail('AutoInt output layer: 1 unit');
  const top = v.parts(output.x);
  if (top.length < 1 || top.length > 2 || v.dims(top[0]!).length !== 3) fail('AutoInt: an output layer on cat(flatten(X_L), DNN output)');
  const blocks: AttentionBlock[] = [];
  track('interacting layers', 'attention (layer 0: context x context block once, log-sum-exp merge per candidate)', () => {
    let cur = top[0]!;
    while (v.is(cur, 'Relu')) {
      const b = attentionBlock(v, cur, `AutoInt interacting layer (from the end) ${blocks.length}`);
      if (b.keys.length !== 1 || b.keys[0]!.x !== b.x) fail('AutoInt: self-attention (keys and values read the queries\' input)');
      blocks.unshift(b);
      cur = b.x;
    }
    if (blocks.length === 0) fail('AutoInt: at least one interacting layer relu(MHA(X) [+ X W_res])');
  });
  const sparse = track('embedding lookup', 'gather (context once, targets per candidate)', () => stackedFields(v, blocks[0]!.x, 'AutoInt field'));
  let dnn: Linear[] = [];
  let dense: FieldRead[] = [];
  if (top.length === 2) {
    const m = track('DNN', 'linear (first layer split by rank) + dense', () => v.mlp(top[1]!, 'AutoInt DNN', true));
    const reads = v.parts(m.input).map((p, i) => v.field(p, `AutoInt DNN input ${i}`));
    if (!sameParts(v, reads.slice(0, sparse.length).map((r) => r.input), sparse.map((f) => f.input)) || reads.slice(sparse.length).some((r) => r.type !== 'dense'))
      fail('AutoInt DNN: an input cat(sparse field vectors, dense values)');
    dnn = m.layers;
    dense = reads.slice(sparse.length);
  }
  const options = { ...attentionOptions(blocks, 'AutoInt'), dnn: dnn.map((l) => l.out) };
  const weights = new Map<string, Tensor>();
  addTables(weights, sparse);
  blocks.forEach((b, l) => addBlock(weights, `attention.${l}`, b, b.keys[0]!, b.values[0]!));
  addMlp(weights, 'dnn', dnn);
  addLinear(weights, 'output', output, false);
  weights.set('output.bias', tensor([1], output.bias));
  return { architecture: 'autoint', options, fields: [...sparse, ...dense], weights, components: [] };
};

const rankAttention: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length !== 2 || top.some((t) => v.dims(t).length !== 3)) fail('rank-attention: an MLP on cat(flatten(c_L), flatten(T_L))');
  const ctx: AttentionBlock[] = [];
  const tgt: AttentionBlock[] = [];
  track('attention streams', 'attention (context stream once; target queries over context and target keys per candidate)', () => {
    let [c, t] = top as [string, string];
    while (v.is(c, 'Relu')) {
      const i = ctx.length;
      const cb = attentionBlock(v, c, `rank-attention context layer (from the end) ${i}`);
      const tb = attentionBlock(v, t, `rank-attention target layer (from the end) ${i}`);
      if (cb.keys.length !== 1 || cb.keys[0]!.x !== cb.x) fail('rank-attention context stream: self-attention over the context fields');
      const [kc, kt] = tb.keys;
      const [vc] = tb.values;
      if (tb.keys.length !== 2 || kt!.x !== tb.x) fail('rank-attention target stream: keys cat(context keys, target keys)');
      const shared = (p: Projection, q: Projection) => p.value === q.value || (p.x === q.x && p.constant === q.constant);
      if (!shared(kc!, cb.keys[0]!) || !shared(vc!, cb.values[0]!)) fail('rank-attention target stream: the context keys and values are the context stream\'s own projections');
      ctx.unshift(cb);
      tgt.unshift(tb);
      c = cb.x;
      t = tb.x;
    }
    if (ctx.length === 0) fail('rank-attention: at least one layer');
  });
  const fields = track('embedding lookup', 'gather (context once, targets per candidate)', () => [...stackedFields(v, ctx[0]!.x, 'context field'), ...stackedFields(v, tgt[0]!.x, 'target field')]);
  const options = { ...attentionOptions([...ctx, ...tgt], 'rank-attention'), layers: ctx.length, mlp: head.hidden };
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  ctx.forEach((b, l) => addBlock(weights, `ctx_attention.${l}`, b, b.keys[0]!, b.values[0]!));
  tgt.forEach((b, l) => addBlock(weights, `tgt_attention.${l}`, b, b.keys[1]!, b.values[1]!));
  addMlp(weights, 'mlp', head.layers);
  return { architecture: 'rank-attention', options, fields, weights, components: [] };
};

export const MATCHERS: readonly (readonly [Architecture, Matcher])[] = [
  ['dlrm', dlrm],
  ['dcnv2', dcnv2],
  ['rdcn', rdcn],
  ['deepfm', deepfm],
  ['autoint', autoint],
  ['rank-attention', rankAttention],
];
