/**
 * The rank-aware plan as ONNX: the staged graph an imported (or compiled) model runs, cut at the stage
 * boundary into two graphs any ONNX runtime can run.
 * - `context.onnx`: the context inputs at batch 1 -> every once value the candidate stage reads (the
 *   handoff), computed once per request;
 * - `candidates.onnx`: the candidate inputs (N rows) and the handoff values -> the graph's outputs, scores
 *   first.
 * The cut follows the staged program (src/onnx/interpreter/program.ts) exactly: a handoff value reaches a
 * broadcasting op (Add, Mul, ...) as it is, [1, ...], and any other op through an Expand to N along its
 * candidate axes; a Shape of a candidate value in the context stage reads its dims at N = 1, written as a
 * constant. Of the program's rewrites, split-linear is written as ONNX (the context columns' product and
 * the bias in the context graph, the candidate columns' product plus that row per candidate); the other
 * rewrites' nodes run as the graph has them, in the candidate stage. So each graph computes what the
 * staged program computes, and the scores are the vanilla graph's up to float32 rounding.
 */
import { RankawareError } from '../errors.js';
import type { GraphNode } from './reader/onnx-graph.js';
import { evaluateGraph, runNode } from './interpreter/evaluate.js';
import { BROADCASTING_OPS } from './interpreter/ops.js';
import { StagedProgram } from './interpreter/program.js';
import { candidateAxes, dimAt } from './interpreter/rank.js';
import type { ShapeTemplate, ValueClass } from './interpreter/rank.js';
import { fuseCandidateStage } from './fusions/index.js';
import { PREFIX } from './fusions/scope.js';
import type { DType, Value } from './interpreter/tensor.js';
import { encodeGraph } from './writer/graph-proto.js';
import type { TypedName } from './writer/graph-proto.js';
import type { ImportedModel } from './model.js';
import type { Part, Rewrite } from './interpreter/rewrite-parts.js';

export const RANK_AWARE_FORMAT = 'rankaware-rank-aware-onnx';

/** How the two graphs connect (rank-aware.json beside them). */
export interface RankAwareManifest {
  readonly format: typeof RANK_AWARE_FORMAT;
  readonly version: 1;
  readonly model: string;
  /** context.onnx's inputs: the request's context (batch 1). */
  readonly contextInputs: readonly TypedName[];
  /** candidates.onnx's request inputs: the candidates (N rows). */
  readonly candidateInputs: readonly TypedName[];
  /** candidates.onnx's other inputs: `name` is context.onnx's output `from`. */
  readonly handoff: readonly (TypedName & { readonly from: string })[];
  /** candidates.onnx's outputs, the scores first. */
  readonly outputs: readonly string[];
}

export interface RankAwareOnnx {
  /** Both stages in one graph (context inputs at batch 1, candidates at N): one run per request. */
  readonly single: Uint8Array;
  readonly context: Uint8Array;
  readonly candidates: Uint8Array;
  readonly manifest: RankAwareManifest;
  /** The candidate-stage fusions applied (src/onnx/fusions/), as "<kind> <value>". */
  readonly fusions: readonly string[];
}

/**
 * split-linear: a layer over [context, candidate] columns as W_ctx c once plus W_cand t per candidate.
 * row-projection: stacked field vectors [N, f, d] times W, the context rows projected once (AutoInt's Q,
 * K, V and residual projections), for rows at least ROW_PROJECTION_MIN_WIDTH wide.
 */
const WRITTEN: ReadonlySet<Rewrite['kind']> = new Set(['split-linear', 'row-projection']);

/**
 * The narrowest rows whose row-projection is written. It saves the context rows' d-deep products per
 * candidate, and costs an Expand, a Concat and a Gather over the joined rows: measured on onnxruntime-node
 * (AutoInt, 20 context and 6 candidate fields, N = 256), d = 16 ran 2-3% slower with it, d = 32 the same,
 * d = 64 14% faster.
 */
const ROW_PROJECTION_MIN_WIDTH = 48;

const written = (rw: Rewrite) => WRITTEN.has(rw.kind) && (rw.kind !== 'row-projection' || (rw.weight?.shape[0] ?? 0) >= ROW_PROJECTION_MIN_WIDTH);

export function exportRankAwareOnnx(model: ImportedModel): RankAwareOnnx {
  const { graph, rank } = model.staged;
  // The rewrites written as ONNX nodes; the others' nodes stay as the graph has them.
  const rewrites = new Map([...model.rewrites].filter(([, rw]) => written(rw)));
  const program = new StagedProgram(graph, rank, rewrites);
  const used = new Set(program.rewrites);
  const rewriteOf = (node: GraphNode) => (used.has(rewrites.get(node)!) ? rewrites.get(node) : undefined);
  // Context values the candidate-stage fusions add (src/onnx/fusions/), and their templates.
  // (fusedOnce: written by the candidate stage's request nodes; joinedOnce: context values the writer joins, handed off.)
  const fusedOnce = new Map<string, ShapeTemplate>();
  const joinedOnce = new Map<string, ShapeTemplate>();
  const fusedCand = new Set<string>();
  const classOf = (name: string): ValueClass => (fusedOnce.has(name) || joinedOnce.has(name) ? 'once' : fusedCand.has(name) ? 'cand' : (rank.classes.get(name) ?? 'const'));
  const templateOf = (name: string) => fusedOnce.get(name) ?? joinedOnce.get(name) ?? rank.templates.get(name);
  const constant = (name: string): Value => {
    const v = rank.folded.get(name) ?? graph.constants.get(name);
    if (!v) throw new Error(`import bug: the constant "${name}" has no value`);
    return v;
  };
  const inputOf = new Map(rank.roles.map((r) => [r.input.name, r]));
  const dtypeOfInput = (name: string): DType => inputOf.get(name)!.input.dtype;
  const typed = (name: string): TypedName => {
    const dims = inputOf.get(name)!.input.dims;
    return { name, dtype: dtypeOfInput(name), ...(dims.every((d) => d !== '?') ? { dims } : {}) };
  };
  // Every value's dtype, from one vanilla run on the probes' inputs (the handoff's types).
  const probe = new Map<string, Value>();
  for (const r of rank.roles) {
    const t = rank.templates.get(r.input.name)!;
    const shape = t.at2.map((_, i) => dimAt(t, i, 2));
    probe.set(r.input.name, { dtype: r.input.dtype, shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
  }
  const probed = evaluateGraph(graph, probe).values;

  // ----- the context stage --------------------------------------------------------------------------
  const ctxNodes: GraphNode[] = [];
  const ctxConsts = new Map<string, Value>();
  const ctxInputs = new Set<string>();
  const readIn = (names: readonly string[], consts: Map<string, Value>, inputs: Set<string>) => {
    for (const n of names) {
      if (n === '' || consts.has(n)) continue;
      if (classOf(n) === 'const') consts.set(n, constant(n));
      else if (inputOf.has(n)) inputs.add(n);
    }
  };
  for (const node of program.onceNodes) {
    const read = node.inputs[0] ?? '';
    if (node.op === 'Shape' && classOf(read) === 'cand') {
      // The staged program's context stage reads a candidate value's dims at N = 1.
      const t = rank.templates.get(read)!;
      const placeholder: Value = { dtype: 'float', shape: t.at2.map((_, i) => dimAt(t, i, 1)), data: new Float64Array(0) };
      ctxConsts.set(node.outputs[0]!, runNode(node, () => placeholder)[0]!);
      continue;
    }
    ctxNodes.push(node);
    readIn(node.inputs, ctxConsts, ctxInputs);
  }

  const flat = (nodes: GraphNode[], consts: Map<string, Value>, parts: readonly Part[], rows: number, tag: string): string => {
    const pieces = parts.map((p) => {
      // Already [rows, width] (a candidate embedding [N, d], a context row [1, d]): no Reshape (onnxruntime copies in one).
      const t = rank.templates.get(p.name);
      const axes = t ? candidateAxes(t) : [];
      // (In the context stage, N = 1: a context value broadcast along axis 0 is one row there too.)
      if (t && t.at2.length === 2 && t.at2[1] === p.width && ((axes.length === 1 && axes[0] === 0) || (rows === 1 && axes.length === 0 && t.at2[0] === 1))) return p.name;
      const shape = `${PREFIX}${tag}:width:${p.name}`;
      consts.set(shape, { dtype: 'int', shape: [2], data: Float64Array.of(rows, p.width) });
      const out = `${PREFIX}${tag}:flat:${p.name}`;
      if (!nodes.some((n) => n.outputs[0] === out)) nodes.push({ name: out, op: 'Reshape', domain: '', inputs: [p.name, shape], outputs: [out], attrs: new Map() });
      return out;
    });
    if (pieces.length === 1) return pieces[0]!;
    const out = `${PREFIX}${tag}:columns`;
    nodes.push({ name: out, op: 'Concat', domain: '', inputs: pieces, outputs: [out], attrs: new Map([['axis', 1]]) });
    return out;
  };
  const linearOf = (rw: Rewrite) => rw.linear!;
  // split-linear [N, o] whose one reader adds a constant bias: the bias joins the stored context row (the
  // candidate half's Gemm then writes the Add's output, and onnxruntime fuses the activation after it).
  const readers = new Map<string, GraphNode[]>();
  for (const n of program.candNodes) for (const i of n.inputs) if (i !== '') readers.set(i, [...(readers.get(i) ?? []), n]);
  const biasAdds = new Map<Rewrite, { readonly add: GraphNode; readonly bias: Float64Array }>();
  for (const rw of program.rewrites) {
    if (rw.kind !== 'split-linear') continue;
    const out = rw.node.outputs[0]!;
    const t = rank.templates.get(out)!;
    const add = readers.get(out)?.length === 1 ? readers.get(out)![0]! : undefined;
    if (!add || add.op !== 'Add' || rewrites.has(add) || graph.outputs.includes(out) || t.at2.length !== 2 || candidateAxes(t).join() !== '0') continue;
    const b = add.inputs[0] === out ? add.inputs[1]! : add.inputs[0]!;
    const o = linearOf(rw).outDim;
    if (classOf(b) !== 'const' || add.inputs[0] === add.inputs[1]) continue;
    const v = constant(b);
    if (v.dtype !== 'float' || v.data.length !== o || (v.shape.length === 2 ? v.shape[0] !== 1 : v.shape.length !== 1)) continue;
    const bias = Float64Array.from(v.data, (x, i) => x + (linearOf(rw).bias?.[i] ?? 0));
    biasAdds.set(rw, { add, bias });
  }
  const foldedAdds = new Set([...biasAdds.values()].map((f) => f.add));
  for (const rw of program.rewrites) {
    const parts = rw.parts.filter((p) => p.once);
    for (const p of parts) if (classOf(p.name) === 'const') ctxConsts.set(p.name, constant(p.name));
    else if (inputOf.has(p.name)) ctxInputs.add(p.name);
    const x = flat(ctxNodes, ctxConsts, parts, 1, `${rw.onceName}:ctx`);
    if (rw.kind === 'row-projection') {
      // The context rows [kc, d] x W, stored as <output>#once [kc, o].
      const { onceRows, d } = rw.rows!;
      const rowsShape = `${PREFIX}${rw.onceName}:rows-shape`;
      ctxConsts.set(rowsShape, { dtype: 'int', shape: [2], data: Float64Array.of(onceRows.length, d) });
      const rows = `${PREFIX}${rw.onceName}:rows`;
      ctxNodes.push({ name: rows, op: 'Reshape', domain: '', inputs: [x, rowsShape], outputs: [rows], attrs: new Map() });
      const w = `${PREFIX}${rw.onceName}:w`;
      ctxConsts.set(w, rw.weight!);
      ctxNodes.push({ name: rw.onceName, op: 'MatMul', domain: '', inputs: [rows, w], outputs: [rw.onceName], attrs: new Map() });
      continue;
    }
    // split-linear's context half: [1, context columns] x W_once (+ bias), stored as <output>#once.
    const l = linearOf(rw);
    const bias = biasAdds.get(rw)?.bias ?? l.bias;
    const w = `${PREFIX}${rw.onceName}:w`;
    ctxConsts.set(w, { dtype: 'float', shape: [l.once.length / l.outDim, l.outDim], data: l.once });
    const product = bias ? `${PREFIX}${rw.onceName}:product` : rw.onceName;
    ctxNodes.push({ name: product, op: 'MatMul', domain: '', inputs: [x, w], outputs: [product], attrs: new Map() });
    if (bias) {
      const b = `${PREFIX}${rw.onceName}:bias`;
      ctxConsts.set(b, { dtype: 'float', shape: [l.outDim], data: bias });
      ctxNodes.push({ name: rw.onceName, op: 'Add', domain: '', inputs: [product, b], outputs: [rw.onceName], attrs: new Map() });
    }
  }

  /**
   * A Concat of per-candidate and context pieces (DCNv2's x0 over interleaved fields): each run of adjacent
   * context pieces is joined in the context stage, so the candidate stage expands one value per run to N
   * rows, not one per field.
   */
  function joinOnceRuns(node: GraphNode): GraphNode {
    if (node.op !== 'Concat' || rewriteOf(node) || fusion.requestNodes.has(node)) return node;
    const t = templateOf(node.outputs[0]!);
    const rankOf = t?.at2.length ?? 0;
    const axis = ((node.attrs.get('axis') as number) + rankOf) % rankOf;
    if (!t || candidateAxes(t).includes(axis)) return node;
    const joinable = (name: string) => name !== '' && classOf(name) === 'once' && !fusedOnce.has(name) && templateOf(name)?.at2.length === rankOf;
    const inputs: string[] = [];
    let run: string[] = [];
    const flush = () => {
      if (run.length < 2) inputs.push(...run);
      else {
        const joined = `${PREFIX}joined:${node.outputs[0]}:${inputs.length}`;
        readIn(run, ctxConsts, ctxInputs);
        ctxNodes.push({ name: joined, op: 'Concat', domain: '', inputs: run, outputs: [joined], attrs: new Map([['axis', axis]]) });
        joinedOnce.set(joined, templateOf(run[0]!)!);
        inputs.push(joined);
      }
      run = [];
    };
    for (const i of node.inputs) {
      if (joinable(i) && (run.length === 0 || candidateAxes(templateOf(i)!).join() === candidateAxes(templateOf(run[0]!)!).join())) {
        run.push(i);
        continue;
      }
      flush();
      if (joinable(i)) run.push(i);
      else inputs.push(i);
    }
    flush();
    return inputs.length === node.inputs.length ? node : { ...node, inputs };
  }

  // ----- candidate-stage fusions: chains that are one GEMM against a context-built operand ---------
  const candConsts = new Map<string, Value>();
  const fusion = fuseCandidateStage(program.candNodes, {
    classOf,
    template: (name) => rank.templates.get(name),
    constant,
    claimed: (node) => rewriteOf(node) !== undefined || foldedAdds.has(node),
    reads: (node) => [...node.inputs, ...(rewriteOf(node)?.parts.map((p) => p.name) ?? [])],
    outputs: new Set(graph.outputs),
    addCandidateConst: (name, value) => candConsts.set(name, value),
  });
  for (const node of fusion.requestNodes) for (const o of node.outputs) fusedOnce.set(o, fusion.onceValues.get(o)?.template ?? { at2: [], at3: [], withL: [] });
  for (const name of fusion.candValues) fusedCand.add(name);
  const candStage = fusion.nodes.map(joinOnceRuns);

  // ----- the handoff: once values the candidate stage reads (and does not write itself) -------------
  const handoff = new Set<string>();
  for (const node of candStage) {
    const rw = rewriteOf(node);
    if (rw) handoff.add(rw.onceName);
    else for (const n of node.inputs) if (n !== '' && classOf(n) === 'once' && !fusedOnce.has(n)) handoff.add(n);
  }
  for (const o of graph.outputs)
    if (classOf(o) !== 'cand') throw new RankawareError(`output "${o}"`, 'a score that depends on the candidates', 'a value computed from the context alone', 'format');
  const handoffOut = new Map<string, string>();
  for (const h of handoff) {
    if (!inputOf.has(h)) {
      handoffOut.set(h, h);
      continue;
    }
    // A context input the candidate stage reads: the context graph passes it on under its own name.
    const out = `${PREFIX}${h}`;
    ctxNodes.push({ name: `${PREFIX}pass:${h}`, op: 'Identity', domain: '', inputs: [h], outputs: [out], attrs: new Map() });
    ctxInputs.add(h);
    handoffOut.set(h, out);
  }
  const dtypeOf = (name: string): DType => probed.get(name)?.dtype ?? fusion.onceValues.get(name)?.dtype ?? (inputOf.has(name) ? dtypeOfInput(name) : 'float');
  const contextInputs = rank.roles.filter((r) => ctxInputs.has(r.input.name)).map((r) => typed(r.input.name));
  const context = encodeGraph({
    name: `${graph.name || 'model'} context stage`,
    opset: graph.opset,
    docString: 'rankaware rank-aware export: the context stage (once per request, batch 1)',
    inputs: contextInputs,
    outputs: [...handoff].map((h) => ({ name: handoffOut.get(h)!, dtype: dtypeOf(h) })),
    initializers: ctxConsts,
    nodes: ctxNodes,
  });

  // ----- the candidate stage -----------------------------------------------------------------------
  const candNodes: GraphNode[] = [];
  const candInputs = new Set<string>();
  const expanded = new Map<string, string>();
  const rowShapes = new Set<string>();
  const intConst = (name: string, values: number[]) => {
    candConsts.set(name, { dtype: 'int', shape: [values.length], data: Float64Array.from(values) });
    return name;
  };
  // N as a 1-D int64 [1]: the candidate axis of the first candidate input.
  let nDim: string | undefined;
  const candidateCount = (): string => {
    if (nDim) return nDim;
    const input = rank.roles.find((r) => r.side === 'candidate' && candidateAxes(rank.templates.get(r.input.name)!).length > 0);
    if (!input) throw new Error('import bug: no candidate input has a candidate axis');
    const axis = candidateAxes(rank.templates.get(input.input.name)!)[0]!;
    candInputs.add(input.input.name);
    const shape = `${PREFIX}shape:${input.input.name}`;
    candNodes.push({ name: shape, op: 'Shape', domain: '', inputs: [input.input.name], outputs: [shape], attrs: new Map() });
    nDim = `${PREFIX}N`;
    candNodes.push({ name: nDim, op: 'Slice', domain: '', inputs: [shape, intConst(`${PREFIX}N:start`, [axis]), intConst(`${PREFIX}N:end`, [axis + 1])], outputs: [nDim], attrs: new Map() });
    return nDim;
  };
  // A handoff value on N rows along its candidate axes, for an op that does not broadcast.
  const onRows = (h: string): string => {
    const axes = candidateAxes(templateOf(h)!);
    if (axes.length === 0) return h;
    let out = expanded.get(h);
    if (out) return out;
    const rankOf = templateOf(h)!.at2.length;
    const n = candidateCount();
    const one = intConst(`${PREFIX}one`, [1]);
    // One shape per pattern of candidate axes (DCNv2's twenty context fields share [N, 1]).
    const shape = `${PREFIX}rows-shape:${Array.from({ length: rankOf }, (_, i) => (axes.includes(i) ? 'N' : '1')).join('x')}`;
    if (!rowShapes.has(shape)) {
      rowShapes.add(shape);
      candNodes.push({ name: shape, op: 'Concat', domain: '', inputs: Array.from({ length: rankOf }, (_, i) => (axes.includes(i) ? n : one)), outputs: [shape], attrs: new Map([['axis', 0]]) });
    }
    out = `${PREFIX}rows:${h}`;
    candNodes.push({ name: out, op: 'Expand', domain: '', inputs: [h, shape], outputs: [out], attrs: new Map() });
    expanded.set(h, out);
    return out;
  };
  const body: GraphNode[] = [];
  /**
   * row-projection's candidate half: the candidate rows [N, kt, d] x W, beside the stored context rows on
   * N rows, concatenated [N, kc + kt, o] and put back in the stacked order by a Gather, in the node's shape.
   */
  const rowProjection = (rw: Rewrite, node: GraphNode) => {
    const { f, d, onceRows, candRows } = rw.rows!;
    const w = rw.weight!;
    const o = w.shape[1]!;
    const out = node.outputs[0]!;
    const parts = rw.parts.filter((p) => !p.once);
    for (const p of parts) if (inputOf.has(p.name)) candInputs.add(p.name);
    const x = flat(body, candConsts, parts, -1, `${out}:cand`);
    const rows = `${PREFIX}${out}:rows`;
    body.push({ name: rows, op: 'Reshape', domain: '', inputs: [x, intConst(`${PREFIX}${out}:rows-shape`, [-1, candRows.length, d])], outputs: [rows], attrs: new Map() });
    const wName = `${PREFIX}${rw.onceName}:w-cand`;
    candConsts.set(wName, w);
    const projected = `${PREFIX}${out}:projected`;
    body.push({ name: projected, op: 'MatMul', domain: '', inputs: [rows, wName], outputs: [projected], attrs: new Map() });
    const stored = `${PREFIX}${out}:stored`;
    body.push({ name: stored, op: 'Reshape', domain: '', inputs: [rw.onceName, intConst(`${PREFIX}${out}:stored-shape`, [1, onceRows.length, o])], outputs: [stored], attrs: new Map() });
    const expandShape = `${PREFIX}${out}:expand-shape`;
    body.push({ name: expandShape, op: 'Concat', domain: '', inputs: [candidateCount(), intConst(`${PREFIX}${out}:row-dims`, [onceRows.length, o])], outputs: [expandShape], attrs: new Map([['axis', 0]]) });
    const storedRows = `${PREFIX}${out}:stored-rows`;
    body.push({ name: storedRows, op: 'Expand', domain: '', inputs: [stored, expandShape], outputs: [storedRows], attrs: new Map() });
    const joined = `${PREFIX}${out}:joined`;
    body.push({ name: joined, op: 'Concat', domain: '', inputs: [storedRows, projected], outputs: [joined], attrs: new Map([['axis', 1]]) });
    // Row r of the stacked vectors is the joined row order[r].
    const order = new Array<number>(f);
    onceRows.forEach((r, i) => (order[r] = i));
    candRows.forEach((r, i) => (order[r] = onceRows.length + i));
    const t = rank.templates.get(out)!;
    const axes = candidateAxes(t);
    const plain = t.at2.length === 3 && axes.length === 1 && axes[0] === 0 && t.at2[1] === f && t.at2[2] === o;
    const gathered = plain ? out : `${PREFIX}${out}:gathered`;
    body.push({ name: gathered, op: 'Gather', domain: '', inputs: [joined, intConst(`${PREFIX}${out}:order`, order)], outputs: [gathered], attrs: new Map([['axis', 1]]) });
    if (!plain) {
      if (axes.length !== 1) throw new Error(`import bug: row-projection output "${out}" without one candidate axis`);
      body.push({ name: out, op: 'Reshape', domain: '', inputs: [gathered, intConst(`${PREFIX}${out}:shape`, t.at2.map((dim, i) => (i === axes[0] ? -1 : dim)))], outputs: [out], attrs: new Map() });
    }
  };
  for (const node of candStage) {
    const rw = rewriteOf(node);
    if (rw?.kind === 'row-projection') {
      rowProjection(rw, node);
      continue;
    }
    if (rw) {
      // split-linear's candidate half: [N, candidate columns] x W_cand + the stored row, in the node's shape.
      const l = linearOf(rw);
      const parts = rw.parts.filter((p) => !p.once);
      for (const p of parts) if (inputOf.has(p.name)) candInputs.add(p.name);
      const x = flat(body, candConsts, parts, -1, `${node.outputs[0]}:cand`);
      const w = `${PREFIX}${rw.onceName}:w-cand`;
      candConsts.set(w, { dtype: 'float', shape: [l.cand.length / l.outDim, l.outDim], data: l.cand });
      const t = rank.templates.get(node.outputs[0]!)!;
      const axes = candidateAxes(t);
      const plain = t.at2.length === 2 && axes.length === 1 && axes[0] === 0;
      const folded = biasAdds.get(rw)?.add.outputs[0];
      const sum = folded ?? (plain ? node.outputs[0]! : `${PREFIX}${node.outputs[0]}:sum`);
      // One Gemm: x [N, k] times W_cand plus the stored row [1, o] as its broadcast C (onnxruntime fuses an activation after it).
      body.push({ name: sum, op: 'Gemm', domain: '', inputs: [x, w, rw.onceName], outputs: [sum], attrs: new Map() });
      if (!plain) {
        if (axes.length !== 1) throw new Error(`import bug: split-linear output "${node.outputs[0]}" without one candidate axis`);
        const shape = `${PREFIX}${node.outputs[0]}:shape`;
        candConsts.set(shape, { dtype: 'int', shape: [t.at2.length], data: Float64Array.from(t.at2, (d, i) => (i === axes[0] ? -1 : d)) });
        body.push({ name: node.outputs[0]!, op: 'Reshape', domain: '', inputs: [sum, shape], outputs: [node.outputs[0]!], attrs: new Map() });
      }
      continue;
    }
    // (A folded bias Add is the split layer's Gemm now; a fusion's request node reads context values as they are, batch 1.)
    if (foldedAdds.has(node)) continue;
    const inputs = fusion.requestNodes.has(node) ? node.inputs : node.inputs.map((n) => (n !== '' && handoff.has(n) && !BROADCASTING_OPS.has(node.op) ? onRows(n) : n));
    body.push(inputs.some((n, i) => n !== node.inputs[i]) ? { ...node, inputs } : node);
    readIn(node.inputs, candConsts, candInputs);
  }
  candNodes.push(...body);
  for (const h of handoff) candInputs.delete(h);
  const candidateInputs = rank.roles.filter((r) => candInputs.has(r.input.name)).map((r) => typed(r.input.name));
  const handoffInputs = [...handoff].map((h) => ({ name: h, dtype: dtypeOf(h), from: handoffOut.get(h)! }));
  const candidates = encodeGraph({
    name: `${graph.name || 'model'} candidate stage`,
    opset: graph.opset,
    docString: 'rankaware rank-aware export: the candidate stage (N rows; the handoff values from the context stage, batch 1)',
    inputs: [...candidateInputs, ...handoffInputs.map(({ name, dtype }) => ({ name, dtype }))],
    outputs: graph.outputs.map((name) => ({ name, dtype: 'float' as const })),
    initializers: candConsts,
    nodes: candNodes,
  });
  // ----- both stages in one graph --------------------------------------------------------------------
  // A shape computation both stages run (N = 1 in the context stage) is renamed in its context copy.
  const candProduced = new Set(candNodes.flatMap((n) => n.outputs));
  const renamed = (n: string) => (candProduced.has(n) ? `${PREFIX}ctx:${n}` : n);
  const ctxOnly = ctxNodes.filter((n) => !n.name.startsWith(`${PREFIX}pass:`)).map((n) => ({ ...n, inputs: n.inputs.map(renamed), outputs: n.outputs.map(renamed) }));
  const singleConsts = new Map<string, Value>([...[...ctxConsts].map(([k, v]) => [renamed(k), v] as const), ...candConsts]);
  const single = encodeGraph({
    name: `${graph.name || 'model'} rank-aware`,
    opset: graph.opset,
    docString: 'rankaware rank-aware export: the context stage at batch 1 and the candidate stage in one graph',
    inputs: [...contextInputs, ...candidateInputs.filter((c) => !ctxInputs.has(c.name))],
    outputs: graph.outputs.map((name) => ({ name, dtype: 'float' as const })),
    initializers: singleConsts,
    nodes: [...ctxOnly, ...candNodes],
  });
  return {
    single,
    context,
    candidates,
    fusions: fusion.fused,
    manifest: { format: RANK_AWARE_FORMAT, version: 1, model: model.name, contextInputs, candidateInputs, handoff: handoffInputs, outputs: graph.outputs },
  };
}
