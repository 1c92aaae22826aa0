/**
 * Corrupt model directories, as a truncated download, a disk error or a wrong file would leave them:
 * model.json field mutations and broken text, safetensors truncation, bit flips, a header length past
 * the file, a bogus dtype, shapes that disagree with the byte counts, overlapping or shifted offsets, NaN
 * and infinite weights, duplicate and missing names, and wrong files where the two should be. Each is
 * derived from one of a few small valid models by the seed and its index alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { modelToFiles } from '../model/model.js';
import type { Model } from '../model/model.js';
import { randomModel } from '../model/random.js';
import type { Field } from '../model/spec.js';
import { ARCHITECTURES } from '../model/parse-spec.js';
import { exportOnnx } from '../onnx/writer/export.js';
import { Rng } from './rng.js';

export interface CorruptModel {
  readonly id: number;
  /** What was done to it ('safetensors: truncated', ...). */
  readonly mutation: string;
  /** The details: which field, offset or value. */
  readonly detail: string;
  /** The path given to loadModelDir (usually a directory). */
  readonly dir: string;
}

/** The valid models the corruptions start from: the six architectures, and dense, pooled and OOV fields. */
export function baseModels(): { name: string; model: Model }[] {
  const mixed: Field[] = [
    { name: 'user', type: 'sparse', side: 'context', vocab: 10, dim: 4, pooling: 'none', oov: 'error' },
    { name: 'history', type: 'sparse', side: 'context', vocab: 10, dim: 4, pooling: 'mean', oov: 'error' },
    { name: 'user_vec', type: 'dense', side: 'context', dim: 3 },
    { name: 'item', type: 'sparse', side: 'target', vocab: 10, dim: 4, pooling: 'none', oov: 'bucket' },
    { name: 'price', type: 'dense', side: 'target', dim: 2 },
  ];
  return [
    ...ARCHITECTURES.map((arch, i) => ({
      name: arch,
      model: randomModel({ arch, context: 3, target: 2, dim: 4, mlp: [8], vocab: 20, seed: 40 + i }),
    })),
    { name: 'dcnv2-mixed', model: randomModel({ arch: 'dcnv2', context: 0, target: 0, dim: 4, fields: mixed, mlp: [8], seed: 47 }) },
  ];
}

interface Files {
  /** undefined: the file is absent; 'dir': a directory in its place. */
  json: Uint8Array | undefined | 'dir';
  weights: Uint8Array | undefined | 'dir';
  /** Where loadModelDir is pointed, relative to the case's directory ('' for the directory itself). */
  target: string;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A safetensors file as its header object and data section. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; text: string; data: Uint8Array } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = dec(bytes.subarray(8, 8 + length));
  return { header: JSON.parse(text) as Record<string, unknown>, text, data: bytes.subarray(8 + length) };
}

function join8(headerText: string, data: Uint8Array): Uint8Array {
  const header = enc(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

interface Entry {
  dtype: unknown;
  shape: unknown;
  data_offsets: unknown;
}

/** Tensor names of a header, sorted (the order of the data). */
function tensorNames(header: Record<string, unknown>): string[] {
  return Object.keys(header).filter((k) => k !== '__metadata__').sort();
}

/** Values a mutated field takes: wrong types, edges of ranges, absurd sizes, prototype names. */
const ODD_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53, 1e308, -1e308, '', 'x', '1', '__proto__', 'constructor', [], [1, 2, 3], {}, { a: 1 }, [[[[]]]], 'é\u0000\u202e'];

/** Every [path, value] of a JSON value, the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([...prefix, i]), paths(v, [...prefix, i], out)));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) (out.push([...prefix, k]), paths(v, [...prefix, k], out));
  return out;
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let node = root as Record<string | number, unknown>;
  for (const p of path) node = node[p] as Record<string | number, unknown>;
  return node;
}

function parentOf(root: unknown, path: (string | number)[]): { parent: Record<string | number, unknown>; key: string | number } {
  let node = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
  return { parent: node, key: path[path.length - 1]! };
}

/** An own property named like a prototype member (JSON.stringify writes it; a careless reader would follow it). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation = (rng: Rng, files: Files, model: Model) => string;

const JSON_MUTATIONS: Record<string, Mutation> = {
  'model.json: a field set to an odd value': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    const path = rng.pick(paths(json));
    const { parent, key } = parentOf(json, path);
    const value = rng.pick(ODD_VALUES);
    parent[key] = value;
    f.json = enc(JSON.stringify(json));
    return `${path.join('.')} = ${JSON.stringify(value)}`;
  },
  'model.json: a key deleted': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    const objectPaths = paths(json).filter((p) => typeof p[p.length - 1] === 'string');
    const path = rng.pick(objectPaths);
    const { parent, key } = parentOf(json, path);
    delete parent[key];
    f.json = enc(JSON.stringify(json));
    return path.join('.');
  },
  'model.json: an unknown or prototype key': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    const objects = [json, ...paths(json).map((p) => valueAt(json, p)).filter((v) => v && typeof v === 'object' && !Array.isArray(v))] as Record<string, unknown>[];
    const key = rng.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'extra', '']);
    setOwn(rng.pick(objects), key, rng.pick(ODD_VALUES));
    f.json = enc(JSON.stringify(json));
    return key;
  },
  'model.json: a field duplicated or the fields reordered': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    if (rng.chance(0.5)) json.fields.push({ ...rng.pick(json.fields as object[]) });
    else json.fields.reverse();
    f.json = enc(JSON.stringify(json));
    return '';
  },
  'model.json: another architecture': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    json.architecture = rng.pick(['dlrm', 'deepfm', 'dcnv2', 'rdcn', 'autoint', 'rank-attention', 'DLRM', 'gpt']);
    f.json = enc(JSON.stringify(json));
    return json.architecture;
  },
  'model.json: absurd sizes': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    const sizes = paths(json).filter((p) => typeof valueAt(json, p) === 'number');
    const path = rng.pick(sizes);
    const { parent, key } = parentOf(json, path);
    parent[key] = rng.pick([0, 2 ** 31 - 1, 2 ** 32, 1e9, 1e15, 2 ** 53 + 2]);
    f.json = enc(JSON.stringify(json));
    return `${path.join('.')} = ${parent[key]}`;
  },
  'model.json: deeply nested or huge arrays': (rng, f) => {
    const json = JSON.parse(dec(f.json as Uint8Array));
    const deep = rng.chance(0.5);
    let value: unknown = 1;
    if (deep) for (let i = 0; i < 100_000; i++) value = [value];
    else value = Array.from({ length: 100_000 }, () => 1);
    json.options = { ...json.options, [rng.pick(['mlp', 'topMlp', 'dnn', 'bottomMlp'])]: value };
    if (rng.chance(0.3)) json.fields = value;
    // JSON.stringify recurses: the deep value is written by hand.
    f.json = enc(deep ? JSON.stringify(json, (_k, v) => (v === value ? '@@' : v)).replace(/"@@"/g, '['.repeat(100_000) + '1' + ']'.repeat(100_000)) : JSON.stringify(json));
    return deep ? 'nested 100,000 deep' : '100,000 entries';
  },
  'model.json: truncated': (rng, f) => {
    const bytes = f.json as Uint8Array;
    const at = rng.int(bytes.length);
    f.json = bytes.subarray(0, at);
    return `at ${at} of ${bytes.length}`;
  },
  'model.json: bytes flipped': (rng, f) => {
    const bytes = Uint8Array.from(f.json as Uint8Array);
    const n = 1 + rng.int(4);
    for (let i = 0; i < n; i++) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
    f.json = bytes;
    return `${n} bits`;
  },
  'model.json: empty, a BOM, or invalid UTF-8': (rng, f) => {
    const choice = rng.int(3);
    f.json = choice === 0 ? new Uint8Array(0) : choice === 1 ? Uint8Array.from([0xef, 0xbb, 0xbf, ...(f.json as Uint8Array)]) : Uint8Array.from([0xc3, 0x28, 0xff, ...(f.json as Uint8Array)]);
    return ['empty', 'BOM', 'invalid UTF-8'][choice]!;
  },
};

/** Edit the safetensors header (the data section kept as is). */
function editHeader(f: Files, edit: (header: Record<string, Entry>, names: string[]) => string): string {
  const { header, data } = split(f.weights as Uint8Array);
  const what = edit(header as Record<string, Entry>, tensorNames(header));
  f.weights = join8(JSON.stringify(header), data);
  return what;
}

const SAFETENSORS_MUTATIONS: Record<string, Mutation> = {
  'safetensors: truncated': (rng, f) => {
    const bytes = f.weights as Uint8Array;
    const at = rng.chance(0.2) ? rng.int(16) : rng.int(bytes.length);
    f.weights = bytes.subarray(0, at);
    return `at ${at} of ${bytes.length}`;
  },
  'safetensors: bits flipped': (rng, f) => {
    const bytes = Uint8Array.from(f.weights as Uint8Array);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const n = 1 + rng.int(8);
    // Half in the header, where a flip changes structure; the rest anywhere (a flipped weight is still a weight, or NaN).
    for (let i = 0; i < n; i++) bytes[rng.chance(0.5) ? rng.int(headerEnd) : rng.int(bytes.length)]! ^= 1 << rng.int(8);
    f.weights = bytes;
    return `${n} bits`;
  },
  'safetensors: header length past the file or off by a few': (rng, f) => {
    const bytes = Uint8Array.from(f.weights as Uint8Array);
    const view = new DataView(bytes.buffer);
    const length = view.getBigUint64(0, true);
    const value = rng.pick([BigInt(bytes.length), BigInt(bytes.length - 7), 2n ** 64n - 1n, 2n ** 53n + 1n, 0n, length + 1n, length - 1n, length + 8n, length - 8n]);
    view.setBigUint64(0, value, true);
    f.weights = bytes;
    return String(value);
  },
  'safetensors: a bogus dtype': (rng, f) =>
    editHeader(f, (h, names) => {
      const name = rng.pick(names);
      h[name]!.dtype = rng.pick(['BF16', 'F64', 'I64', 'f32', '', 'F32 ', null, 4, ['F32']]);
      return `${name}: ${JSON.stringify(h[name]!.dtype)}`;
    }),
  'safetensors: a shape that disagrees with the bytes': (rng, f) =>
    editHeader(f, (h, names) => {
      const name = rng.pick(names);
      const shape = [...(h[name]!.shape as number[])];
      const how = rng.int(5);
      if (how === 0) shape.push(2);
      else if (how === 1) shape.pop();
      else if (how === 2) shape[0] = (shape[0] ?? 1) * 2;
      else if (how === 3) shape.reverse().push(1);
      else shape[rng.int(shape.length || 1)] = rng.pick([-1, 0.5, 1e12, 2 ** 53]);
      h[name]!.shape = shape;
      return `${name}: [${shape.join(', ')}]`;
    }),
  'safetensors: offsets overlapping, shifted or garbage': (rng, f) =>
    editHeader(f, (h, names) => {
      const name = rng.pick(names);
      const [b, e] = h[name]!.data_offsets as [number, number];
      const other = h[rng.pick(names)]!.data_offsets as [number, number];
      const options: unknown[] = [[other[0], other[0] + (e - b)], [b + 4, e + 4], [b - 4, e - 4], [e, b], [b, e + 4], [b, e - 4], [b + 0.5, e], ['0', String(e)], [b], null, [-4, e - b - 4]];
      h[name]!.data_offsets = rng.pick(options);
      return `${name}: ${JSON.stringify(h[name]!.data_offsets)}`;
    }),
  'safetensors: a NaN or infinite weight': (rng, f) => {
    const bytes = Uint8Array.from(f.weights as Uint8Array);
    const { header } = split(bytes);
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const name = rng.pick(tensorNames(header));
    const [b, e] = (header[name] as Entry).data_offsets as [number, number];
    const at = dataStart + b + 4 * rng.int((e - b) / 4);
    const value = rng.pick([NaN, Infinity, -Infinity]);
    new DataView(bytes.buffer).setFloat32(at, value, true);
    f.weights = bytes;
    return `${name}: ${value}`;
  },
  'safetensors: a float16 file with an infinite weight': (rng, f) => {
    const { header, data } = split(f.weights as Uint8Array);
    const names = tensorNames(header);
    const out: Record<string, Entry> = {};
    const halves = new Uint8Array(data.length / 2);
    const view = new DataView(halves.buffer);
    let offset = 0;
    for (const name of names) {
      const e = header[name] as Entry;
      const [b, end] = e.data_offsets as [number, number];
      const n = (end - b) / 4;
      out[name] = { dtype: 'F16', shape: e.shape, data_offsets: [offset, offset + 2 * n] };
      for (let i = 0; i < n; i++) view.setUint16(offset + 2 * i, 0x3c00, true); // 1.0
      offset += 2 * n;
    }
    view.setUint16(2 * rng.int(halves.length / 2), rng.pick([0x7c00, 0xfc00, 0x7e00]), true); // +Inf, -Inf, NaN
    f.weights = join8(JSON.stringify(out), halves);
    return '';
  },
  'safetensors: a duplicate name': (rng, f) => {
    const { header, text, data } = split(f.weights as Uint8Array);
    const name = rng.pick(tensorNames(header));
    // Text-level: JSON.stringify cannot write a key twice.
    const entry = JSON.stringify(name) + ':' + JSON.stringify(header[name]);
    f.weights = join8(text.replace(/}\s*$/, `,${entry}}`), data);
    return name;
  },
  'safetensors: a tensor missing, extra or renamed': (rng, f) =>
    editHeader(f, (h, names) => {
      const name = rng.pick(names);
      const how = rng.int(3);
      if (how === 0) delete h[name];
      else if (how === 1) h[`${name}.extra`] = { ...h[name]! };
      else {
        const renamed = rng.pick([name.toUpperCase(), name + ' ', '__proto__', 'constructor', '']);
        setOwn(h as Record<string, unknown>, renamed, h[name]);
        delete h[name];
      }
      return `${['missing', 'extra', 'renamed'][how]}: ${name}`;
    }),
  'safetensors: odd metadata or a header that is not an object': (rng, f) => {
    const { header, data } = split(f.weights as Uint8Array);
    const how = rng.int(4);
    const text =
      how === 0 ? JSON.stringify({ __metadata__: { nested: { deep: [1, 2] }, n: 5 }, ...header })
      : how === 1 ? JSON.stringify([header])
      : how === 2 ? '['.repeat(50_000) + ']'.repeat(50_000)
      : JSON.stringify({ ...header, [tensorNames(header)[0]!]: 'not an entry' });
    f.weights = join8(text, data);
    return ['nested metadata', 'an array', 'nested 50,000 deep', 'an entry that is a string'][how]!;
  },
};

const WRONG_FILES: Record<string, Mutation> = {
  'wrong file: one file in the other\'s place, an ONNX file, or none': (rng, f, model) => {
    const how = rng.int(6);
    const json = f.json;
    if (how === 0) f.weights = json as Uint8Array;
    else if (how === 1) f.json = f.weights as Uint8Array;
    else if (how === 2) f.weights = exportOnnx(model);
    else if (how === 3) f.json = undefined;
    else if (how === 4) f.weights = undefined;
    else (f.json = new Uint8Array(0)), (f.weights = new Uint8Array(0));
    return ['weights is model.json', 'model.json is the weights', 'weights is an ONNX file', 'no model.json', 'no weights', 'both empty'][how]!;
  },
  'wrong path: a directory for a file, a file for the directory, nothing': (rng, f) => {
    const how = rng.int(4);
    if (how === 0) f.weights = 'dir';
    else if (how === 1) f.json = 'dir';
    else if (how === 2) f.target = 'model.json';
    else f.target = 'nowhere';
    return ['weights.safetensors is a directory', 'model.json is a directory', '--model is model.json', '--model does not exist'][how]!;
  },
};

/** Every mutation, with a weight: how often it is drawn. */
const MUTATIONS: [string, Mutation, number][] = [
  ...Object.entries(JSON_MUTATIONS).map(([k, m]): [string, Mutation, number] => [k, m, 1]),
  ...Object.entries(SAFETENSORS_MUTATIONS).map(([k, m]): [string, Mutation, number] => [k, m, 1.5]),
  ...Object.entries(WRONG_FILES).map(([k, m]): [string, Mutation, number] => [k, m, 0.5]),
];

function draw(rng: Rng): [string, Mutation] {
  const total = MUTATIONS.reduce((a, m) => a + m[2], 0);
  let x = rng.float() * total;
  for (const [name, m, w] of MUTATIONS) if ((x -= w) < 0) return [name, m];
  return [MUTATIONS[0]![0], MUTATIONS[0]![1]];
}

/** The mutations' names (the summary lists what each did). */
export const MODEL_MUTATIONS = MUTATIONS.map((m) => m[0]);

/**
 * Write `count` corrupt model directories under `root`. Case i: a base model (i mod the bases), one
 * mutation, and one or two more for one case in eight.
 */
export async function writeModelCorpus(root: string, count: number, seed: number): Promise<CorruptModel[]> {
  const bases = baseModels().map((b) => ({ ...b, files: modelToFiles(b.model) }));
  const out: CorruptModel[] = [];
  for (let id = 0; id < count; id++) {
    const rng = Rng.for(seed, 'model', id);
    const base = bases[id % bases.length]!;
    const f: Files = { json: enc(base.files.modelJson), weights: base.files.weightsBytes, target: '' };
    const stacked = rng.chance(0.125) ? 1 + rng.int(2) : 0;
    const names: string[] = [];
    let first = '';
    for (let k = 0; k <= stacked; k++) {
      const [name, mutate] = draw(rng);
      if (k === 0) first = name;
      try {
        names.push(`${name} (${mutate(rng, f, base.model)})`);
      } catch {
        // A mutation that does not apply to what an earlier one left (a header no longer JSON): skip it.
      }
    }
    const dir = join(root, `m${id}`);
    await mkdir(dir, { recursive: true });
    for (const [file, content] of [['model.json', f.json], ['weights.safetensors', f.weights]] as const) {
      if (content === 'dir') await mkdir(join(dir, file), { recursive: true });
      else if (content !== undefined) await writeFile(join(dir, file), content);
    }
    out.push({ id, mutation: stacked > 0 ? `stacked: ${first} + ${stacked} more` : first, detail: names.join('; '), dir: join(dir, f.target) });
  }
  return out;
}
