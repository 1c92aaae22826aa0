/**
 * A rank-aware pass on the graph itself: xDeepFM's CIN layer, `Conv1x1(Reshape(Einsum('bhd,bmd->bhmd', A,
 * B), [N, H * M, D]), W)`, is a sum over the blocks of its outer product. When A and B are concatenations
 * of field pieces (the first layer: A = B = the stacked fields), each block pairs a run of A's pieces with
 * a run of B's, runs grouped by whether their pieces are context; each block is its own Einsum, Reshape and
 * Conv by W's columns for those rows, and the blocks are added (the bias once). A block of two context runs
 * is then a context value, computed once per request; only the blocks with a candidate run are per
 * candidate: 2 kc kt + kt^2 of the F^2 products instead of all.
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis } from '../interpreter/rank.js';
import type { Value } from '../interpreter/tensor.js';
import { PassScope } from './fold.js';
import type { PassResult } from './fold.js';

/** More blocks than this would trade one kernel for many small ones. */
const MAX_BLOCKS = 16;

interface Run {
  readonly once: boolean;
  /** Rows of the concatenation it covers. */
  readonly from: number;
  readonly to: number;
  readonly pieces: readonly string[];
}

export function splitOuterBlocks(graph: OnnxGraph, rank: RankAnalysis): PassResult {
  const scope = new PassScope(graph, rank);
  const { producers, constants, replaced, folds } = scope;
  const t = (name: string) => scope.template(name);
  const isOnce = (name: string) => scope.isOnce(name);

  /** The runs of a concatenation along axis 1 of a [N, F, D] value, or undefined. */
  const runsOf = (name: string): Run[] | undefined => {
    const c = producers.get(name);
    const tc = t(name);
    if (!c || c.op !== 'Concat' || !tc || tc.at2.length !== 3) return undefined;
    const axis = (c.attrs.get('axis') as number | undefined) ?? 0;
    if ((axis < 0 ? axis + 3 : axis) !== 1) return undefined;
    const runs: Run[] = [];
    let row = 0;
    for (const p of c.inputs) {
      const tp = t(p);
      if (!tp || tp.at2[1] !== tp.at3[1] || tp.withL[1]) return undefined;
      const once = isOnce(p);
      const last = runs[runs.length - 1];
      if (last && last.once === once) runs[runs.length - 1] = { ...last, to: row + tp.at2[1]!, pieces: [...last.pieces, p] };
      else runs.push({ once, from: row, to: row + tp.at2[1]!, pieces: [p] });
      row += tp.at2[1]!;
    }
    return runs;
  };

  for (const conv of graph.nodes) {
    if (conv.op !== 'Conv') continue;
    const reshape = producers.get(conv.inputs[0]!);
    const einsum = reshape?.op === 'Reshape' ? producers.get(reshape.inputs[0]!) : undefined;
    const w = rank.classes.get(conv.inputs[1]!) === 'const' ? rank.folded.get(conv.inputs[1]!) : undefined;
    if (!reshape || !einsum || einsum.op !== 'Einsum' || !w || w.shape.length !== 3 || w.shape[2] !== 1) continue;
    const equation = String(einsum.attrs.get('equation') ?? '').replace(/\s+/g, '');
    const m = /^(\w)(\w)(\w),\1(\w)\3->\1\2\4\3$/.exec(equation);
    if (!m) continue;
    const [a, b] = einsum.inputs as [string, string];
    const [ra, rb] = [runsOf(a), runsOf(b)];
    const [te, tr] = [t(einsum.outputs[0]!), t(reshape.outputs[0]!)];
    if (!ra || !rb || !te || !tr || tr.at2.length !== 3) continue;
    const [H, M, D] = [te.at2[1]!, te.at2[2]!, te.at2[3]!];
    if (tr.at2[1] !== H * M || tr.at2[2] !== D || w.shape[1] !== H * M) continue;
    const blocks = ra.flatMap((x) => rb.map((y) => ({ x, y })));
    if (blocks.length > MAX_BLOCKS || !blocks.some((k) => k.x.once && k.y.once) || blocks.every((k) => k.x.once && k.y.once)) continue;
    const C = w.shape[0]!;
    const nodes: GraphNode[] = [];
    const base = conv.name;
    const side = (run: Run, which: string, i: number) => {
      if (run.pieces.length === 1) return run.pieces[0]!;
      const o = `${conv.outputs[0]}#${which}${i}`;
      if (!nodes.some((n) => n.outputs[0] === o)) nodes.push({ name: `${base}#${which}${i}`, op: 'Concat', domain: '', inputs: [...run.pieces], outputs: [o], attrs: new Map([['axis', 1]]) });
      return o;
    };
    // The once block carries the bias (so it is added once per request, not per candidate).
    const order = [...blocks].sort((p, q) => Number(q.x.once && q.y.once) - Number(p.x.once && p.y.once));
    const terms = order.map(({ x, y }, k) => {
      const [hx, my] = [x.to - x.from, y.to - y.from];
      const cols = new Float64Array(C * hx * my);
      for (let c = 0; c < C; c++)
        for (let h = 0; h < hx; h++) for (let j = 0; j < my; j++) cols[(c * hx + h) * my + j] = w.data[c * H * M + (x.from + h) * M + (y.from + j)]!;
      const wn = `${base}#w${k}`;
      const sn = `${base}#shape${k}`;
      constants.set(wn, { dtype: 'float', shape: [C, hx * my, 1], data: cols } satisfies Value);
      constants.set(sn, { dtype: 'int', shape: [3], data: Float64Array.from([0, hx * my, D]) } satisfies Value);
      const [ea, eb] = [side(x, 'a', ra.indexOf(x)), side(y, 'b', rb.indexOf(y))];
      const e = `${conv.outputs[0]}#outer${k}`;
      nodes.push({ name: `${base}#outer${k}`, op: 'Einsum', domain: '', inputs: [ea, eb], outputs: [e], attrs: einsum.attrs });
      nodes.push({ name: `${base}#rows${k}`, op: 'Reshape', domain: '', inputs: [e, sn], outputs: [`${e}#rows`], attrs: new Map() });
      const out = `${conv.outputs[0]}#block${k}`;
      nodes.push({ name: `${base}#block${k}`, op: 'Conv', domain: '', inputs: [`${e}#rows`, wn, ...(k === 0 && conv.inputs[2] ? [conv.inputs[2]] : [])], outputs: [out], attrs: conv.attrs });
      return out;
    });
    let acc = terms[0]!;
    for (let k = 1; k < terms.length; k++) {
      const sum = k === terms.length - 1 ? conv.outputs[0]! : `${conv.outputs[0]}#sum${k}`;
      nodes.push({ name: `${base}#sum${k}`, op: 'Add', domain: '', inputs: [acc, terms[k]!], outputs: [sum], attrs: new Map() });
      acc = sum;
    }
    replaced.set(conv, nodes);
    const onceBlocks = blocks.filter((k) => k.x.once && k.y.once);
    const onceProducts = onceBlocks.reduce((s, k) => s + (k.x.to - k.x.from) * (k.y.to - k.y.from), 0);
    folds.push({ pass: 'outer-blocks', node: conv, terms: nodes, what: `the ${H}x${M} outer product in ${blocks.length} blocks: ${onceProducts} of its ${H * M} products context only, computed once` });
  }
  return scope.result();
}
