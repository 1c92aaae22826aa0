/**
 * The staged program of an imported graph: a context stage that runs once per request (once values with
 * N = 1, so every broadcast of the context is dropped, and the once halves of the rewrites) and a
 * candidate stage that runs per candidate (per-candidate values, the shape arithmetic for the real N, and
 * the per-candidate halves of the rewrites). Nodes nothing needs (a concatenation only a split layer
 * read, a transpose the pair products replaced) are not run at all.
 */
import { RankawareError } from '../../errors.js';
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import { runNode } from './evaluate.js';
import { nodeFlops } from './ops.js';
import { BROADCASTING_OPS } from './ops.js';
import type { RankAnalysis } from './rank.js';
import { candidateAxes, dimAt } from './rank.js';
import type { Rewrite } from './rewrite-parts.js';
import type { Value } from './tensor.js';
import { expandTo } from './tensor.js';

/** The once values of one request's context. */
export interface ContextValues {
  readonly values: ReadonlyMap<string, Value>;
}

type Stage = 'once' | 'cand';

export class StagedProgram {
  /** Nodes of each stage, in graph order. */
  readonly onceNodes: readonly GraphNode[];
  readonly candNodes: readonly GraphNode[];
  /** Rewrites in use (their once halves run in the context stage, the rest per candidate). */
  readonly rewrites: readonly Rewrite[];
  /** The graph's outputs (the scores first, then the other heads). */
  private readonly outputNames: readonly string[];

  constructor(
    graph: OnnxGraph,
    private readonly rank: RankAnalysis,
    private readonly allRewrites: ReadonlyMap<GraphNode, Rewrite>,
  ) {
    this.outputNames = graph.outputs;
    const producers = new Map<string, GraphNode>();
    for (const node of graph.nodes) for (const o of node.outputs) producers.set(o, node);
    const marked = { once: new Set<GraphNode>(), cand: new Set<GraphNode>() };
    const used = new Set<Rewrite>();
    const seen = new Set<string>();
    const work: [string, Stage][] = graph.outputs.map((o) => [o, this.classOf(o) === 'once' ? 'once' : 'cand']);
    const push = (name: string, stage: Stage) => {
      if (name === '') return;
      const cls = this.classOf(name);
      if (cls === 'const') return;
      const at: Stage = cls === 'once' ? 'once' : stage;
      if (!seen.has(`${at}:${name}`)) work.push([name, at]);
    };
    while (work.length > 0) {
      const [name, stage] = work.pop()!;
      if (seen.has(`${stage}:${name}`)) continue;
      seen.add(`${stage}:${name}`);
      const node = producers.get(name);
      if (!node) continue; // a graph input
      const rewrite = stage === 'cand' ? allRewrites.get(node) : undefined;
      if (rewrite) {
        used.add(rewrite);
        for (const p of rewrite.parts) push(p.name, p.once ? 'once' : 'cand');
        continue;
      }
      marked[stage].add(node);
      for (const input of node.inputs) {
        // In the context stage a Shape of a per-candidate value reads its dims at N = 1, not its data.
        if (stage === 'once' && node.op === 'Shape' && this.classOf(input) === 'cand') continue;
        push(input, stage);
      }
    }
    this.onceNodes = graph.nodes.filter((n) => marked.once.has(n));
    this.candNodes = graph.nodes.filter((n) => marked.cand.has(n) || (allRewrites.has(n) && used.has(allRewrites.get(n)!)));
    this.rewrites = [...used];
  }

  private classOf(name: string) {
    return this.rank.classes.get(name) ?? 'const';
  }

  /** A value's shape at n candidates (from the probes), for Shape nodes that read dims only. */
  private placeholder(name: string, n: number): Value {
    const t = this.rank.templates.get(name)!;
    return { dtype: 'float', shape: t.at2.map((_, i) => dimAt(t, i, n)), data: new Float64Array(0) };
  }

  /** The context stage: once values from the context inputs. */
  /** `count` (benchmarks) receives the FLOPs of each step at the request's own shapes. */
  runContext(feeds: ReadonlyMap<string, Value>, count?: (flops: number) => void): ContextValues {
    const values = new Map<string, Value>(feeds);
    const lookup = (name: string) => values.get(name) ?? this.rank.folded.get(name) ?? (this.classOf(name) === 'cand' ? this.placeholder(name, 1) : undefined);
    for (const node of this.onceNodes) {
      const outputs = runNode(node, lookup);
      if (count) count(nodeFlops(node, node.inputs.map((n) => (n === '' ? undefined : lookup(n))), outputs));
      node.outputs.forEach((o, i) => outputs[i] && values.set(o, outputs[i]!));
    }
    for (const rw of this.rewrites) {
      values.set(rw.onceName, rw.once((name) => lookup(name)!));
      count?.(rw.flopsOnce);
    }
    return { values };
  }

  /** A once value's dims as a per-candidate Shape reads them (no data): its candidate axes at n. */
  private shapeOnly(name: string, stored: Value, n: number): Value {
    const shape = [...stored.shape];
    for (const axis of candidateAxes(this.rank.templates.get(name)!)) shape[axis] = n;
    return { dtype: stored.dtype, shape, data: new Float64Array(0) };
  }

  /** A once value as a per-candidate consumer that does not broadcast needs it: N rows. */
  private materialize(name: string, stored: Value, n: number): Value {
    return expandTo(stored, this.shapeOnly(name, stored, n).shape);
  }

  /** The candidate stage for n candidates: every graph output ([N, 1] or [N] scores), in graph order. */
  runCandidates(context: ContextValues, feeds: ReadonlyMap<string, Value>, n: number, count?: (flops: number) => void): Value[] {
    const values = new Map<string, Value>(feeds);
    const materialized = new Map<string, Value>();
    const once = (name: string): Value => {
      const v = context.values.get(name);
      if (!v) throw new RankawareError('context', `the once value "${name}" from the context stage of this model`, 'a context from another model', 'invalid');
      return v;
    };
    const read = (name: string, node?: GraphNode): Value | undefined => {
      const v = values.get(name) ?? this.rank.folded.get(name);
      if (v) return v;
      if (this.classOf(name) !== 'once') return undefined;
      // Shape reads dims only: the stored value's (a list length L is the context's own, not the probes'),
      // its candidate axes at n.
      if (node && node.op === 'Shape') return this.shapeOnly(name, once(name), n);
      if (node && BROADCASTING_OPS.has(node.op)) return once(name);
      let m = materialized.get(name);
      if (!m) materialized.set(name, (m = this.materialize(name, once(name), n)));
      return m;
    };
    for (const node of this.candNodes) {
      const rw = this.allRewrites.get(node);
      if (rw && this.rewrites.includes(rw)) {
        values.set(node.outputs[0]!, rw.cand((name) => values.get(name) ?? context.values.get(name) ?? this.rank.folded.get(name)!, once(rw.onceName), n));
        count?.(rw.flopsPerCandidate * n);
        continue;
      }
      const outputs = runNode(node, (name) => read(name, node));
      if (count) count(nodeFlops(node, node.inputs.map((name) => (name === '' ? undefined : read(name, node))), outputs));
      node.outputs.forEach((o, i) => outputs[i] && values.set(o, outputs[i]!));
    }
    return this.outputNames.map((name) => {
      const out = read(name);
      if (!out) throw new Error(`import bug: output ${name} was not computed`);
      return out;
    });
  }
}
