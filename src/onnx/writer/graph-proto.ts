/**
 * Writing a graph as read (src/onnx/reader/onnx-graph.ts: nodes with decoded attributes, Values for
 * constants) back to ONNX ModelProto bytes: how the rank-aware export writes the stages it cuts out of an
 * imported or compiled graph. The reader keeps attribute values, not their ONNX types; a number is written
 * as a FLOAT when its name is one of ONNX's float attributes or it is not an integer, else as an INT.
 */
import onnxProto from 'onnx-proto'; // CommonJS: Node's ESM loader exposes only its default export
import type { onnx } from 'onnx-proto';
import type { Attribute, GraphNode } from '../reader/onnx-graph.js';
import type { DType, Value } from '../interpreter/tensor.js';
import { IR_VERSION } from './graph.js';

const { ModelProto, TensorProto, AttributeProto } = onnxProto.onnx;

/** Attributes ONNX types as float (or a list of floats) in the default domain's operators. */
const FLOAT_ATTRIBUTES = new Set([
  'alpha', 'beta', 'gamma', 'epsilon', 'momentum', 'ratio', 'bias', 'lambd', 'spatial_scale', 'value_float', 'value_floats',
  'min', 'max', 'mean', 'scale', 'scales', 'seed', 'high', 'low', 'extrapolation_value', 'cubic_coeff_a',
]);

const ELEM: Record<DType, number> = { float: TensorProto.DataType.FLOAT, int: TensorProto.DataType.INT64, bool: TensorProto.DataType.BOOL };

export interface TypedName {
  readonly name: string;
  readonly dtype: DType;
  /** Dims when known (a size or a symbolic name); absent: the rank and dims are left open. */
  readonly dims?: readonly (number | string)[];
}

export interface GraphParts {
  readonly name: string;
  readonly opset: number;
  readonly docString?: string;
  readonly inputs: readonly TypedName[];
  readonly outputs: readonly TypedName[];
  readonly initializers: ReadonlyMap<string, Value>;
  readonly nodes: readonly GraphNode[];
}

function valueInfo(t: TypedName): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: ELEM[t.dtype] };
  if (t.dims) tensorType.shape = { dim: t.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name: t.name, type: { tensorType } };
}

/** A Value as a TensorProto: float32, int64 or bool, little-endian raw data. */
export function tensorProto(name: string, v: Value): onnx.ITensorProto {
  const n = v.data.length;
  const width = v.dtype === 'float' ? 4 : v.dtype === 'int' ? 8 : 1;
  const raw = new Uint8Array(n * width);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const x = v.data[i]!;
    if (v.dtype === 'float') view.setFloat32(i * 4, x, true);
    else if (v.dtype === 'int') view.setBigInt64(i * 8, BigInt(x), true);
    else view.setUint8(i, x ? 1 : 0);
  }
  return { name, dataType: ELEM[v.dtype], dims: [...v.shape], rawData: raw };
}

const isValue = (a: Attribute): a is Value => typeof a === 'object' && a !== null && !Array.isArray(a) && 'dtype' in a;

function attributeProto(name: string, a: Attribute): onnx.IAttributeProto {
  const { INT, FLOAT, STRING, TENSOR, FLOATS, INTS, STRINGS } = AttributeProto.AttributeType;
  if (typeof a === 'string') return { name, type: STRING, s: new TextEncoder().encode(a) };
  if (typeof a === 'number') return FLOAT_ATTRIBUTES.has(name) || !Number.isInteger(a) ? { name, type: FLOAT, f: a } : { name, type: INT, i: a };
  if (isValue(a)) return { name, type: TENSOR, t: tensorProto('', a) };
  const list = a as readonly (number | string)[];
  if (list.length > 0 && typeof list[0] === 'string') return { name, type: STRINGS, strings: (list as string[]).map((s) => new TextEncoder().encode(s)) };
  const nums = list as readonly number[];
  return FLOAT_ATTRIBUTES.has(name) || nums.some((x) => !Number.isInteger(x)) ? { name, type: FLOATS, floats: [...nums] } : { name, type: INTS, ints: [...nums] };
}

export function encodeGraph(g: GraphParts): Uint8Array {
  const domains = new Set(g.nodes.map((n) => n.domain).filter((d) => d !== '' && d !== 'ai.onnx'));
  const model: onnx.IModelProto = {
    irVersion: g.opset >= 20 ? 9 : IR_VERSION,
    opsetImport: [{ domain: '', version: g.opset }, ...[...domains].map((domain) => ({ domain, version: 1 }))],
    producerName: 'rankaware',
    docString: g.docString ?? '',
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({ name: n.name, opType: n.op, domain: n.domain, input: [...n.inputs], output: [...n.outputs], attribute: [...n.attrs].map(([k, v]) => attributeProto(k, v)) })),
      initializer: [...g.initializers].map(([name, v]) => tensorProto(name, v)),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
  return ModelProto.encode(model).finish();
}
