/**
 * model.json: the declared model. Documented for users in docs/model-format.md; this module parses
 * and validates it into a normalized ModelSpec (defaults filled in), refusing anything it cannot run.
 */
import { RankawareError, show } from '../errors.js';

export const MODEL_FORMAT = 'rankaware-model';
export const MODEL_VERSION = 1;

export type Side = 'context' | 'target';
export type Pooling = 'none' | 'sum' | 'mean';
export type Architecture = 'dlrm' | 'deepfm' | 'dcnv2' | 'rdcn' | 'autoint' | 'rank-attention';
export const ARCHITECTURES: readonly Architecture[] = ['dlrm', 'deepfm', 'dcnv2', 'rdcn', 'autoint', 'rank-attention'];

/** A categorical field: one id (pooling none) or a list of ids pooled into one vector. */
export interface SparseField {
  readonly name: string;
  readonly type: 'sparse';
  readonly side: Side;
  readonly vocab: number;
  readonly dim: number;
  readonly pooling: Pooling;
  /** 'bucket': ids outside [0, vocab) read row `vocab` of a table with vocab + 1 rows. */
  readonly oov: 'error' | 'bucket';
}

/** A dense input: a list of `dim` finite floats. */
export interface DenseField {
  readonly name: string;
  readonly type: 'dense';
  readonly side: Side;
  readonly dim: number;
}

export type Field = SparseField | DenseField;

export interface DlrmOptions {
  /** Hidden sizes of the bottom MLP over the dense fields; the last equals the embedding dim. */
  readonly bottomMlp: readonly number[];
  /** Hidden sizes of the top MLP; a 1-unit output layer follows. */
  readonly topMlp: readonly number[];
  /** 'dlrm': pairs (1,0),(2,0),(2,1),...; 'torchrec': (0,1),(0,2),...,(1,2),... */
  readonly pairOrder: 'dlrm' | 'torchrec';
  /** 'dense+pairs': top input is cat(bottom output, pairs); 'embeddings+pairs': cat(flatten(all vectors), pairs). */
  readonly topInput: 'dense+pairs' | 'embeddings+pairs';
}
export interface DeepFmOptions {
  /** Hidden sizes of the DNN on flatten(embeddings) (+ dense fields); `output.weight` maps its last layer to 1. */
  readonly dnn: readonly number[];
}
export interface Dcnv2Options {
  readonly layers: number;
  /** 0: full W_l [d, d]; r > 0: low rank W_l = U_l V_l (U [d, r], V [r, d]). */
  readonly rank: number;
  /** 'stacked': MLP on x_L. 'parallel': a deep MLP on x_0 beside the cross stack, MLP on cat(x_L, deep). */
  readonly structure: 'stacked' | 'parallel';
  /** Hidden sizes of the parallel deep MLP (parallel only). */
  readonly deep: readonly number[];
  /** Hidden sizes of the top MLP; a 1-unit output layer follows. */
  readonly mlp: readonly number[];
}
export interface RdcnOptions {
  readonly layers: number;
  readonly mlp: readonly number[];
}
export interface AttentionOptions {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  /** Divide scores by sqrt(headDim). */
  readonly scaling: boolean;
  /** Add the residual projection x W_res before the ReLU. */
  readonly residual: boolean;
  /** Layout of the Q/K/V/residual matrices: 'in_out' (DeepCTR, x @ W) or 'out_in' (nn.Linear). */
  readonly projectionLayout: 'in_out' | 'out_in';
}
export interface AutoIntOptions extends AttentionOptions {
  /** Hidden sizes of the optional parallel DNN on flatten(embeddings) (+ dense fields). */
  readonly dnn: readonly number[];
}
export interface RankAttentionOptions extends AttentionOptions {
  readonly mlp: readonly number[];
}

interface SpecBase {
  readonly format: typeof MODEL_FORMAT;
  readonly version: number;
  readonly name: string;
  readonly fields: readonly Field[];
  /** Activation applied to the final logit. */
  readonly output: 'sigmoid' | 'none';
  /** Layout of every nn.Linear-like weight in weights.safetensors: 'out_in' (PyTorch) or 'in_out' (Keras). */
  readonly linearLayout: 'out_in' | 'in_out';
}
export type ModelSpec =
  | (SpecBase & { readonly architecture: 'dlrm'; readonly options: DlrmOptions })
  | (SpecBase & { readonly architecture: 'deepfm'; readonly options: DeepFmOptions })
  | (SpecBase & { readonly architecture: 'dcnv2'; readonly options: Dcnv2Options })
  | (SpecBase & { readonly architecture: 'rdcn'; readonly options: RdcnOptions })
  | (SpecBase & { readonly architecture: 'autoint'; readonly options: AutoIntOptions })
  | (SpecBase & { readonly architecture: 'rank-attention'; readonly options: RankAttentionOptions });

export type SpecOf<A extends Architecture> = Extract<ModelSpec, { architecture: A }>;

// ---------------------------------------------------------------------------------------------
// Parsing helpers: each names the path of the value it checks.

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, where: string): Json {
  if (!isObject(v)) throw new RankawareError(where, 'an object', show(v));
  return v;
}
function positiveInt(v: unknown, where: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RankawareError(where, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`, show(v));
  return v;
}

/**
 * Bounds on what model.json may declare, far above any ranking model: the loader builds a list of the
 * declared weights (and DLRM its field pairs) before it reads one, so a corrupt count must not make it
 * build a billion of them.
 */
export const SPEC_LIMITS = { fields: 1024, layers: 256, heads: 1024 } as const;
function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string, fallback?: T): T {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new RankawareError(where, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, show(v));
  return v as T;
}
function bool(v: unknown, where: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new RankawareError(where, 'true or false', show(v));
  return v;
}
function sizes(v: unknown, where: string, fallback?: readonly number[]): number[] {
  if (v === undefined && fallback !== undefined) return [...fallback];
  if (!Array.isArray(v)) throw new RankawareError(where, 'an array of layer sizes', show(v));
  if (v.length > SPEC_LIMITS.layers) throw new RankawareError(where, `at most ${SPEC_LIMITS.layers} layer sizes`, `${v.length}`);
  return v.map((x, i) => positiveInt(x, `${where}[${i}]`));
}
function noExtraKeys(o: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key))
      throw new RankawareError(`${where}.${key}`, `one of the keys ${allowed.join(', ')}`, `unknown key ${JSON.stringify(key)}`, 'unknown');
  }
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function parseField(v: unknown, i: number): Field {
  const where = `model.json fields[${i}]`;
  const f = obj(v, where);
  if (typeof f.name !== 'string' || !NAME_PATTERN.test(f.name))
    throw new RankawareError(`${where}.name`, 'a name of letters, digits, _ . - (not starting with a digit)', show(f.name));
  const at = `model.json field "${f.name}"`;
  const side = oneOf(f.side, ['context', 'target'] as const, `${at}.side`);
  const type = oneOf(f.type, ['sparse', 'dense'] as const, `${at}.type`, 'sparse');
  if (type === 'dense') {
    noExtraKeys(f, ['name', 'type', 'side', 'dim'], at);
    return { name: f.name, type, side, dim: positiveInt(f.dim, `${at}.dim`) };
  }
  noExtraKeys(f, ['name', 'type', 'side', 'vocab', 'dim', 'pooling', 'oov'], at);
  return {
    name: f.name,
    type,
    side,
    vocab: positiveInt(f.vocab, `${at}.vocab`),
    dim: positiveInt(f.dim, `${at}.dim`),
    pooling: oneOf(f.pooling, ['none', 'sum', 'mean'] as const, `${at}.pooling`, 'none'),
    oov: oneOf(f.oov, ['error', 'bucket'] as const, `${at}.oov`, 'error'),
  };
}

function parseAttention(o: Json, at: string): AttentionOptions {
  return {
    layers: positiveInt(o.layers, `${at}.layers`, 1, SPEC_LIMITS.layers),
    heads: positiveInt(o.heads, `${at}.heads`, 1, SPEC_LIMITS.heads),
    headDim: positiveInt(o.headDim, `${at}.headDim`),
    scaling: bool(o.scaling, `${at}.scaling`, false),
    residual: bool(o.residual, `${at}.residual`, true),
    projectionLayout: oneOf(o.projectionLayout, ['in_out', 'out_in'] as const, `${at}.projectionLayout`, 'in_out'),
  };
}

const ATTENTION_KEYS = ['layers', 'heads', 'headDim', 'scaling', 'residual', 'projectionLayout'];

function parseOptions(arch: Architecture, v: unknown): ModelSpec['options'] {
  const at = 'model.json options';
  const o = obj(v ?? {}, at);
  switch (arch) {
    case 'dlrm':
      noExtraKeys(o, ['bottomMlp', 'topMlp', 'pairOrder', 'topInput'], at);
      return {
        bottomMlp: sizes(o.bottomMlp, `${at}.bottomMlp`, []),
        topMlp: sizes(o.topMlp, `${at}.topMlp`),
        pairOrder: oneOf(o.pairOrder, ['dlrm', 'torchrec'] as const, `${at}.pairOrder`, 'dlrm'),
        topInput: oneOf(o.topInput, ['dense+pairs', 'embeddings+pairs'] as const, `${at}.topInput`, 'dense+pairs'),
      } satisfies DlrmOptions;
    case 'deepfm':
      noExtraKeys(o, ['dnn'], at);
      return { dnn: sizes(o.dnn, `${at}.dnn`, []) } satisfies DeepFmOptions;
    case 'dcnv2': {
      noExtraKeys(o, ['layers', 'rank', 'structure', 'deep', 'mlp'], at);
      const structure = oneOf(o.structure, ['stacked', 'parallel'] as const, `${at}.structure`, 'stacked');
      const deep = sizes(o.deep, `${at}.deep`, []);
      if (structure === 'stacked' && deep.length > 0)
        throw new RankawareError(`${at}.deep`, 'no deep MLP for structure "stacked" (use "parallel")', show(deep));
      if (structure === 'parallel' && deep.length === 0)
        throw new RankawareError(`${at}.deep`, 'the hidden sizes of the deep MLP for structure "parallel"', '[]');
      return {
        layers: positiveInt(o.layers, `${at}.layers`, 0, SPEC_LIMITS.layers),
        rank: o.rank === undefined ? 0 : positiveInt(o.rank, `${at}.rank`, 0),
        structure,
        deep,
        mlp: sizes(o.mlp, `${at}.mlp`, []),
      } satisfies Dcnv2Options;
    }
    case 'rdcn':
      noExtraKeys(o, ['layers', 'mlp'], at);
      return { layers: positiveInt(o.layers, `${at}.layers`, 0, SPEC_LIMITS.layers), mlp: sizes(o.mlp, `${at}.mlp`, []) } satisfies RdcnOptions;
    case 'autoint':
      noExtraKeys(o, [...ATTENTION_KEYS, 'dnn'], at);
      return { ...parseAttention(o, at), dnn: sizes(o.dnn, `${at}.dnn`, []) } satisfies AutoIntOptions;
    case 'rank-attention':
      noExtraKeys(o, [...ATTENTION_KEYS, 'mlp'], at);
      return { ...parseAttention(o, at), mlp: sizes(o.mlp, `${at}.mlp`, []) } satisfies RankAttentionOptions;
  }
}

/** Parse and validate a model.json object. Throws RankawareError naming the offending key. */
/** What a model.json of another kind is, for the error that refuses it. */
function foreignFormat(m: Record<string, unknown>): string {
  if ('modelTopology' in m || 'weightsManifest' in m) return `a TensorFlow.js model.json${typeof m.format === 'string' ? ` (format ${JSON.stringify(m.format)})` : ''}: convert the model with rankaware import (ONNX) first`;
  if ('model_type' in m || 'architectures' in m) return 'a Hugging Face config.json';
  if (m.format === undefined) return `no "format" key (keys: ${Object.keys(m).slice(0, 6).join(', ') || 'none'})`;
  return show(m.format);
}

export function parseModelSpec(json: unknown): ModelSpec {
  const m = obj(json, 'model.json');
  if (m.format !== MODEL_FORMAT) throw new RankawareError('model.json format', JSON.stringify(MODEL_FORMAT), foreignFormat(m), 'format');
  if (m.version !== MODEL_VERSION)
    throw new RankawareError('model.json version', `${MODEL_VERSION} (the versions this rankaware reads)`, show(m.version), 'format');
  noExtraKeys(m, ['format', 'version', 'name', 'architecture', 'fields', 'options', 'output', 'linearLayout'], 'model.json');
  const architecture = oneOf(m.architecture, ARCHITECTURES, 'model.json architecture');
  if (!Array.isArray(m.fields) || m.fields.length === 0)
    throw new RankawareError('model.json fields', 'a non-empty array of fields', show(m.fields));
  if (m.fields.length > SPEC_LIMITS.fields) throw new RankawareError('model.json fields', `at most ${SPEC_LIMITS.fields} fields`, `${m.fields.length}`);
  const fields = m.fields.map(parseField);
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name)) throw new RankawareError(`model.json field "${f.name}"`, 'a unique name', 'a duplicate');
    seen.add(f.name);
  }
  const spec = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    name: typeof m.name === 'string' ? m.name : architecture,
    architecture,
    fields,
    options: parseOptions(architecture, m.options),
    output: oneOf(m.output, ['sigmoid', 'none'] as const, 'model.json output', 'sigmoid'),
    linearLayout: oneOf(m.linearLayout, ['out_in', 'in_out'] as const, 'model.json linearLayout', 'out_in'),
  } as ModelSpec;
  checkArchitectureFields(spec);
  return spec;
}

export function sparseFields(spec: ModelSpec): SparseField[] {
  return spec.fields.filter((f): f is SparseField => f.type === 'sparse');
}
export function denseFields(spec: ModelSpec): DenseField[] {
  return spec.fields.filter((f): f is DenseField => f.type === 'dense');
}

/** Rows of a field's embedding table (vocab, plus one OOV row when declared). */
export function tableRows(f: SparseField): number {
  return f.oov === 'bucket' ? f.vocab + 1 : f.vocab;
}

/** Cross-field rules of each architecture (equal dims where vectors interact, side counts). */
function checkArchitectureFields(spec: ModelSpec): void {
  const sparse = sparseFields(spec);
  const dense = denseFields(spec);
  const needEqualDims = spec.architecture !== 'dcnv2' && spec.architecture !== 'rdcn';
  if (needEqualDims && sparse.length > 0) {
    const d = sparse[0]!.dim;
    for (const f of sparse)
      if (f.dim !== d)
        throw new RankawareError(`model.json field "${f.name}".dim`, `${d} (${spec.architecture} interacts field vectors, so all embedding dims are equal)`, show(f.dim));
  }
  if (sparse.length === 0) throw new RankawareError('model.json fields', 'at least one sparse (embedding) field', 'only dense fields');
  const hasSide = (side: Side) => spec.fields.some((f) => f.side === side);
  if (!hasSide('target')) throw new RankawareError('model.json fields', 'at least one field with side "target"', 'none');
  switch (spec.architecture) {
    case 'dlrm': {
      const o = spec.options;
      if (dense.length > 0 && o.bottomMlp.length === 0)
        throw new RankawareError('model.json options.bottomMlp', 'a bottom MLP for the dense fields (its last size equals the embedding dim)', '[]');
      if (dense.length === 0 && o.bottomMlp.length > 0)
        throw new RankawareError('model.json options.bottomMlp', '[] when the model has no dense field', show(o.bottomMlp));
      if (sparse.length + (dense.length > 0 ? 1 : 0) < 2)
        throw new RankawareError('model.json fields', 'at least two interacting vectors for dlrm (sparse fields, plus the bottom MLP output when there are dense fields)', `${sparse.length + (dense.length > 0 ? 1 : 0)}`);
      if (o.bottomMlp.length > 0 && o.bottomMlp[o.bottomMlp.length - 1] !== sparse[0]!.dim)
        throw new RankawareError('model.json options.bottomMlp', `a last size equal to the embedding dim ${sparse[0]!.dim}`, show(o.bottomMlp));
      break;
    }
    case 'rdcn':
    case 'rank-attention':
      if (!spec.fields.some((f) => f.side === 'context' && f.type === 'sparse'))
        throw new RankawareError('model.json fields', `at least one sparse context field (${spec.architecture} has a context stream)`, 'none');
      if (!sparse.some((f) => f.side === 'target'))
        throw new RankawareError('model.json fields', `at least one sparse target field (${spec.architecture} has a target stream)`, 'none');
      break;
    case 'autoint':
      if (dense.length > 0 && spec.options.dnn.length === 0)
        throw new RankawareError('model.json options.dnn', 'a DNN: autoint feeds dense fields only to its DNN', '[]');
      break;
    case 'deepfm':
    case 'dcnv2':
      break;
  }
  if (spec.architecture === 'rank-attention') {
    for (const f of dense) throw new RankawareError(`model.json field "${f.name}"`, 'sparse fields only (rank-attention attends over embeddings)', 'a dense field');
  }
}
