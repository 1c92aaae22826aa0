/**
 * What the structural matchers of the zoo (src/zoo/<arch>/match.ts) share: the result they return and
 * the pieces they read and write weights with. Each matcher walks back from the logit through the
 * subgraphs its architecture is made of (docs/model-format.md gives the math), checks the op of every
 * node on the way, the shapes, and which constant feeds which node, and returns the native model's
 * options, fields (in the order the graph reads them) and canonical weights. Anything else throws
 * NoMatch with what it found instead.
 */
import type { Architecture } from '../../model/spec.js';
import type { Tensor } from '../../model/safetensors.js';
import type { FieldRead, GraphView, Linear } from './view.js';
import { fail } from './view.js';
import type { AttentionBlock, Projection } from './attention.js';

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

export type Matcher = (v: GraphView, logit: string, track: Tracker) => Matched;
export type Tracker = <T>(what: string, kernel: string, match: () => T) => T;

export const tensor = (shape: number[], data: Float32Array): Tensor => ({ shape, data });

export function addLinear(weights: Map<string, Tensor>, prefix: string, l: Linear, bias = true): void {
  weights.set(`${prefix}.weight`, tensor([l.out, l.in], l.weight));
  if (bias) weights.set(`${prefix}.bias`, tensor([l.out], l.bias));
}

export function addMlp(weights: Map<string, Tensor>, prefix: string, layers: readonly Linear[]): void {
  layers.forEach((l, i) => addLinear(weights, `${prefix}.${i}`, l));
}

export function addTables(weights: Map<string, Tensor>, fields: readonly FieldRead[], prefix = 'embedding'): void {
  for (const f of fields) if (f.type === 'sparse') weights.set(`${prefix}.${f.input}`, tensor([...f.table!.shape], Float32Array.from(f.table!.data)));
}

/** An MLP whose last layer gives the 1-unit logit; its hidden sizes are the rest. */
export function headMlp(v: GraphView, logit: string, what: string): { input: string; layers: Linear[]; hidden: number[] } {
  const m = v.mlp(logit, what, false);
  if (m.layers[m.layers.length - 1]!.out !== 1) fail(`${what}: a last layer of 1 unit (the logit)`);
  return { ...m, hidden: m.layers.slice(0, -1).map((l) => l.out) };
}

export function sameParts(v: GraphView, a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => v.source(x) === v.source(b[i]!));
}

// ----- attention architectures (autoint, rank-attention) ---------------------------------------

/** Options every layer shares, and the projections stored as [in, out] (projectionLayout in_out). */
export function attentionOptions(blocks: readonly AttentionBlock[], what: string): Record<string, unknown> {
  const b = blocks[0]!;
  if (blocks.some((x) => x.heads !== b.heads || x.headDim !== b.headDim || x.scaling !== b.scaling || !!x.residual !== !!b.residual)) fail(`${what}: every layer with the same heads, headDim, scaling and residual`);
  return { layers: blocks.length, heads: b.heads, headDim: b.headDim, scaling: b.scaling, residual: !!b.residual, projectionLayout: 'in_out' };
}

export function addProjection(weights: Map<string, Tensor>, name: string, p: Projection): void {
  weights.set(name, tensor([p.in, p.out], p.inOut));
}

export function addBlock(weights: Map<string, Tensor>, prefix: string, b: AttentionBlock, key: Projection, value: Projection): void {
  addProjection(weights, `${prefix}.query`, b.query);
  addProjection(weights, `${prefix}.key`, key);
  addProjection(weights, `${prefix}.value`, value);
  if (b.residual) addProjection(weights, `${prefix}.residual`, b.residual);
}

/** The stacked field vectors [rows, F, D] as fields, each a [rows, D] embedding lookup. */
export function stackedFields(v: GraphView, x: string, what: string): FieldRead[] {
  const d = v.dims(x);
  if (d.length !== 3) fail(`${what}: stacked field vectors [rows, F, D]`);
  const fields = v.parts(x).map((p, i) => v.field(p, `${what} ${i}`));
  if (fields.length !== d[1] || fields.some((f) => f.type !== 'sparse' || f.dim !== d[2])) fail(`${what}: ${d[1]} embedding lookups of width ${d[2]}`);
  return fields;
}
