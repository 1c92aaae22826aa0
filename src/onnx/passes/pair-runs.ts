/**
 * A rank-aware pass on the graph itself: DLRM's selected pairs, `Gather(Reshape(X X^T, [N, F * F]), pairs,
 * axis 1)` over stacked field vectors (`X = Concat(pieces, 1)`, or DLRM's `view` of a concatenation of
 * `[N, k D]` pieces), are cut into runs of consecutive pairs that
 * are context by context or not; a context run is gathered from the Gram matrix of the context rows alone
 * (a context value, computed once per request), the others from X X^T as before, and the runs are
 * concatenated in order. The layer after (DLRM's top MLP) then sees the context pairs as context columns,
 * and its split computes their share once, as the native DLRM plan does.
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';
import { PassScope } from './fold.js';
import type { PassResult } from './fold.js';

/** More runs than this would trade one gather for too many small ones (each is one copy, read in place by the split layer after). */
const MAX_RUNS = 1024;

export function splitPairRuns(graph: OnnxGraph, rank: RankAnalysis): PassResult {
  const scope = new PassScope(graph, rank);
  const { producers, constants, replaced, folds } = scope;
  const t = (name: string) => scope.template(name);
  const isOnce = (name: string) => scope.isOnce(name);

  for (const gather of graph.nodes) {
    if (gather.op !== 'Gather') continue;
    const axis = (gather.attrs.get('axis') as number | undefined) ?? 0;
    const idx = rank.classes.get(gather.inputs[1]!) === 'const' ? rank.folded.get(gather.inputs[1]!) : undefined;
    const reshape = producers.get(gather.inputs[0]!);
    const mm = reshape?.op === 'Reshape' ? producers.get(reshape.inputs[0]!) : undefined;
    const tr = mm?.op === 'MatMul' ? producers.get(mm.inputs[1]!) : undefined;
    if (!idx || idx.shape.length !== 1 || !(axis === 1 || axis === -1) || !mm || !tr || tr.op !== 'Transpose' || tr.inputs[0] !== mm.inputs[0]) continue;
    if ((tr.attrs.get('perm') as number[] | undefined)?.join() !== '0,2,1') continue;
    const x = mm.inputs[0]!;
    const tx = t(x);
    const tReshaped = t(reshape!.outputs[0]!);
    if (!tx || tx.at2.length !== 3 || !tReshaped || tReshaped.at2.length !== 2) continue;
    const [F, D] = [tx.at2[1]!, tx.at2[2]!];
    if (tReshaped.at2[1] !== F * F) continue;
    // X's rows by piece: a Concat of [N, f, D] pieces on axis 1, or DLRM's view of a Concat of [N, k D] pieces.
    let stacked = producers.get(x);
    let viewed = false;
    if (stacked?.op === 'Reshape') {
      stacked = producers.get(stacked.inputs[0]!);
      viewed = true;
    }
    if (!stacked || stacked.op !== 'Concat') continue;
    const cRank = viewed ? 2 : 3;
    const cAxis = (stacked.attrs.get('axis') as number | undefined) ?? 0;
    if ((cAxis < 0 ? cAxis + cRank : cAxis) !== 1) continue;
    const onceRow: number[] = [];
    const oncePieces: string[] = [];
    let ok = true;
    for (const p of stacked.inputs) {
      const tp = t(p);
      const extent = tp && tp.at2.length === cRank && tp.at2[1] === tp.at3[1] ? tp.at2[1]! : -1;
      const rows = viewed ? extent / D : extent;
      if (!(rows > 0 && Number.isInteger(rows)) || (!viewed && tp!.at2[2] !== D)) {
        ok = false;
        break;
      }
      if (isOnce(p)) oncePieces.push(p);
      for (let i = 0; i < rows; i++) onceRow.push(isOnce(p) ? 0 : -1);
    }
    if (!ok || onceRow.length !== F) continue;
    let kc = 0;
    for (let i = 0; i < F; i++) if (onceRow[i] === 0) onceRow[i] = kc++;
    const pairs = Array.from(idx.data);
    if (pairs.some((p) => !Number.isInteger(p) || p < 0 || p >= F * F)) continue;
    const pairOnce = (p: number) => onceRow[Math.floor(p / F)]! >= 0 && onceRow[p % F]! >= 0;
    const runs: { once: boolean; from: number; to: number }[] = [];
    pairs.forEach((p, k) => {
      const once = pairOnce(p);
      const last = runs[runs.length - 1];
      if (last && last.once === once) last.to = k + 1;
      else runs.push({ once, from: k, to: k + 1 });
    });
    if (runs.length === 1 || runs.length > MAX_RUNS || !runs.some((r) => r.once)) continue;

    const base = gather.name;
    const out = gather.outputs[0]!;
    const nodes: GraphNode[] = [];
    const node = (name: string, op: string, inputs: string[], output: string, attrs: [string, number | number[]][] = []): string => {
      nodes.push({ name: `${base}#${name}`, op, domain: '', inputs, outputs: [output], attrs: new Map(attrs) });
      return output;
    };
    const constant = (name: string, v: Value): string => {
      constants.set(`${base}#${name}`, v);
      return `${base}#${name}`;
    };
    // The context rows' Gram matrix, flattened: [N, kc * kc] (computed at N = 1 in the context stage).
    const joined = oncePieces.length === 1 ? oncePieces[0]! : node('contextRows', 'Concat', oncePieces, `${out}#contextRows`, [['axis', 1]]);
    const xc = viewed ? node('contextStack', 'Reshape', [joined, constant('stackShape', { dtype: 'int', shape: [3], data: Float64Array.from([-1, kc, D]) })], `${out}#contextStack`) : joined;
    const xct = node('contextRowsT', 'Transpose', [xc], `${out}#contextRowsT`, [['perm', [0, 2, 1]]]);
    const gram = node('contextGram', 'MatMul', [xc, xct], `${out}#contextGram`);
    const flat = node('contextPairs', 'Reshape', [gram, constant('contextShape', { dtype: 'int', shape: [2], data: Float64Array.from([-1, kc * kc]) })], `${out}#contextPairs`);
    const parts = runs.map((r, k) => {
      const sel = pairs.slice(r.from, r.to).map((p) => (r.once ? onceRow[Math.floor(p / F)]! * kc + onceRow[p % F]! : p));
      const indices = constant(`pairs${k}`, { dtype: 'int', shape: [sel.length], data: Float64Array.from(sel) });
      return node(`run${k}`, 'Gather', [r.once ? flat : gather.inputs[0]!, indices], `${out}#run${k}`, [['axis', 1]]);
    });
    node('runs', 'Concat', parts, out, [['axis', 1]]);
    replaced.set(gather, nodes);
    const onceCount = runs.filter((r) => r.once).reduce((s, r) => s + r.to - r.from, 0);
    folds.push({ pass: 'pair-runs', node: gather, terms: nodes, what: `${pairs.length} selected pairs of ${F} stacked vectors (D = ${D}) in ${runs.length} runs: ${onceCount} context-context pairs from the ${kc} context rows' products, once` });
  }
  return scope.result();
}
