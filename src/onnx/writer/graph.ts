/**
 * A tiny ONNX graph builder over onnx-proto: named inputs, float32 / int64 initializers, nodes that return
 * their output name, and the encoded ModelProto (opset 17, IR version 8).
 */
import onnxProto from 'onnx-proto'; // CommonJS: Node's ESM loader exposes only its default export
import type { onnx } from 'onnx-proto';

const { ModelProto, TensorProto, AttributeProto } = onnxProto.onnx;

export const OPSET = 17;
export const IR_VERSION = 8;

export type ElemType = 'float32' | 'int64';
/** A dimension: a fixed size or a symbolic name (dim_param) such as "N". */
export type Dim = number | string;

const ELEM: Record<ElemType, number> = { float32: TensorProto.DataType.FLOAT, int64: TensorProto.DataType.INT64 };

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: ELEM[type], shape: { dim } } } };
}

/** Little-endian bytes of a typed array (raw_data is little-endian whatever the host). */
function littleEndian(data: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((x, i) => view.setFloat32(i * 4, x, true));
  else data.forEach((x, i) => view.setBigInt64(i * 8, x, true));
  return out;
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly int64Consts = new Map<string, string>();
  private counter = 0;

  /**
   * Every value name is defined once. Inputs are named after model fields, so a clash with a weight
   * name would silently turn an initializer into an overridable input; refuse it instead.
   */
  private define(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX graph: the name "${name}" is defined twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.define(name), type, dims));
    return name;
  }

  /** Declare `value` as the graph output `name` (an Identity gives it that name). */
  output(name: string, value: string, type: ElemType, dims: readonly Dim[]): void {
    this.nodes.push({ opType: 'Identity', input: [value], output: [this.define(name)], name: `${name}:Identity` });
    this.outputs.push(valueInfo(name, type, dims));
  }

  floats(name: string, data: Float32Array, dims: readonly number[]): string {
    this.initializers.push({ name: this.define(name), dataType: ELEM.float32, dims: [...dims], rawData: littleEndian(data) });
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, indices), shared between uses. */
  int64s(values: readonly number[]): string {
    const key = values.join(',');
    const known = this.int64Consts.get(key);
    if (known) return known;
    const name = this.define(`const:${this.int64Consts.size}`);
    this.initializers.push({ name, dataType: ELEM.int64, dims: [values.length], rawData: littleEndian(BigInt64Array.from(values, BigInt)) });
    this.int64Consts.set(key, name);
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.floats(`const:f${this.counter++}`, Float32Array.of(value), []);
  }

  /** An int64 scalar constant (a 0-d tensor, e.g. an index for Where). */
  int64Scalar(value: number): string {
    const name = this.define(`const:i${this.counter++}`);
    this.initializers.push({ name, dataType: ELEM.int64, dims: [], rawData: littleEndian(BigInt64Array.of(BigInt(value))) });
    return name;
  }

  /**
   * Append a node with one output and return that output's name. Attributes are ints, floats (a number
   * that is not an integer, e.g. LayerNormalization's epsilon), strings (Einsum's equation) or int lists.
   */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, number | string | readonly number[]>> = {}): string {
    const out = this.define(`${opType}:${this.counter++}`);
    const { INT, FLOAT, STRING, INTS } = AttributeProto.AttributeType;
    const attribute = Object.entries(attrs).map(([name, v]): onnx.IAttributeProto =>
      typeof v === 'string'
        ? { name, type: STRING, s: new TextEncoder().encode(v) }
        : typeof v !== 'number'
          ? { name, type: INTS, ints: [...v] }
          : Number.isInteger(v)
            ? { name, type: INT, i: v }
            : { name, type: FLOAT, f: v },
    );
    this.nodes.push({ opType, input: [...inputs], output: [out], name: out, attribute });
    return out;
  }

  /** A node of `count` outputs (Split): their names, the first being the node's. */
  opOutputs(opType: string, inputs: readonly string[], count: number, attrs: Readonly<Record<string, number | string | readonly number[]>> = {}): string[] {
    const first = this.op(opType, inputs, attrs);
    const node = this.nodes[this.nodes.length - 1]!;
    const rest = Array.from({ length: count - 1 }, (_, i) => this.define(`${first}#${i + 1}`));
    node.output = [first, ...rest];
    return [first, ...rest];
  }

  /** The ModelProto; `opset` above 17 for graphs with newer ops (Gelu is opset 20). */
  encode(graphName: string, docString: string, opset: number = OPSET): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: opset >= 20 ? 9 : IR_VERSION,
      opsetImport: [{ domain: '', version: opset }],
      producerName: 'rankaware',
      docString,
      graph: { name: graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    return ModelProto.encode(model).finish();
  }
}
