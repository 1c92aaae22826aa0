/**
 * The Open Inference Protocol (KServe v2, also Triton's HTTP API) over a served model, so a client written
 * for KServe or Triton talks to `rankaware serve` unchanged:
 *
 *   POST /v2/models/NAME/infer   {"inputs": [{"name", "shape", "datatype", "data"}, ...]} -> {"outputs": [scores]}
 *   GET  /v2/models/NAME         the model's metadata (its input tensors, its output)
 *   GET  /v2/models/NAME/ready, /v2/health/ready, /v2/health/live, /v2   readiness, liveness, server metadata
 *
 * One input tensor per request field, named after it: a context field's tensor has a leading dimension of
 * 1, a candidate field's the number of candidates N; a field of one value per row is `[1]` / `[N]`, a list
 * field (pooled ids, a dense vector, a history) `[1, L]` / `[N, L]`. The tensors are turned into the request
 * JSON of docs/model-format.md and scored by the same path as /v1/score, so the model's own checks answer
 * a bad field. Only these tensors are decoded: the protocol's binary extension and BYTES tensors are not.
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import { ImportedModel } from '../onnx/model.js';
import type { ModelSpec } from '../model/spec.js';

export type TensorDatatype = 'INT64' | 'FP32' | 'BOOL';

/** A request field as a protocol tensor. */
export interface OpenInferenceField {
  readonly name: string;
  readonly side: 'context' | 'candidate';
  readonly datatype: TensorDatatype;
  /** One value per row (`[1]`, `[N]`), or a list per row (`[1, L]`, `[N, L]`; L fixed when the field says it, else -1). */
  readonly list: false | number;
}

/** What the v2 routes say about the served model. */
export interface OpenInferenceModel {
  readonly name: string;
  readonly version: string;
  readonly fields: readonly OpenInferenceField[];
  /** rankaware's version, for the server metadata (GET /v2). */
  readonly serverVersion: string;
}

/** The name of the one output tensor: the scores, one per candidate. */
export const SCORES_OUTPUT = 'scores';

function specFields(spec: ModelSpec): OpenInferenceField[] {
  const fields: OpenInferenceField[] = [];
  for (const f of spec.fields) {
    const side = f.side === 'context' ? 'context' : 'candidate';
    if (f.type === 'dense') fields.push({ name: f.name, side, datatype: 'FP32', list: f.dim });
    else if (f.type === 'sparse') fields.push({ name: f.name, side, datatype: 'INT64', list: f.pooling === 'none' ? false : -1 });
    else {
      fields.push({ name: f.name, side: 'context', datatype: 'INT64', list: -1 });
      for (const feature of f.features) fields.push({ name: `${f.name}.${feature.name}`, side: 'context', datatype: 'INT64', list: -1 });
    }
  }
  return fields;
}

/** The request fields of a served model as protocol tensors: a native model's fields, or an imported graph's inputs. */
export function openInferenceFields(model: Model | ImportedModel): OpenInferenceField[] {
  if (!(model instanceof ImportedModel)) return specFields(model.spec);
  if (model.native) return specFields(model.native.spec);
  return model.inputs.map((input) => ({
    name: input.name,
    side: input.side,
    datatype: input.dtype === 'float' ? 'FP32' : input.dtype === 'int' ? 'INT64' : 'BOOL',
    list: input.inner.length === 0 ? false : input.inner.some((d) => d < 0) ? -1 : input.inner.reduce((a, b) => a * b, 1),
  }));
}

/** GET /v2/models/NAME: the protocol's model metadata. */
export function modelMetadata(model: OpenInferenceModel) {
  const shape = (f: OpenInferenceField) => [f.side === 'context' ? 1 : -1, ...(f.list === false ? [] : [f.list])];
  return {
    name: model.name,
    versions: [model.version],
    platform: 'rankaware',
    inputs: model.fields.map((f) => ({ name: f.name, datatype: f.datatype, shape: shape(f) })),
    outputs: [{ name: SCORES_OUTPUT, datatype: 'FP32', shape: [-1] }],
  };
}

const DATATYPES: Readonly<Record<string, 'int' | 'float' | 'bool'>> = {
  INT8: 'int', INT16: 'int', INT32: 'int', INT64: 'int', UINT8: 'int', UINT16: 'int', UINT32: 'int', UINT64: 'int',
  FP16: 'float', FP32: 'float', FP64: 'float', BOOL: 'bool',
};

/** The decoded infer request: the request JSON of /v1/score, and what the response echoes. */
export interface InferRequest {
  readonly request: { readonly context: Record<string, unknown>; readonly candidates: Record<string, unknown>[] };
  readonly id?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tensor's `data`, flat in row-major order (the protocol allows nesting it by the shape). */
function flatData(data: unknown, where: string, count: number): unknown[] {
  if (!Array.isArray(data)) throw new RankawareError(`${where}.data`, 'an array of the tensor\'s values, row-major', show(data));
  const flat = data.some(Array.isArray) ? (data.flat(31) as unknown[]) : data;
  if (flat.length !== count) throw new RankawareError(`${where}.data`, `${count} values (the product of its shape)`, `${flat.length} values`);
  return flat;
}

/**
 * POST /v2/models/NAME/infer's body as request JSON. Names, shapes and datatypes are checked here (each
 * error names the tensor); the values are checked by the model's rules when it is scored.
 */
export function decodeInferRequest(body: unknown, model: OpenInferenceModel): InferRequest {
  if (!isRecord(body)) throw new RankawareError('request', 'an object {"inputs": [{"name", "shape", "datatype", "data"}, ...]}', show(body));
  for (const key of Object.keys(body))
    if (key !== 'id' && key !== 'inputs' && key !== 'outputs' && key !== 'parameters') throw new RankawareError(`request.${key}`, 'only the keys "id", "inputs", "outputs" and "parameters"', 'an unknown key', 'unknown');
  if (body.id !== undefined && typeof body.id !== 'string') throw new RankawareError('request.id', 'a string', show(body.id));
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new RankawareError('request.outputs', `a list of the outputs wanted ([{"name": "${SCORES_OUTPUT}"}])`, show(body.outputs));
    body.outputs.forEach((o, i) => {
      if (!isRecord(o) || o.name !== SCORES_OUTPUT) throw new RankawareError(`request.outputs[${i}].name`, `"${SCORES_OUTPUT}" (the model's one output)`, show(isRecord(o) ? o.name : o));
    });
  }
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw new RankawareError('request.inputs', 'a non-empty list of input tensors', show(inputs));
  const byName = new Map(model.fields.map((f) => [f.name, f]));
  const seen = new Set<string>();
  const context: Record<string, unknown> = {};
  const columns: { field: OpenInferenceField; values: unknown[]; width: number }[] = [];
  let n: number | undefined;
  let nFrom = '';
  inputs.forEach((tensor, i) => {
    const where = `request.inputs[${i}]`;
    if (!isRecord(tensor)) throw new RankawareError(where, 'a tensor {"name", "shape", "datatype", "data"}', show(tensor));
    const name = tensor.name;
    if (typeof name !== 'string') throw new RankawareError(`${where}.name`, 'a field name', show(name));
    const field = byName.get(name);
    if (!field) throw new RankawareError(`${where}.name`, `one of the model's fields (${[...byName.keys()].join(', ')})`, show(name), 'unknown');
    const at = `request.inputs["${name}"]`;
    if (seen.has(name)) throw new RankawareError(at, 'one tensor per field', 'a second tensor of this name');
    seen.add(name);
    const kind = typeof tensor.datatype === 'string' ? DATATYPES[tensor.datatype] : undefined;
    const wanted = field.datatype === 'FP32' ? 'float' : field.datatype === 'INT64' ? 'int' : 'bool';
    if (kind !== wanted && !(wanted === 'float' && kind === 'int'))
      throw new RankawareError(`${at}.datatype`, field.datatype === 'FP32' ? 'FP32 (or FP16, FP64)' : field.datatype === 'INT64' ? 'an integer type (INT64, INT32, ...)' : 'BOOL', show(tensor.datatype));
    const shape = tensor.shape;
    const rank = field.list === false ? 1 : 2;
    const expectedShape = `[${field.side === 'context' ? '1' : 'N'}${field.list === false ? '' : field.list > 0 ? `, ${field.list}` : ', L'}]`;
    if (!Array.isArray(shape) || shape.length !== rank || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0))
      throw new RankawareError(`${at}.shape`, `${expectedShape} (a ${field.side} field${field.list === false ? '' : ' of lists'})`, show(shape));
    const rows = shape[0] as number;
    const width = rank === 2 ? (shape[1] as number) : 1;
    if (field.side === 'context' && rows !== 1) throw new RankawareError(`${at}.shape`, `${expectedShape}: the context is one row`, show(shape));
    if (field.side === 'candidate') {
      if (n !== undefined && rows !== n) throw new RankawareError(`${at}.shape`, `${n} rows, as ${nFrom} has (one per candidate)`, show(shape));
      n = rows;
      nFrom = `"${name}"`;
    }
    const values = flatData(tensor.data, at, rows * width);
    if (field.side === 'context') context[name] = rank === 1 ? values[0] : values;
    else columns.push({ field, values, width: rank === 2 ? width : 0 });
  });
  const candidates = Array.from({ length: n ?? 0 }, (_, r) => {
    const row: Record<string, unknown> = {};
    for (const c of columns) row[c.field.name] = c.width === 0 ? c.values[r] : c.values.slice(r * c.width, (r + 1) * c.width);
    return row;
  });
  return { request: { context, candidates }, ...(body.id !== undefined ? { id: body.id } : {}) };
}

/** The infer response: the scores as the one FP32 output. */
export function inferResponse(model: OpenInferenceModel, id: string | undefined, scores: readonly number[], parameters: Readonly<Record<string, string | number>>) {
  return {
    model_name: model.name,
    model_version: model.version,
    ...(id !== undefined ? { id } : {}),
    parameters,
    outputs: [{ name: SCORES_OUTPUT, datatype: 'FP32', shape: [scores.length], data: scores }],
  };
}

/** The v2 route a path names, or undefined when it is not one. */
export type OpenInferenceRoute = 'v2_server' | 'v2_live' | 'v2_ready' | 'v2_model' | 'v2_model_ready' | 'v2_infer';

export function openInferenceRoute(path: string, modelName: string): { route: OpenInferenceRoute; method: 'GET' | 'POST' } | { route: 'v2_unknown_model'; name: string } | undefined {
  if (path === '/v2') return { route: 'v2_server', method: 'GET' };
  if (path === '/v2/health/live') return { route: 'v2_live', method: 'GET' };
  if (path === '/v2/health/ready') return { route: 'v2_ready', method: 'GET' };
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(\/ready|\/infer)?$/.exec(path);
  if (!m) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(m[1]!);
  } catch {
    return { route: 'v2_unknown_model', name: m[1]! };
  }
  if (name !== modelName) return { route: 'v2_unknown_model', name };
  if (m[2] === '/infer') return { route: 'v2_infer', method: 'POST' };
  if (m[2] === '/ready') return { route: 'v2_model_ready', method: 'GET' };
  return { route: 'v2_model', method: 'GET' };
}
