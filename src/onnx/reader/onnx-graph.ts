/**
 * Reading an ONNX file into a small typed graph: inputs with their declared dims, initializers and
 * Constant nodes as Values, and nodes with decoded attributes. Decoding reuses onnx-proto's generated
 * ModelProto (the same schema src/onnx/writer/graph.ts writes with).
 */
import onnxProto from 'onnx-proto'; // CommonJS: Node's ESM loader exposes only its default export
import type { onnx } from 'onnx-proto';
import { RankawareError, show } from '../../errors.js';
import type { DType, Value } from '../interpreter/tensor.js';
import { size } from '../interpreter/tensor.js';

const { ModelProto } = onnxProto.onnx;

/** A dimension as declared: a size, or a symbolic name (dim_param) such as "N" or "batch_size". */
export type Dim = number | string;

export interface GraphInput {
  readonly name: string;
  readonly dtype: DType;
  /** float32 inputs round request values to float32, as an ONNX runtime's input tensor would. */
  readonly float32: boolean;
  readonly dims: readonly Dim[];
}

export type Attribute = number | string | readonly number[] | readonly string[] | Value;

export interface GraphNode {
  /** The node's name, or `<op>#<index>` when the exporter left it empty (error messages quote it). */
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  /** Input value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, Attribute>;
}

export interface OnnxGraph {
  readonly name: string;
  readonly opset: number;
  readonly producer: string;
  /** Inputs that are not initializers, in declared order. */
  readonly inputs: readonly GraphInput[];
  readonly outputs: readonly string[];
  /** Initializers and Constant node outputs. */
  readonly constants: ReadonlyMap<string, Value>;
  /** Every node but Constant, in file (topological) order. */
  readonly nodes: readonly GraphNode[];
}

// onnx.TensorProto.DataType
const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9, DOUBLE = 11, UINT32 = 12, UINT64 = 13;

function dtypeOf(elemType: number, where: string): DType {
  if (elemType === FLOAT || elemType === DOUBLE) return 'float';
  if (elemType === INT64 || elemType === INT32 || elemType === INT8 || elemType === UINT8 || elemType === UINT32 || elemType === UINT64) return 'int';
  if (elemType === BOOL) return 'bool';
  throw new RankawareError(where, 'a float32, float64, integer or bool tensor', `ONNX element type ${elemType}`, 'format');
}

/** protobufjs decodes int64 fields as numbers, or as Long objects when the long package is present. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

function tensorValue(t: onnx.ITensorProto, where: string): Value {
  if (t.dataLocation === 1) throw new RankawareError(where, 'weights stored inside the .onnx file', 'external data (save the model without external data)', 'format');
  const shape = (t.dims ?? []).map(num);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new RankawareError(`${where} dims`, 'non-negative integers', `[${shape.join(', ')}]`, 'format');
  const count = size(shape);
  const type = t.dataType ?? 0;
  const dtype = dtypeOf(type, where);
  const raw = t.rawData;
  // The values' count is checked against what the file holds before anything is allocated for it.
  let data: Float64Array;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = { [FLOAT]: 4, [DOUBLE]: 8, [INT64]: 8, [UINT64]: 8, [INT32]: 4, [UINT32]: 4, [INT8]: 1, [UINT8]: 1, [BOOL]: 1 }[type]!;
    if (raw.length !== count * width) throw new RankawareError(where, `${count * width} bytes of raw data for shape [${shape.join(', ')}]`, `${raw.length}`, 'format');
    data = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const at = i * width;
      data[i] =
        type === FLOAT ? view.getFloat32(at, true)
        : type === DOUBLE ? view.getFloat64(at, true)
        : type === INT64 ? Number(view.getBigInt64(at, true))
        : type === UINT64 ? Number(view.getBigUint64(at, true))
        : type === INT32 ? view.getInt32(at, true)
        : type === UINT32 ? view.getUint32(at, true)
        : type === INT8 ? view.getInt8(at)
        : view.getUint8(at);
    }
  } else {
    const list: ArrayLike<unknown> =
      type === FLOAT ? (t.floatData ?? []) : type === DOUBLE ? (t.doubleData ?? []) : type === INT64 ? (t.int64Data ?? []) : type === UINT64 || type === UINT32 ? (t.uint64Data ?? []) : (t.int32Data ?? []);
    if (list.length !== count) throw new RankawareError(where, `${count} values for shape [${shape.join(', ')}]`, `${list.length}`, 'format');
    data = new Float64Array(count);
    for (let i = 0; i < count; i++) data[i] = num(list[i]);
  }
  if (dtype === 'float') for (const x of data) if (!Number.isFinite(x)) throw new RankawareError(where, 'finite values', show(x), 'weights');
  return { dtype, shape, data };
}

function attribute(a: onnx.IAttributeProto, where: string): Attribute {
  switch (a.type) {
    case 1: return a.f ?? 0; // FLOAT
    case 2: return num(a.i ?? 0); // INT
    case 3: return new TextDecoder().decode(a.s ?? new Uint8Array()); // STRING
    case 4: return tensorValue(a.t!, where); // TENSOR
    case 6: return [...(a.floats ?? [])]; // FLOATS
    case 7: return (a.ints ?? []).map(num); // INTS
    case 8: return (a.strings ?? []).map((s) => new TextDecoder().decode(s)); // STRINGS
    default: throw new RankawareError(where, 'attributes of type float, int, string, tensor or lists of them', `attribute "${a.name}" of type ${a.type}`, 'format');
  }
}

/** The value a Constant node holds (`value`, `value_float(s)`, `value_int(s)`). */
function constantValue(attrs: ReadonlyMap<string, Attribute>, where: string): Value {
  const [[key, v] = []] = [...attrs];
  if (key === 'value') return v as Value;
  if (key === 'value_float') return { dtype: 'float', shape: [], data: Float64Array.of(v as number) };
  if (key === 'value_int') return { dtype: 'int', shape: [], data: Float64Array.of(v as number) };
  if (key === 'value_floats' || key === 'value_ints') {
    const list = v as number[];
    return { dtype: key === 'value_floats' ? 'float' : 'int', shape: [list.length], data: Float64Array.from(list) };
  }
  throw new RankawareError(where, 'a Constant with a tensor, float(s) or int(s) value', key === undefined ? 'no value' : `attribute "${key}"`, 'format');
}

/** Decode ONNX ModelProto bytes. `file` names the source in error messages. */
export function readOnnx(bytes: Uint8Array, file = 'model.onnx'): OnnxGraph {
  let model: onnx.ModelProto;
  try {
    model = ModelProto.decode(bytes);
  } catch (e) {
    throw new RankawareError(file, 'an ONNX model (protobuf ModelProto)', `bytes that do not decode (${(e as Error).message})`, 'format');
  }
  const g = model.graph;
  if (!g || (g.node ?? []).length === 0) throw new RankawareError(file, 'an ONNX model with a graph of nodes', 'no graph', 'format');
  const opset = num(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  const constants = new Map<string, Value>();
  for (const t of g.initializer ?? []) {
    const where = `${file} initializer "${t.name ?? ''}"`;
    if (!t.name) throw new RankawareError(where, 'a named initializer', 'no name', 'format');
    if (constants.has(t.name)) throw new RankawareError(where, 'a unique initializer name', 'a second initializer of that name', 'format');
    constants.set(t.name, tensorValue(t, where));
  }
  const inputs: GraphInput[] = [];
  for (const i of g.input ?? []) {
    if (constants.has(i.name!)) continue; // IR < 4 lists initializers as inputs too
    const where = `${file} input "${i.name ?? ''}"`;
    if (!i.name) throw new RankawareError(where, 'a named input', 'no name', 'format');
    if (inputs.some((x) => x.name === i.name)) throw new RankawareError(where, 'a unique input name', 'a second input of that name', 'format');
    const tt = i.type?.tensorType;
    if (!tt) throw new RankawareError(where, 'a tensor input', 'a non-tensor type', 'format');
    const dims = (tt.shape?.dim ?? []).map((d): Dim => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : '?'));
    inputs.push({ name: i.name!, dtype: dtypeOf(tt.elemType ?? 0, where), float32: tt.elemType === FLOAT, dims });
  }
  const nodes: GraphNode[] = [];
  // Every value is defined once, before its first use (ONNX graphs are topologically sorted): a corrupt
  // file is refused here, naming the node, rather than wherever a later pass trips on it.
  const defined = new Set<string>([...constants.keys(), ...inputs.map((i) => i.name)]);
  (g.node ?? []).forEach((n, index) => {
    const name = n.name || `${n.opType}#${index}`;
    const where = `${file} node "${name}" (${n.opType})`;
    const attrs = new Map<string, Attribute>();
    for (const a of n.attribute ?? []) attrs.set(a.name!, attribute(a, where));
    for (const input of n.input ?? [])
      if (input !== '' && !defined.has(input)) throw new RankawareError(`${where} input "${input}"`, 'a value defined before the node (a graph input, an initializer or an earlier output)', 'an undefined name', 'format');
    const outputs = [...(n.output ?? [])];
    if (outputs.length === 0) throw new RankawareError(where, 'a node with an output', 'none', 'format');
    for (const output of outputs) {
      if (output === '') continue; // an omitted optional output
      if (defined.has(output)) throw new RankawareError(`${where} output "${output}"`, 'a name defined once in the graph', 'a name already defined', 'format');
      defined.add(output);
    }
    if (n.opType === 'Constant' && !n.domain) {
      constants.set(outputs[0]!, constantValue(attrs, where));
      return;
    }
    nodes.push({ name, op: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs, attrs });
  });
  for (const o of g.output ?? [])
    if (!o.name || !defined.has(o.name)) throw new RankawareError(`${file} output "${o.name ?? ''}"`, 'a value the graph computes', 'an undefined name', 'format');
  return {
    name: g.name ?? '',
    opset,
    producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(),
    inputs,
    outputs: (g.output ?? []).map((o) => o.name!),
    constants,
    nodes,
  };
}
