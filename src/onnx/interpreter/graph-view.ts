/**
 * The structural view the rank-aware rewrites (./rewrites.ts) read a graph through: who produces a value
 * (Identity and the broadcast of a context row looked through), which constant feeds which node, shapes
 * and attributes. A read that does not find what it expects throws NoMatch saying what it found instead.
 */
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis, ShapeTemplate } from './rank.js';
import type { Value } from './tensor.js';

/** A structure a rewrite expected and did not find (the node is then left as it is). */
export class NoMatch extends Error {}

export function fail(what: string): never {
  throw new NoMatch(what);
}

export class GraphView {
  private readonly producers = new Map<string, GraphNode>();

  constructor(
    readonly graph: OnnxGraph,
    readonly rank: RankAnalysis,
  ) {
    for (const node of graph.nodes) for (const o of node.outputs) this.producers.set(o, node);
  }

  template(name: string): ShapeTemplate {
    return this.rank.templates.get(name) ?? fail(`no shape for "${name}"`);
  }

  /** The value's dims at N = 2 (the probe the rank analysis reads shapes from). */
  dims(name: string): readonly number[] {
    return this.template(name).at2;
  }

  constant(name: string): Value | undefined {
    return this.rank.classes.get(name) === 'const' ? this.rank.folded.get(name) : undefined;
  }

  /** The node producing `name`, skipping the broadcast of a context row to N rows and Identity. */
  producer(name: string): GraphNode | undefined {
    const node = this.producers.get(name);
    if (!node) return undefined;
    if (node.op === 'Identity' || (node.op === 'Expand' && this.broadcastsRows(node)) || (node.op === 'Tile' && this.broadcastsRows(node))) return this.producer(node.inputs[0]!);
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

  /** The producer of `name` with op `op`; NoMatch otherwise. */
  expect(name: string, op: string | readonly string[], what: string): GraphNode {
    const node = this.producer(name);
    const ops = typeof op === 'string' ? [op] : op;
    if (!node || !ops.includes(node.op)) fail(`${what}: expected ${ops.join(' or ')} producing "${name}", found ${node ? `${node.op} "${node.name}"` : 'a graph input or constant'}`);
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
}
