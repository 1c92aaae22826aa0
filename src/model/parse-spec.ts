/**
 * Parsing and validating model.json into a ModelSpec: the common keys and fields here, each
 * architecture's options and field rules from its folder in the zoo (src/zoo/<arch>/index.ts).
 */
import { RankawareError, show } from '../errors.js';
import { sequenceFields, sparseFields } from './fields.js';
import { noExtraKeys, obj, oneOf, positiveInt, SPEC_LIMITS } from './parse.js';
import { MODEL_FORMAT, MODEL_VERSION } from './spec.js';
import type { Architecture, Field, ModelSpec, SequenceField } from './spec.js';
import type { Json } from './parse.js';
import { archOf, ZOO } from '../zoo/registry.js';

/** The architectures, in the registry's order. */
export const ARCHITECTURES = Object.keys(ZOO) as readonly Architecture[];

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function parseField(v: unknown, i: number): Field {
  const where = `model.json fields[${i}]`;
  const f = obj(v, where);
  if (typeof f.name !== 'string' || !NAME_PATTERN.test(f.name))
    throw new RankawareError(`${where}.name`, 'a name of letters, digits, _ . - (not starting with a digit)', show(f.name));
  const at = `model.json field "${f.name}"`;
  const type = oneOf(f.type, ['sparse', 'dense', 'sequence'] as const, `${at}.type`, 'sparse');
  if (type === 'sequence') return parseSequence(f, at);
  const side = oneOf(f.side, ['context', 'target'] as const, `${at}.side`);
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

/** The longest history a sequence field may declare (far above any ranking model's). */
export const MAX_SEQUENCE_LENGTH = 4096;

function parseSequence(f: Json, at: string): SequenceField {
  noExtraKeys(f, ['name', 'type', 'side', 'table', 'maxLength', 'overflow', 'features'], at);
  oneOf(f.side, ['context'] as const, `${at}.side`, 'context');
  if (typeof f.table !== 'string') throw new RankawareError(`${at}.table`, 'the name of the sparse target field whose embedding table the items index', show(f.table), 'missing');
  const features = f.features ?? [];
  if (!Array.isArray(features)) throw new RankawareError(`${at}.features`, 'an array of { name, vocab }', show(features));
  const parsed = features.map((x, i) => {
    const feat = obj(x, `${at}.features[${i}]`);
    noExtraKeys(feat, ['name', 'vocab'], `${at}.features[${i}]`);
    if (typeof feat.name !== 'string' || !NAME_PATTERN.test(feat.name))
      throw new RankawareError(`${at}.features[${i}].name`, 'a name of letters, digits, _ . - (not starting with a digit)', show(feat.name));
    return { name: feat.name, vocab: positiveInt(feat.vocab, `${at}.features[${i}].vocab`) };
  });
  const names = new Set<string>();
  for (const x of parsed) {
    if (names.has(x.name)) throw new RankawareError(`${at}.features "${x.name}"`, 'a unique name', 'a duplicate');
    names.add(x.name);
  }
  return {
    name: f.name as string,
    type: 'sequence',
    side: 'context',
    table: f.table,
    maxLength: positiveInt(f.maxLength, `${at}.maxLength`, 1, MAX_SEQUENCE_LENGTH),
    overflow: oneOf(f.overflow, ['truncate', 'error'] as const, `${at}.overflow`, 'truncate'),
    features: parsed,
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
  for (const f of sequenceFields(spec)) {
    if (!arch.readsSequences)
      throw new RankawareError(`model.json field "${f.name}".type`, `"sparse" or "dense" (${spec.architecture} reads no sequence; din and bst do)`, '"sequence"');
    const table = sparse.find((s) => s.name === f.table);
    if (!table || table.side !== 'target' || table.pooling !== 'none')
      throw new RankawareError(`model.json field "${f.name}".table`, 'the name of a sparse target field with pooling "none" (the candidates\' item id, whose table the history shares)', JSON.stringify(f.table));
    if (table.oov === 'bucket') throw new RankawareError(`model.json field "${f.name}".table`, `a table without an OOV bucket (field "${table.name}" has oov "bucket")`, JSON.stringify(f.table));
  }
  if (!spec.fields.some((f) => f.side === 'target')) throw new RankawareError('model.json fields', 'at least one field with side "target"', 'none');
  arch.checkFields(spec);
}
