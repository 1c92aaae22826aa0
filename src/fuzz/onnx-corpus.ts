/**
 * Corrupt ONNX files, made from the graphs the tests import (our export of the base models of
 * model-corpus.ts, and the PyTorch golden exports where the checkout has them): truncation, bit flips,
 * flipped varints and length prefixes in the protobuf, and edits of the decoded graph (nodes removed,
 * duplicated or reordered, initializers duplicated, removed, resized or given NaN, dims and attributes
 * changed, ops and inputs renamed, outputs removed). Each from the seed and its index alone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto'; // CommonJS: Node's ESM loader exposes only its default export
import type { onnx } from 'onnx-proto';
import { SUPPORTED_OPS } from '../onnx/interpreter/ops.js';
import { exportOnnx } from '../onnx/writer/export.js';
import { baseModels } from './model-corpus.js';
import { Rng } from './rng.js';

const { ModelProto } = onnxProto.onnx;

export interface OnnxBase {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The --context of importOnnx: names, or a prefix. */
  readonly context: readonly string[] | string;
}

export interface CorruptOnnx {
  readonly id: number;
  readonly base: string;
  readonly mutation: string;
  readonly detail: string;
  readonly bytes: Uint8Array;
  readonly context: readonly string[] | string;
}

/** Our export of the base models, and the golden PyTorch exports under `goldenDir` if it exists. */
export function onnxBases(goldenDir?: string): OnnxBase[] {
  const out: OnnxBase[] = baseModels().map(({ name, model }) => ({
    name: `export:${name}`,
    bytes: exportOnnx(model),
    context: model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name),
  }));
  if (goldenDir && existsSync(goldenDir))
    for (const d of readdirSync(goldenDir).sort()) {
      const file = join(goldenDir, d, 'model.onnx');
      if (existsSync(file)) out.push({ name: `golden:${d}`, bytes: new Uint8Array(readFileSync(file)), context: 'ctx_' });
    }
  return out;
}

/** A varint's start and end in protobuf bytes, and whether it is a length prefix. */
interface Varint {
  readonly at: number;
  readonly end: number;
  readonly length: boolean;
}

function readVarint(bytes: Uint8Array, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    value += (bytes[i]! & 0x7f) * scale;
    scale *= 128;
    if ((bytes[i]! & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/**
 * The varints of a protobuf message in [start, end) (field values of wire type 0 and the lengths of wire
 * type 2; tags excluded), recursing into length-delimited fields that parse as messages themselves.
 * Undefined when the bytes are not a message.
 */
function varints(bytes: Uint8Array, start: number, end: number, depth = 0): Varint[] | undefined {
  const out: Varint[] = [];
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    if (!tag || tag.value < 8) return undefined;
    at = tag.next;
    const wire = tag.value % 8;
    if (wire === 0) {
      const v = readVarint(bytes, at, end);
      if (!v) return undefined;
      out.push({ at, end: v.next, length: false });
      at = v.next;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const n = readVarint(bytes, at, end);
      if (!n || n.next + n.value > end) return undefined;
      out.push({ at, end: n.next, length: true });
      if (depth < 8 && n.value > 0) out.push(...(varints(bytes, n.next, n.next + n.value, depth + 1) ?? []));
      at = n.next + n.value;
    } else return undefined;
  }
  return at === end ? out : undefined;
}

type Bytes = (rng: Rng, bytes: Uint8Array) => { bytes: Uint8Array; detail: string };
type Edit = (rng: Rng, m: onnx.ModelProto) => string;

const BYTE_MUTATIONS: Record<string, Bytes> = {
  'truncated': (rng, bytes) => {
    const at = rng.int(bytes.length);
    return { bytes: bytes.subarray(0, at), detail: `at ${at} of ${bytes.length}` };
  },
  'bits flipped': (rng, bytes) => {
    const out = Uint8Array.from(bytes);
    const n = 1 + rng.int(8);
    for (let i = 0; i < n; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return { bytes: out, detail: `${n} bits` };
  },
  'a varint or length prefix flipped': (rng, bytes) => {
    const out = Uint8Array.from(bytes);
    const all = varints(out, 0, out.length) ?? [];
    const lengths = rng.chance(0.4);
    const pool = all.filter((v) => v.length === lengths);
    const v = rng.pick(pool.length ? pool : all);
    // A bit of the value (the continuation bits kept, so the framing around it holds unless it is a length).
    const at = v.at + rng.int(v.end - v.at);
    out[at]! ^= 1 << rng.int(7);
    return { bytes: out, detail: `${v.length ? 'length' : 'value'} at ${at}` };
  },
};

const dims = (t: onnx.ITensorProto) => (t.dims ?? []).map(Number);
const floatInitializers = (m: onnx.ModelProto) => (m.graph!.initializer ?? []).filter((t) => t.dataType === 1 && dims(t).reduce((a, b) => a * b, 1) > 0);

const EDITS: Record<string, Edit> = {
  'a node removed': (rng, m) => {
    const nodes = m.graph!.node!;
    const [n] = nodes.splice(rng.int(nodes.length), 1);
    return n!.opType ?? '';
  },
  'a node duplicated': (rng, m) => {
    const nodes = m.graph!.node!;
    const i = rng.int(nodes.length);
    nodes.splice(i + 1, 0, nodes[i]!);
    return nodes[i]!.opType ?? '';
  },
  'nodes reordered': (rng, m) => {
    const nodes = m.graph!.node!;
    const i = rng.int(nodes.length);
    const j = rng.int(nodes.length);
    [nodes[i], nodes[j]] = [nodes[j]!, nodes[i]!];
    return `${i} <-> ${j}`;
  },
  'an initializer duplicated': (rng, m) => {
    const inits = m.graph!.initializer!;
    const t = rng.pick(inits);
    inits.push(t);
    return t.name ?? '';
  },
  'an initializer removed': (rng, m) => {
    const inits = m.graph!.initializer!;
    const [t] = inits.splice(rng.int(inits.length), 1);
    return t!.name ?? '';
  },
  'initializer dims wrong': (rng, m) => {
    const t = rng.pick(m.graph!.initializer!);
    const d = dims(t);
    const how = rng.int(6);
    const next = how === 0 ? [...d].reverse() : how === 1 ? [...d, 1] : how === 2 ? d.slice(1) : how === 3 ? d.map((x, i) => (i === 0 ? x + 1 : x)) : how === 4 ? d.map(() => 1e9) : d.map((x, i) => (i === 0 ? -1 : x));
    t.dims = next;
    return `${t.name}: [${d.join(', ')}] -> [${next.join(', ')}]`;
  },
  'an initializer given NaN or Inf': (rng, m) => {
    const t = rng.pick(floatInitializers(m));
    const value = rng.pick([NaN, Infinity, -Infinity]);
    if (t.rawData && t.rawData.length >= 4) {
      const raw = Uint8Array.from(t.rawData);
      new DataView(raw.buffer).setFloat32(4 * rng.int(raw.length / 4), value, true);
      t.rawData = raw;
    } else if (t.floatData && t.floatData.length > 0) t.floatData[rng.int(t.floatData.length)] = value;
    return `${t.name}: ${value}`;
  },
  'initializer bytes cut': (rng, m) => {
    const t = rng.pick(floatInitializers(m));
    if (t.rawData) t.rawData = t.rawData.subarray(0, rng.int(t.rawData.length));
    return t.name ?? '';
  },
  'an embedding table grown large': (rng, m) => {
    // A valid but large table (16 MiB of float32): an allocation the loader must survive, not a corruption.
    // (Only tables: a bias grown this large is a valid graph that computes millions of values per candidate.)
    const tables = floatInitializers(m).filter((t) => /embedding/i.test(t.name ?? '') && dims(t).length === 2);
    const t = rng.pick(tables.length ? tables : floatInitializers(m));
    const d = dims(t);
    const inner = d.slice(1).reduce((a, b) => a * b, 1);
    const rows = Math.max(1, Math.floor((4 * 1024 * 1024) / inner));
    t.dims = [rows, ...d.slice(1)];
    t.rawData = new Uint8Array(rows * inner * 4);
    t.floatData = [];
    return `${t.name}: [${t.dims.join(', ')}]`;
  },
  'an op changed': (rng, m) => {
    const n = rng.pick(m.graph!.node!);
    const before = n.opType;
    n.opType = rng.pick([...SUPPORTED_OPS, 'TopK', '', 'Loop', 'matmul']);
    return `${before} -> ${n.opType}`;
  },
  'an input renamed': (rng, m) => {
    const n = rng.pick(m.graph!.node!.filter((x) => (x.input ?? []).length > 0));
    const i = rng.int(n.input!.length);
    const names = [...(m.graph!.initializer ?? []).map((t) => t.name!), ...(m.graph!.input ?? []).map((x) => x.name!), 'nowhere', ''];
    n.input![i] = rng.pick(names);
    return `${n.opType} input ${i} -> ${n.input![i]}`;
  },
  'an attribute changed': (rng, m) => {
    const n = rng.pick(m.graph!.node!.filter((x) => (x.attribute ?? []).length > 0));
    const a = rng.pick(n.attribute!);
    if (a.ints && a.ints.length) a.ints = [...a.ints].reverse().map((x) => (rng.chance(0.3) ? 99 : Number(x)));
    else if (a.t) a.t.dims = [...(a.t.dims ?? []), 2];
    else if (a.type === 2) a.i = rng.pick([-9, 7, 99, 2 ** 31]);
    else if (a.type === 1) a.f = rng.pick([NaN, Infinity, -1e30]);
    else a.type = 5; // GRAPH
    return `${n.opType}.${a.name}`;
  },
  'a graph input changed': (rng, m) => {
    const input = rng.pick(m.graph!.input!);
    const tt = input.type?.tensorType;
    const how = rng.int(3);
    if (tt && how === 0) tt.elemType = rng.pick([0, 8, 10, 16]); // undefined, string, float16, bfloat16
    else if (tt?.shape?.dim && how === 1) tt.shape.dim[0] = { dimValue: rng.pick([2, 0, -1, 7]) };
    else if (tt) tt.shape = { dim: [] };
    return `${input.name} (${['element type', 'leading dim', 'a scalar'][how]})`;
  },
  'outputs removed or added': (rng, m) => {
    const outputs = m.graph!.output!;
    if (rng.chance(0.5)) outputs.splice(0, 1);
    else outputs.push({ ...outputs[0]!, name: rng.pick([outputs[0]!.name!, 'extra']) });
    return String(outputs.length);
  },
  'opset or IR version changed': (rng, m) => {
    m.opsetImport = [{ domain: '', version: rng.pick([0, 1, 7, 99]) }];
    m.irVersion = rng.pick([0, 3, 99]);
    return String(m.opsetImport[0]!.version);
  },
};

const MUTATIONS = [...Object.keys(BYTE_MUTATIONS), ...Object.keys(EDITS)];

/** `count` corrupt ONNX files (in memory; the loader child gets the bytes): case i starts from base i mod the bases. */
export function onnxCorpus(count: number, seed: number, goldenDir?: string): CorruptOnnx[] {
  const bases = onnxBases(goldenDir);
  const out: CorruptOnnx[] = [];
  for (let id = 0; id < count; id++) {
    const rng = Rng.for(seed, 'onnx', id);
    const base = bases[id % bases.length]!;
    const mutation = rng.pick(MUTATIONS);
    let bytes: Uint8Array;
    let detail: string;
    if (mutation in BYTE_MUTATIONS) ({ bytes, detail } = BYTE_MUTATIONS[mutation]!(rng, base.bytes));
    else {
      const m = ModelProto.decode(base.bytes);
      try {
        detail = EDITS[mutation]!(rng, m);
      } catch (e) {
        detail = `(not applicable: ${(e as Error).message})`;
      }
      bytes = ModelProto.encode(m).finish();
    }
    out.push({ id, base: base.name, mutation, detail, bytes, context: base.context });
  }
  return out;
}
