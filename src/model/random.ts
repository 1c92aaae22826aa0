/**
 * Seeded random models and requests: `rankaware init`, the tests and the benchmarks use them.
 * The generator is mulberry32 (a 32-bit state, enough for reproducible test data, not for cryptography).
 */
import type { Tensor } from './safetensors.js';
import type { Architecture, Field, FlatField, ModelSpec } from './spec.js';
import { flatFields, sequenceTable } from './fields.js';
import { MODEL_FORMAT, MODEL_VERSION } from './spec.js';
import { parseModelSpec } from './parse-spec.js';
import { declareWeights } from './weights.js';
import { ZOO } from '../zoo/registry.js';
import type { Model } from './model.js';
import type { RequestJson } from './request.js';

export type Random = () => number;

export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
export function normal(rand: Random): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface InitOptions {
  readonly arch: Architecture;
  /** Number of context (K) and target (M) sparse fields. */
  readonly context: number;
  readonly target: number;
  readonly dim: number;
  /** The main MLP's hidden sizes (dlrm top, deepfm/autoint DNN, dcnv2/rdcn/rank-attention MLP). */
  readonly mlp?: readonly number[];
  readonly vocab?: number;
  readonly seed?: number;
  /** Full control: replaces the generated fields (declared order). */
  readonly fields?: readonly Field[];
  /** Merged over the generated options. */
  readonly options?: Record<string, unknown>;
  readonly output?: 'sigmoid' | 'none';
  /** The maxLength of the user history the sequence architectures (din, bst) read (default 50). */
  readonly history?: number;
}

/** Fields c0..c{K-1} and t0..t{M-1}, interleaved so that both sides appear throughout the order. */
export function interleavedFields(context: number, target: number, dim: number, vocab: number): Field[] {
  const fields: Field[] = [];
  let c = 0;
  let t = 0;
  while (c < context || t < target) {
    // Place targets spread evenly among the contexts.
    const takeTarget = t < target && (c >= context || (t + 1) * (context + 1) <= (c + 1) * (target + 1));
    if (takeTarget) fields.push({ name: `t${t++}`, type: 'sparse', side: 'target', vocab, dim, pooling: 'none', oov: 'error' });
    else fields.push({ name: `c${c++}`, type: 'sparse', side: 'context', vocab, dim, pooling: 'none', oov: 'error' });
  }
  return fields;
}

/** The fields of a sequence architecture gain a history `history` of items of the first target field's table. */
function withHistory(o: InitOptions, fields: Field[]): Field[] {
  if (!ZOO[o.arch].readsSequences) return fields;
  const table = fields.find((f) => f.side === 'target')!.name;
  return [...fields, { name: 'history', type: 'sequence', side: 'context', table, maxLength: o.history ?? 50, overflow: 'truncate', features: [] }];
}

/** A seeded random model. Weights ~ N(0, 1/fan_in) for linear maps, N(0, 1/dim) for tables. */
export function randomModel(o: InitOptions): Model {
  const vocab = o.vocab ?? 1000;
  const mlp = o.mlp ?? [64, 32];
  const spec = parseModelSpec({
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    name: `${o.arch}-K${o.context}-M${o.target}-D${o.dim}`,
    architecture: o.arch,
    fields: o.fields ?? withHistory(o, interleavedFields(o.context, o.target, o.dim, vocab)),
    options: { ...ZOO[o.arch].defaultOptions(mlp, o.dim), ...o.options },
    output: o.output ?? 'sigmoid',
  });
  return { spec, weights: randomWeights(spec, o.seed ?? 1) };
}

export function randomWeights(spec: ModelSpec, seed: number): Map<string, Tensor> {
  const rand = mulberry32(seed);
  const weights = new Map<string, Tensor>();
  for (const decl of declareWeights(spec)) {
    const count = decl.shape.reduce((a, b) => a * b, 1);
    const fanIn = decl.shape.length === 2 ? decl.shape[1]! : 1;
    const std = decl.name.startsWith('embedding.') ? 1 / Math.sqrt(decl.shape[1]!) : decl.name.startsWith('first_order.') ? 0.1 : decl.shape.length === 1 ? 0.1 : 1 / Math.sqrt(fanIn);
    const data = new Float32Array(count);
    // A LayerNorm's scale near 1, as trained ones are (bst).
    const base = /\.norm\d\.weight$/.test(decl.name) ? 1 : 0;
    for (let i = 0; i < count; i++) data[i] = base + normal(rand) * std;
    weights.set(decl.name, { shape: decl.shape, data });
  }
  return weights;
}

/**
 * A seeded random request with n candidates (pooled fields get 1-4 ids, dense fields N(0, 1) values; a
 * history `historyLength` items, default 1 to min(maxLength, 20), with side features of the same length).
 */
export function randomRequest(spec: ModelSpec, n: number, seed = 7, historyLength?: number): RequestJson {
  const rand = mulberry32(seed ^ 0x5bd1e995);
  const value = (f: FlatField): number | number[] => {
    if (f.type === 'dense') return Array.from({ length: f.dim }, () => Math.round(normal(rand) * 1000) / 1000);
    const id = () => Math.floor(rand() * f.vocab);
    if (f.pooling === 'none') return id();
    return Array.from({ length: 1 + Math.floor(rand() * 4) }, id);
  };
  const context: Record<string, number | number[]> = {};
  for (const f of spec.fields) {
    if (f.type === 'sequence') {
      const length = historyLength ?? 1 + Math.floor(rand() * Math.min(f.maxLength, 20));
      const rows = sequenceTable(spec, f).vocab;
      context[f.name] = Array.from({ length }, () => Math.floor(rand() * rows));
      for (const x of f.features) context[`${f.name}.${x.name}`] = Array.from({ length }, () => Math.floor(rand() * x.vocab));
    } else if (f.side === 'context') context[f.name] = value(f);
  }
  const candidates = Array.from({ length: n }, () => {
    const c: Record<string, number | number[]> = {};
    for (const f of flatFields(spec)) if (f.side === 'target') c[f.name] = value(f);
    return c;
  });
  return { context, candidates };
}
