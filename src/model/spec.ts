/**
 * model.json: the declared model. Documented for users in docs/model-format.md; this module parses
 * and validates it into a normalized ModelSpec (defaults filled in), refusing anything it cannot run.
 */
import { RankawareError, show } from '../errors.js';
import { sparseFields } from './fields.js';
import { noExtraKeys, obj, oneOf, positiveInt, SPEC_LIMITS } from './parse.js';
import { archOf, ZOO } from '../zoo/registry.js';
import type { DlrmOptions } from '../zoo/dlrm/index.js';
import type { DeepFmOptions } from '../zoo/deepfm/index.js';
import type { Dcnv2Options } from '../zoo/dcnv2/index.js';
import type { RdcnOptions } from '../zoo/rdcn/index.js';
import type { AutoIntOptions } from '../zoo/autoint/index.js';
import type { RankAttentionOptions } from '../zoo/rank-attention/index.js';

export { denseFields, sparseFields, tableRows } from './fields.js';
export { SPEC_LIMITS } from './parse.js';

export const MODEL_FORMAT = 'rankaware-model';
export const MODEL_VERSION = 1;

export type Side = 'context' | 'target';
export type Pooling = 'none' | 'sum' | 'mean';
/**
 * Each architecture's options: adding an architecture adds its line here, its folder src/zoo/<arch>/ and
 * its entries in src/zoo/registry.ts and src/zoo/onnx.ts (typed by this list, so a missing part does not
 * compile).
 */
export interface ArchitectureOptions {
  dlrm: DlrmOptions;
  deepfm: DeepFmOptions;
  dcnv2: Dcnv2Options;
  rdcn: RdcnOptions;
  autoint: AutoIntOptions;
  'rank-attention': RankAttentionOptions;
}
export type Architecture = keyof ArchitectureOptions;
/** The architectures, in the registry's order. */
export const ARCHITECTURES = Object.keys(ZOO) as readonly Architecture[];

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

export type { DlrmOptions } from '../zoo/dlrm/index.js';
export type { DeepFmOptions } from '../zoo/deepfm/index.js';
export type { Dcnv2Options } from '../zoo/dcnv2/index.js';
export type { RdcnOptions } from '../zoo/rdcn/index.js';
export type { AttentionOptions } from '../zoo/attention.js';
export type { AutoIntOptions } from '../zoo/autoint/index.js';
export type { RankAttentionOptions } from '../zoo/rank-attention/index.js';

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
export type ModelSpec = { [A in Architecture]: SpecBase & { readonly architecture: A; readonly options: ArchitectureOptions[A] } }[Architecture];

export type SpecOf<A extends Architecture> = Extract<ModelSpec, { architecture: A }>;

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
    options: ZOO[architecture].parseOptions(obj(m.options ?? {}, 'model.json options'), 'model.json options'),
    output: oneOf(m.output, ['sigmoid', 'none'] as const, 'model.json output', 'sigmoid'),
    linearLayout: oneOf(m.linearLayout, ['out_in', 'in_out'] as const, 'model.json linearLayout', 'out_in'),
  } as ModelSpec;
  checkArchitectureFields(spec);
  return spec;
}

/** Cross-field rules: equal dims where vectors interact, a target field, then the architecture's own. */
function checkArchitectureFields(spec: ModelSpec): void {
  const sparse = sparseFields(spec);
  const arch = archOf(spec);
  if (arch.equalDims && sparse.length > 0) {
    const d = sparse[0]!.dim;
    for (const f of sparse)
      if (f.dim !== d)
        throw new RankawareError(`model.json field "${f.name}".dim`, `${d} (${spec.architecture} interacts field vectors, so all embedding dims are equal)`, show(f.dim));
  }
  if (sparse.length === 0) throw new RankawareError('model.json fields', 'at least one sparse (embedding) field', 'only dense fields');
  if (!spec.fields.some((f) => f.side === 'target')) throw new RankawareError('model.json fields', 'at least one field with side "target"', 'none');
  arch.checkFields(spec);
}
