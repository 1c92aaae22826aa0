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

export const MATCHERS: readonly (readonly [Architecture, Matcher])[] = [
  ['dlrm', dlrm],
  ['dcnv2', dcnv2],
  ['rdcn', rdcn],
];
