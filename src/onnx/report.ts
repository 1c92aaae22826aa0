/**
 * What `inspect` shows for an imported model: per node, its rank (once per request or per candidate;
 * folded at import; shape arithmetic), the rewrite that replaced it, and its FLOPs at N candidates in the
 * vanilla graph (broadcast first, as exported) and in the rank-aware program, and the FLOPs saved.
 */
import type { ImportedModel } from './model.js';
import type { GraphNode } from './reader/onnx-graph.js';
import type { RewriteKind } from './interpreter/rewrite-parts.js';
import type { GraphPass } from './passes/fold.js';

export type NodeRank = 'import' | 'shape' | 'once' | 'per-candidate' | 'not run';

export interface NodeReport {
  readonly node: string;
  readonly op: string;
  readonly rank: NodeRank;
  readonly rewrite?: RewriteKind | GraphPass;
  readonly what?: string;
  readonly flopsVanilla: number;
  readonly flopsRankAware: number;
  readonly flopsSaved: number;
}

export interface ImportReport {
  readonly model: string;
  readonly n: number;
  readonly contextInputs: readonly string[];
  readonly candidateInputs: readonly string[];
  readonly nodes: readonly NodeReport[];
  readonly flopsVanilla: number;
  readonly flopsRankAware: number;
  /** FLOPs of the rank-aware program: once per request, and per candidate. */
  readonly flopsOnce: number;
  readonly flopsPerCandidate: number;
}

export function importReport(model: ImportedModel, n: number): ImportReport {
  // Rows for the staged graph (after the rank-aware passes); vanilla FLOPs from the graph as exported.
  const { graph, rank } = model.staged;
  const program = model.program;
  const original = new Map(model.graph.nodes.map((node, i) => [node, i]));
  const vanillaAt = (node: GraphNode, k: number) => {
    const i = original.get(node);
    if (i === undefined) return 0;
    return model.rank.flops2[i]! + (model.rank.flops3[i]! - model.rank.flops2[i]!) * (k - 2);
  };
  const once = new Set(program.onceNodes);
  const cand = new Set(program.candNodes);
  const used = new Set(program.rewrites);
  let flopsOnce = 0;
  let flopsPerCandidate = 0;
  const nodes = graph.nodes.map((node, i): NodeReport => {
    const f2 = rank.flops2[i]!;
    const slope = rank.flops3[i]! - f2;
    const at = (k: number) => f2 + slope * (k - 2);
    const cls = rank.classes.get(node.outputs[0]!);
    const rw = model.rewrites.get(node);
    let ra = 0;
    let nodeRank: NodeRank;
    if (rw && used.has(rw)) {
      ra = rw.flopsOnce + n * rw.flopsPerCandidate;
      flopsOnce += rw.flopsOnce;
      flopsPerCandidate += rw.flopsPerCandidate;
      nodeRank = 'per-candidate';
    } else if (cand.has(node) && cls !== 'shape') {
      ra = at(n);
      flopsOnce += f2 - 2 * slope;
      flopsPerCandidate += slope;
      nodeRank = 'per-candidate';
    } else if (once.has(node) && cls !== 'shape') {
      ra = at(1);
      flopsOnce += ra;
      nodeRank = 'once';
    } else {
      nodeRank = cls === 'const' ? 'import' : cls === 'shape' ? 'shape' : 'not run';
    }
    const vanilla = vanillaAt(node, n);
    return {
      node: node.name,
      op: node.op,
      rank: nodeRank,
      ...(rw && used.has(rw) ? { rewrite: rw.kind, what: rw.what } : {}),
      flopsVanilla: vanilla,
      flopsRankAware: ra,
      flopsSaved: vanilla - ra,
    };
  });
  // A node a graph pass replaced: its vanilla FLOPs, and the terms that compute it now (listed above).
  for (const fold of model.staged.folds)
    nodes.push({ node: fold.node.name, op: fold.node.op, rank: 'per-candidate', rewrite: fold.pass, what: fold.what, flopsVanilla: vanillaAt(fold.node, n), flopsRankAware: 0, flopsSaved: vanillaAt(fold.node, n) });
  const sum = (f: (r: NodeReport) => number) => nodes.reduce((a, r) => a + f(r), 0);
  return {
    model: model.name,
    n,
    contextInputs: model.inputs.filter((i) => i.side === 'context').map((i) => i.name),
    candidateInputs: model.inputs.filter((i) => i.side === 'candidate').map((i) => i.name),
    nodes,
    flopsVanilla: sum((r) => r.flopsVanilla),
    flopsRankAware: sum((r) => r.flopsRankAware),
    flopsOnce,
    flopsPerCandidate,
  };
}

/** The report as text lines: nodes with FLOPs, then nodes without, then totals. */
export function formatReport(r: ImportReport, all = false): string[] {
  const lines = [
    `== imported ${r.model}: context inputs ${r.contextInputs.join(', ')}; candidate inputs ${r.candidateInputs.join(', ')}; N=${r.n}`,
    `${'node'.padEnd(40)} ${'op'.padEnd(10)} ${'rank'.padEnd(13)} ${'vanilla'.padStart(12)} ${'rank-aware'.padStart(12)} ${'saved'.padStart(12)}  rewrite`,
  ];
  for (const node of r.nodes) {
    if (!all && node.flopsVanilla === 0 && node.flopsRankAware === 0 && !node.rewrite) continue;
    lines.push(
      `${node.node.slice(-40).padEnd(40)} ${node.op.padEnd(10)} ${node.rank.padEnd(13)} ${String(node.flopsVanilla).padStart(12)} ${String(node.flopsRankAware).padStart(12)} ${String(node.flopsSaved).padStart(12)}  ${node.rewrite ? `${node.rewrite}: ${node.what}` : ''}`,
    );
  }
  const counts = new Map<string, number>();
  for (const node of r.nodes) counts.set(node.rank, (counts.get(node.rank) ?? 0) + 1);
  lines.push(`nodes: ${[...counts].map(([k, c]) => `${c} ${k}`).join(', ')}${all ? '' : ' (nodes without FLOPs not listed; --all lists them)'}`);
  lines.push('compiled onto float32 kernels (wasm by default; --backend js|webgpu, --plan vanilla, --plan interpret: the float64 interpreter)');
  lines.push(`FLOPs at N=${r.n}: vanilla ${r.flopsVanilla}, rank-aware ${r.flopsRankAware} (${r.flopsOnce} once + ${r.flopsPerCandidate} per candidate), ${(r.flopsVanilla / Math.max(r.flopsRankAware, 1)).toFixed(2)}x fewer`);
  return lines;
}
