/**
 * Bad input through the API: every refusal is a RankawareError whose one-line message names the
 * place (field with candidate index, weight, key or file), what was expected and what was received.
 * Requests go through `score`; model files through `modelFromFiles` and `readSafetensors`.
 */
import { setFloat16, f16round } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { score } from '../src/engine.js';
import { modelFromFiles, modelToFiles } from '../src/model/model.js';
import type { Model } from '../src/model/model.js';
import { randomModel, randomRequest } from '../src/model/random.js';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import type { Tensor } from '../src/model/safetensors.js';
import type { Field } from '../src/model/spec.js';
import { clone, refusal } from './helpers.js';

const VOCAB = 10;
const FIELDS: Field[] = [
  { name: 'user', type: 'sparse', side: 'context', vocab: VOCAB, dim: 4, pooling: 'none', oov: 'error' },
  { name: 'history', type: 'sparse', side: 'context', vocab: VOCAB, dim: 4, pooling: 'sum', oov: 'error' },
  { name: 'user_vec', type: 'dense', side: 'context', dim: 3 },
  { name: 'item', type: 'sparse', side: 'target', vocab: VOCAB, dim: 4, pooling: 'none', oov: 'error' },
  { name: 'new_item', type: 'sparse', side: 'target', vocab: VOCAB, dim: 4, pooling: 'none', oov: 'bucket' },
  { name: 'price', type: 'dense', side: 'target', dim: 2 },
];

/** dcnv2 takes any mix of sparse and dense fields on either side; output 'none' keeps score differences large. */
function makeModel(): Model {
  return randomModel({ arch: 'dcnv2', context: 0, target: 0, dim: 4, fields: FIELDS, mlp: [8], output: 'none', seed: 3 });
}

/** The model as a user gets it: written to files and loaded back. */
const files = modelToFiles(makeModel());
const model = modelFromFiles(files.modelJson, files.weightsBytes);

type MutableRequest = { context: Record<string, unknown>; candidates: Record<string, unknown>[] } & Record<string, unknown>;
const N = 4;
/** A fresh valid request with N candidates, to be spoiled by one case. */
const goodRequest = (): MutableRequest => clone(randomRequest(model.spec, N, 5)) as MutableRequest;

/** The message of the refusal of a request built by `spoil` from a good one. */
function refuseRequest(spoil: (r: MutableRequest) => unknown): ReturnType<typeof refusal> {
  const r = goodRequest();
  const request = spoil(r) ?? r;
  return refusal(() => score(model, request));
}

describe('unknown and misplaced fields', () => {
  it('refuses an unknown field in the context', () => {
    const e = refuseRequest((r) => void (r.context.colour = 1));
    expect(e.message).toMatch(/^request\.context\.colour: expected a field the model declares \(user, history, user_vec\), received an unknown field$/);
    expect(e.kind).toBe('unknown');
  });

  it('refuses an unknown field in a candidate, naming its index', () => {
    const e = refuseRequest((r) => void (r.candidates[2]!.colour = 1));
    expect(e.message).toMatch(/^request\.candidates\[2\]\.colour: expected a field the model declares \(item, new_item, price\), received an unknown field$/);
    expect(e.kind).toBe('unknown');
  });

  it('refuses a target field put in the context', () => {
    const e = refuseRequest((r) => void (r.context.item = 1));
    expect(e.message).toMatch(/^request\.context\.item: expected no target field here \(it belongs in each candidate\), received target field "item"$/);
  });

  it('refuses a context field put in a candidate', () => {
    const e = refuseRequest((r) => void (r.candidates[1]!.user = 1));
    expect(e.message).toMatch(/^request\.candidates\[1\]\.user: expected no context field here \(it belongs in request\.context\), received context field "user"$/);
  });
});

describe('missing fields', () => {
  it('refuses a missing context field', () => {
    const e = refuseRequest((r) => void delete r.context.user);
    expect(e.message).toMatch(/^request\.context\.user: expected an id in \[0, 10\), received nothing \(missing field\)$/);
    expect(e.kind).toBe('missing');
  });

  it('refuses a missing pooled context field', () => {
    const e = refuseRequest((r) => void delete r.context.history);
    expect(e.message).toMatch(/^request\.context\.history: expected a list of ids \(field pooling is "sum"\), received nothing \(missing field\)$/);
  });

  it('refuses a missing dense field in a candidate, naming its index', () => {
    const e = refuseRequest((r) => void delete r.candidates[3]!.price);
    expect(e.message).toMatch(/^request\.candidates\[3\]\.price: expected a list of 2 finite numbers, received nothing \(missing field\)$/);
    expect(e.kind).toBe('missing');
  });

  it('reports a field named like an Object.prototype member as missing, not as a function', () => {
    const fields: Field[] = [
      { name: 'user', type: 'sparse', side: 'context', vocab: VOCAB, dim: 4, pooling: 'none', oov: 'error' },
      { name: 'constructor', type: 'sparse', side: 'target', vocab: VOCAB, dim: 4, pooling: 'none', oov: 'error' },
    ];
    const m = randomModel({ arch: 'dcnv2', context: 0, target: 0, dim: 4, fields, mlp: [4] });
    const e = refusal(() => score(m, { context: { user: 1 }, candidates: [{}] }));
    expect(e.message).toMatch(/^request\.candidates\[0\]\.constructor: expected an id in \[0, 10\), received nothing \(missing field\)$/);
  });
});

describe('ids', () => {
  it('refuses an id outside the vocab of an oov "error" field', () => {
    const e = refuseRequest((r) => void (r.candidates[1]!.item = VOCAB));
    expect(e.message).toMatch(/^request\.candidates\[1\]\.item: expected an id in \[0, 10\) \(the field's vocab; declare "oov": "bucket" to map unknown ids\), received 10$/);
    expect(e.kind).toBe('invalid');
  });

  it('refuses an out-of-vocab id inside a pooled list, naming the list position', () => {
    const e = refuseRequest((r) => void (r.context.history = [1, 12]));
    expect(e.message).toMatch(/^request\.context\.history\[1\]: expected an id in \[0, 10\) .*, received 12$/);
  });

  it('refuses a negative id of an oov "error" field', () => {
    const e = refuseRequest((r) => void (r.context.user = -1));
    expect(e.message).toMatch(/^request\.context\.user: expected an id in \[0, 10\) .*, received -1$/);
  });

  it.each([
    ['1.5', 1.5, '1\\.5'],
    ['the string "7"', '7', '"7"'],
    ['null', null, 'null'],
  ])('refuses a non-integer id: %s', (_, id, shown) => {
    const e = refuseRequest((r) => void (r.candidates[0]!.item = id));
    expect(e.message).toMatch(new RegExp(`^request\\.candidates\\[0\\]\\.item: expected an integer id in \\[0, 10\\), received ${shown}$`));
  });

  it('refuses a non-integer id even where unknown ids map to the OOV bucket', () => {
    const e = refuseRequest((r) => void (r.candidates[2]!.new_item = 2.5));
    expect(e.message).toMatch(/^request\.candidates\[2\]\.new_item: expected an integer id in \[0, 10\), received 2\.5$/);
  });

  describe('with "oov": "bucket"', () => {
    /** The score of the first candidate with `new_item` set to `id`. */
    const scoreWith = (m: Model, id: number) => {
      const r = goodRequest();
      r.candidates[0]!.new_item = id;
      return score(m, r).scores[0]!;
    };

    it('scores out-of-vocab and negative ids alike, and unlike an in-vocab id', () => {
      const oov = scoreWith(model, VOCAB);
      expect(Number.isFinite(oov)).toBe(true);
      expect(scoreWith(model, 999)).toBe(oov);
      expect(scoreWith(model, -3)).toBe(oov);
      expect(scoreWith(model, 0)).not.toBe(oov);
      expect(scoreWith(model, VOCAB - 1)).not.toBe(oov);
    });

    it('reads row `vocab` of the table (the bucket row), and only for unknown ids', () => {
      const table = model.weights.get('embedding.new_item')!;
      expect(table.shape).toEqual([VOCAB + 1, 4]);
      const data = table.data.slice();
      for (let j = 0; j < 4; j++) data[VOCAB * 4 + j] = data[VOCAB * 4 + j]! + 1;
      const changed: Model = { spec: model.spec, weights: new Map([...model.weights, ['embedding.new_item', { shape: table.shape, data }]]) };
      expect(scoreWith(changed, 999)).not.toBe(scoreWith(model, 999));
      expect(scoreWith(changed, 3)).toBe(scoreWith(model, 3));
    });
  });
});

describe('single-valued and pooled fields', () => {
  it('refuses a list of two ids for a single-valued field', () => {
    const e = refuseRequest((r) => void (r.candidates[0]!.item = [1, 2]));
    expect(e.message).toMatch(/^request\.candidates\[0\]\.item: expected one id \(field pooling is "none"\), received a list of 2 ids$/);
  });

  it('accepts a list of one id for a single-valued field as that id', () => {
    const plain = goodRequest();
    const listed = clone(plain);
    listed.candidates[0]!.item = [plain.candidates[0]!.item as number];
    expect(score(model, listed).scores).toEqual(score(model, plain).scores);
  });

  it('refuses a plain number for a pooled field', () => {
    const e = refuseRequest((r) => void (r.context.history = 3));
    expect(e.message).toMatch(/^request\.context\.history: expected a list of ids \(field pooling is "sum"\), received 3$/);
  });
});

describe('dense inputs', () => {
  it.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('refuses %s in a candidate dense field', (value, shown) => {
    const e = refuseRequest((r) => void (r.candidates[2]!.price = [0.5, value]));
    expect(e.message).toMatch(new RegExp(`^request\\.candidates\\[2\\]\\.price\\[1\\]: expected a finite number within float32 range \\(\\|x\\| < 3\\.4e38\\), received ${shown}$`));
    expect(e.kind).toBe('invalid');
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('refuses %s in a context dense field', (value, shown) => {
    const e = refuseRequest((r) => void (r.context.user_vec = [value, 0, 0]));
    expect(e.message).toMatch(new RegExp(`^request\\.context\\.user_vec\\[0\\]: expected a finite number within float32 range \\(\\|x\\| < 3\\.4e38\\), received ${shown}$`));
  });

  it('refuses 1e999 in request JSON text (JSON.parse reads it as Infinity)', () => {
    const r = goodRequest();
    r.candidates[1]!.price = 'PRICE';
    const text = JSON.stringify(r).replace('"PRICE"', '[0.25, 1e999]');
    const parsed = JSON.parse(text) as MutableRequest;
    expect((parsed.candidates[1]!.price as number[])[1]).toBe(Infinity);
    const e = refusal(() => score(model, parsed));
    expect(e.message).toMatch(/^request\.candidates\[1\]\.price\[1\]: expected a finite number within float32 range \(\|x\| < 3\.4e38\), received Infinity$/);
  });

  it('refuses a value beyond float32 range (1e39 would become Infinity in float32 kernels)', () => {
    const e = refuseRequest((r) => void (r.candidates[0]!.price = [0.5, 1e39]));
    expect(e.message).toMatch(/^request\.candidates\[0\]\.price\[1\]: expected a finite number within float32 range \(\|x\| < 3\.4e38\), received 1e\+39$/);
  });

  it('refuses a non-number in a dense list', () => {
    const e = refuseRequest((r) => void (r.candidates[0]!.price = [0.5, '1']));
    expect(e.message).toMatch(/^request\.candidates\[0\]\.price\[1\]: expected a finite number within float32 range \(\|x\| < 3\.4e38\), received "1"$/);
  });

  it('refuses a dense list of the wrong length', () => {
    const long = refuseRequest((r) => void (r.candidates[0]!.price = [1, 2, 3]));
    expect(long.message).toMatch(/^request\.candidates\[0\]\.price: expected a list of 2 finite numbers, received a list of 3$/);
    const short = refuseRequest((r) => void (r.context.user_vec = [1]));
    expect(short.message).toMatch(/^request\.context\.user_vec: expected a list of 3 finite numbers, received a list of 1$/);
  });

  it('refuses a plain number for a dense field', () => {
    const e = refuseRequest((r) => void (r.candidates[0]!.price = 5));
    expect(e.message).toMatch(/^request\.candidates\[0\]\.price: expected a list of 2 finite numbers, received 5$/);
  });
});

describe('request shape', () => {
  it('refuses empty candidates', () => {
    const e = refuseRequest((r) => void (r.candidates = []));
    expect(e.message).toMatch(/^request\.candidates: expected a non-empty array of candidates, received an empty array$/);
  });

  it.each([
    ['an object', {}, 'an object'],
    ['a string', 'abc', '"abc"'],
    ['null', null, 'null'],
  ])('refuses non-array candidates: %s', (_, candidates, shown) => {
    const e = refuseRequest((r) => void ((r as Record<string, unknown>).candidates = candidates));
    expect(e.message).toMatch(new RegExp(`^request\\.candidates: expected a non-empty array of candidates, received ${shown}$`));
    expect(e.kind).toBe('invalid');
  });

  it('refuses missing candidates', () => {
    const e = refuseRequest((r) => void delete (r as Record<string, unknown>).candidates);
    expect(e.message).toMatch(/^request\.candidates: expected a non-empty array of candidates, received nothing$/);
    expect(e.kind).toBe('missing');
  });

  it('refuses a candidate that is not an object, naming its index', () => {
    const e = refuseRequest((r) => void ((r.candidates as unknown[])[1] = 7));
    expect(e.message).toMatch(/^request\.candidates\[1\]: expected an object of field values, received 7$/);
  });

  it('refuses a missing context', () => {
    const e = refuseRequest((r) => void delete (r as Record<string, unknown>).context);
    expect(e.message).toMatch(/^request\.context: expected an object of context field values, received nothing \(missing\)$/);
    expect(e.kind).toBe('missing');
  });

  it('refuses a context that is not an object', () => {
    const e = refuseRequest((r) => void ((r as Record<string, unknown>).context = [1, 2]));
    expect(e.message).toMatch(/^request\.context: expected an object of field values, received \[1, 2\]$/);
  });

  it.each([
    ['null', null, 'null'],
    ['an array', [], '\\[\\]'],
    ['a number', 5, '5'],
    ['a string', 'request', '"request"'],
  ])('refuses a request that is not an object: %s', (_, request, shown) => {
    const e = refusal(() => score(model, request));
    expect(e.message).toMatch(new RegExp(`^request: expected an object \\{"context": \\{\\.\\.\\.\\}, "candidates": \\[\\.\\.\\.\\]\\}, received ${shown}$`));
  });

  it('refuses values nested 100,000 deep with a bounded message, not a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(refusal(() => score(model, deep)).message).toMatch(/^request: expected an object .*, received \[\[\[an array of 1\]\]\]$/);
    expect(refuseRequest((r) => void ((r.context as Record<string, unknown>).history = deep)).message).toMatch(/^request\.context\.history\[0\]: expected an integer id in \[0, 10\), received \[\[\[an array of 1\]\]\]$/);
    expect(refuseRequest((r) => void ((r.candidates as unknown[])[1] = deep)).message).toMatch(/^request\.candidates\[1\]: expected an object of field values, received \[\[\[an array of 1\]\]\]$/);
  });

  it('refuses an extra top-level key', () => {
    const e = refuseRequest((r) => void (r.user = 1));
    expect(e.message).toMatch(/^request\.user: expected only the keys "context" and "candidates", received an unknown key$/);
    expect(e.kind).toBe('unknown');
  });
});

describe('a refused request harms no state', () => {
  it('scores a good request the same before and after bad ones', () => {
    const good = goodRequest();
    const before = { vanilla: score(model, good, { plan: 'vanilla' }).scores, rankAware: score(model, good, { plan: 'rank-aware' }).scores };
    const spoilers: ((r: MutableRequest) => void)[] = [
      (r) => void (r.candidates[N - 1]!.item = 99), // fails after N - 1 candidates were encoded
      (r) => void (r.candidates[N - 1]!.price = [1, NaN]),
      (r) => void (r.context.history = [1, 2, 99]),
      (r) => void (r.candidates = []),
      (r) => void (r.candidates[0]!.colour = 1),
    ];
    for (const plan of ['vanilla', 'rank-aware'] as const)
      for (const spoil of spoilers) {
        const bad = goodRequest();
        spoil(bad);
        refusal(() => score(model, bad, { plan }));
      }
    expect(score(model, good, { plan: 'vanilla' }).scores).toEqual(before.vanilla);
    expect(score(model, good, { plan: 'rank-aware' }).scores).toEqual(before.rankAware);
    // A larger then a smaller good request after the failures: no leftover rows.
    const larger = clone(randomRequest(model.spec, 2 * N, 9));
    const fresh = modelFromFiles(files.modelJson, files.weightsBytes);
    expect(score(model, larger).scores).toEqual(score(fresh, larger).scores);
    expect(score(model, good).scores).toEqual(before.rankAware);
  });
});

// ---------------------------------------------------------------------------------------------
// Model files.

type Json = Record<string, unknown>;
/** Load the model with its model.json edited by `edit`. */
function refuseModelJson(edit: (m: Json) => void): ReturnType<typeof refusal> {
  const json = JSON.parse(files.modelJson) as Json;
  edit(json);
  return refusal(() => modelFromFiles(JSON.stringify(json), files.weightsBytes));
}

/** Load the model with its stored tensors edited by `edit` (then written as float32 safetensors). */
function refuseTensors(edit: (t: Map<string, Tensor>) => void): ReturnType<typeof refusal> {
  const tensors = readSafetensors(files.weightsBytes);
  edit(tensors);
  return refusal(() => modelFromFiles(files.modelJson, writeSafetensors(tensors)));
}

/** A safetensors file from a JSON header (given as text) and a data section. */
function safetensorsBytes(headerText: string, data = new Uint8Array(0)): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + header.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  bytes.set(data, 8 + header.length);
  return bytes;
}

/** Tensors written as F16 by hand (writeSafetensors writes F32 only). */
function float16Safetensors(tensors: ReadonlyMap<string, Tensor>): Uint8Array {
  const header: Json = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F16', shape: t.shape, data_offsets: [offset, offset + 2 * t.data.length] };
    offset += 2 * t.data.length;
  }
  const data = new Uint8Array(offset);
  const view = new DataView(data.buffer);
  let at = 0;
  for (const t of tensors.values())
    for (const x of t.data) {
      setFloat16(view, at, x, true);
      at += 2;
    }
  return safetensorsBytes(JSON.stringify(header), data);
}

describe('model.json', () => {
  it('loads the unedited files (the baseline of the cases below)', () => {
    expect(() => modelFromFiles(files.modelJson, files.weightsBytes)).not.toThrow();
  });

  it('refuses an unknown version', () => {
    const e = refuseModelJson((m) => void (m.version = 2));
    expect(e.message).toMatch(/^model\.json version: expected 1 \(the versions this rankaware reads\), received 2$/);
    expect(e.kind).toBe('format');
  });

  it('refuses a wrong format string', () => {
    const e = refuseModelJson((m) => void (m.format = 'onnx'));
    expect(e.message).toMatch(/^model\.json format: expected "rankaware-model", received "onnx"$/);
    expect(e.kind).toBe('format');
  });

  it('refuses an unknown architecture', () => {
    const e = refuseModelJson((m) => void (m.architecture = 'transformer'));
    expect(e.message).toMatch(/^model\.json architecture: expected one of "dlrm", "deepfm", "dcnv2", "rdcn", "autoint", "rank-attention", "din", "bst", received "transformer"$/);
  });

  it('refuses an unknown option key', () => {
    const e = refuseModelJson((m) => void ((m.options as Json).dropout = 0.1));
    expect(e.message).toMatch(/^model\.json options\.dropout: expected one of the keys layers, rank, structure, deep, mlp, received unknown key "dropout"$/);
    expect(e.kind).toBe('unknown');
  });

  it('refuses an unknown key in a field', () => {
    const e = refuseModelJson((m) => void ((m.fields as Json[])[0]!.colour = 'red'));
    expect(e.message).toMatch(/^model\.json field "user"\.colour: expected one of the keys .*, received unknown key "colour"$/);
  });

  it('refuses model.json text that is not JSON', () => {
    const e = refusal(() => modelFromFiles('{"format": ', files.weightsBytes));
    expect(e.message).toMatch(/^model\.json: expected valid JSON, received a parse error \(.+\)$/);
    expect(e.kind).toBe('format');
  });

  it('refuses a parse error on one line, however many lines the text around it spans', () => {
    const e = refusal(() => modelFromFiles('{\n  "format": "rankaware-model",\n  "version": tru\n}\n', files.weightsBytes));
    expect(e.message).not.toMatch(/[\r\n]/);
    expect(e.received).not.toMatch(/[\r\n]/);
  });

  it('refuses absurd counts at once, before declaring a weight for each (a corrupt 1e9 layers)', () => {
    const t0 = performance.now();
    expect(refuseModelJson((m) => void ((m.options as Json).layers = 1e9)).message).toBe('model.json options.layers: expected an integer in [0, 256], received 1000000000');
    expect(refuseModelJson((m) => void ((m.options as Json).mlp = Array.from({ length: 1e5 }, () => 1))).message).toBe('model.json options.mlp: expected at most 256 layer sizes, received 100000');
    const many = Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, side: 'context', vocab: 2, dim: 4 }));
    expect(refuseModelJson((m) => void (m.fields = many)).message).toBe('model.json fields: expected at most 1024 fields, received 2000');
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('weights', () => {
  it('refuses a missing weight', () => {
    const e = refuseTensors((t) => void t.delete('mlp.0.weight'));
    expect(e.message).toMatch(/^weights\.safetensors weight "mlp\.0\.weight": expected a tensor of shape \[8, \d+\] \(.*\), received no such tensor$/);
    expect(e.kind).toBe('weights');
  });

  it('refuses a weight of the wrong shape', () => {
    const e = refuseTensors((t) => void t.set('embedding.user', { shape: [VOCAB, 5], data: new Float32Array(VOCAB * 5) }));
    expect(e.message).toMatch(/^weights\.safetensors weight "embedding\.user": expected shape \[10, 4\], received shape \[10, 5\]$/);
    expect(e.kind).toBe('weights');
  });

  it('refuses a table without the OOV bucket row of an oov "bucket" field', () => {
    const e = refuseTensors((t) => void t.set('embedding.new_item', { shape: [VOCAB, 4], data: new Float32Array(VOCAB * 4) }));
    expect(e.message).toMatch(/^weights\.safetensors weight "embedding\.new_item": expected shape \[11, 4\], received shape \[10, 4\]$/);
  });

  it('refuses a tensor the model does not declare', () => {
    const e = refuseTensors((t) => void t.set('extra.weight', { shape: [2], data: new Float32Array(2) }));
    expect(e.message).toMatch(/^weights\.safetensors tensor "extra\.weight": expected only the weights a dcnv2 model declares \(see docs\/model-format\.md\), received a tensor this model does not use$/);
    expect(e.kind).toBe('weights');
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('refuses a non-finite weight value: %s', (value, shown) => {
    const e = refuseTensors((t) => {
      const w = t.get('cross.0.weight')!;
      const data = w.data.slice();
      data[3] = value;
      t.set('cross.0.weight', { shape: w.shape, data });
    });
    expect(e.message).toMatch(new RegExp(`^weights\\.safetensors weight "cross\\.0\\.weight": expected finite values, received ${shown} at flat index 3$`));
    expect(e.kind).toBe('weights');
  });

  it('refuses an unsupported dtype', () => {
    const bytes = safetensorsBytes(JSON.stringify({ w: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }), new Uint8Array(2));
    const e = refusal(() => readSafetensors(bytes));
    expect(e.message).toMatch(/^weights\.safetensors tensor "w" dtype: expected F32 or F16, received "BF16"$/);
  });

  it('refuses negative or reversed data_offsets (they would read the header as weights)', () => {
    for (const offsets of [[-8, 0], [4, 0], [0.5, 4.5]]) {
      const bytes = safetensorsBytes(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: offsets } }), new Uint8Array(16));
      const e = refusal(() => readSafetensors(bytes));
      expect(e.message).toMatch(/^weights\.safetensors tensor "w" data_offsets: expected two integers 0 <= begin <= end, received \[.*\]$/);
    }
  });
});

describe('safetensors files', () => {
  const bytes = files.weightsBytes;
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));

  it('refuses a file cut at 4 bytes', () => {
    const e = refusal(() => modelFromFiles(files.modelJson, bytes.subarray(0, 4)));
    expect(e.message).toMatch(/^weights\.safetensors: expected at least the 8-byte header length, received 4 bytes \(truncated file\)$/);
    expect(e.kind).toBe('format');
  });

  it('refuses a file cut inside the header', () => {
    const e = refusal(() => modelFromFiles(files.modelJson, bytes.subarray(0, 8 + 10)));
    expect(e.message).toMatch(new RegExp(`^weights\\.safetensors: expected a ${headerLength}-byte JSON header after the length, received 10 bytes \\(truncated file\\)$`));
    expect(e.kind).toBe('format');
  });

  it('refuses a file cut inside the data', () => {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { data_offsets: [number, number] }>;
    const [lastName, last] = Object.entries(header).reduce((a, b) => (b[1].data_offsets[1] > a[1].data_offsets[1] ? b : a));
    const dataLength = bytes.length - 8 - headerLength - 5;
    const e = refusal(() => modelFromFiles(files.modelJson, bytes.subarray(0, bytes.length - 5)));
    const name = lastName.replace(/\./g, '\\.');
    expect(e.message).toMatch(new RegExp(`^weights\\.safetensors tensor "${name}": expected bytes up to offset ${last.data_offsets[1]}, received a data section of ${dataLength} bytes \\(truncated file\\)$`));
    expect(e.kind).toBe('format');
  });

  it('refuses a header that is not JSON', () => {
    const e = refusal(() => modelFromFiles(files.modelJson, safetensorsBytes('{"w": {"dtype": F32')));
    expect(e.message).toMatch(/^weights\.safetensors: expected a JSON header, received bytes that do not parse as JSON \(corrupt file\)$/);
    expect(e.kind).toBe('format');
  });

  it.each([
    ['null', 'null'],
    ['[]', '\\[\\]'],
    ['5', '5'],
  ])('refuses a JSON header that is not an object: %s', (text, shown) => {
    const e = refusal(() => readSafetensors(safetensorsBytes(text)));
    expect(e.message).toMatch(new RegExp(`^weights\\.safetensors header: expected a JSON object \\{name: \\{dtype, shape, data_offsets\\}\\}, received ${shown}$`));
  });

  it('refuses a header entry that is not an object', () => {
    const e = refusal(() => readSafetensors(safetensorsBytes('{"w": null}')));
    expect(e.message).toMatch(/^weights\.safetensors tensor "w": expected an object \{dtype, shape, data_offsets\}, received null$/);
  });

  const f32 = (shape: number[], begin: number) => ({ dtype: 'F32', shape, data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)] });
  it('refuses tensors whose bytes overlap', () => {
    const e = refusal(() => readSafetensors(safetensorsBytes(JSON.stringify({ a: f32([2], 0), b: f32([2], 4) }), new Uint8Array(12))));
    expect(e.message).toBe('weights.safetensors tensor "b" data_offsets: expected to begin at byte 8, where tensor "a" ends (tensors are stored back to back), received [4, 12] (overlapping "a")');
    expect(e.kind).toBe('format');
  });

  it('refuses bytes no tensor owns, between tensors or after the last', () => {
    const gap = refusal(() => readSafetensors(safetensorsBytes(JSON.stringify({ a: f32([2], 0), b: f32([2], 12) }), new Uint8Array(20))));
    expect(gap.message).toBe('weights.safetensors tensor "b" data_offsets: expected to begin at byte 8, where tensor "a" ends (tensors are stored back to back), received [12, 20] (4 bytes unaccounted for before it)');
    const tail = refusal(() => readSafetensors(safetensorsBytes(JSON.stringify({ a: f32([2], 0) }), new Uint8Array(12))));
    expect(tail.message).toBe('weights.safetensors data section: expected 8 bytes (the tensors\' total), received 12 bytes (trailing bytes no tensor owns)');
  });

  it('refuses two header entries of one name (JSON.parse would keep the last)', () => {
    const text = `{"a": ${JSON.stringify(f32([2], 0))}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}, "a": ${JSON.stringify(f32([1], 8))}}`;
    const e = refusal(() => readSafetensors(safetensorsBytes(text, new Uint8Array(12))));
    expect(e.message).toBe('weights.safetensors tensor "a": expected a unique name in the header, received a second entry of that name');
  });

  it('reads names with escapes, and nested metadata, without mistaking them for duplicates', () => {
    const text = `{"__metadata__": {"a": "x", "n": {"a": 1}}, "a\\"b": ${JSON.stringify(f32([1], 0))}, "a": ${JSON.stringify(f32([1], 4))}}`;
    const t = readSafetensors(safetensorsBytes(text, new Uint8Array(8)));
    expect([...t.keys()].sort()).toEqual(['a', 'a"b']);
  });
});

describe('float16 weights', () => {
  it('reads F16 values widened to float32, subnormals and the largest half included', () => {
    const values = [0.5, -2, 65504, 1 / 3, 2 ** -24, -0.1];
    const bytes = float16Safetensors(new Map([['w', { shape: [2, 3], data: Float32Array.from(values) }]]));
    const w = readSafetensors(bytes).get('w')!;
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.data)).toEqual([0.5, -2, 65504, 0.333251953125, 2 ** -24, f16round(-0.1)]);
  });

  it('loads a model stored in F16 as the float32 model with its weights rounded to half', () => {
    const stored = readSafetensors(files.weightsBytes);
    const loaded = modelFromFiles(files.modelJson, float16Safetensors(stored));
    const rounded = new Map<string, Tensor>();
    for (const [name, t] of stored) {
      const want = Float32Array.from(t.data, f16round);
      expect(loaded.weights.get(name)!.data, name).toEqual(want);
      rounded.set(name, { shape: t.shape, data: want });
    }
    const reference = modelFromFiles(files.modelJson, writeSafetensors(rounded));
    const request = goodRequest();
    expect(score(loaded, request).scores).toEqual(score(reference, request).scores);
    // Half precision changes the scores a little, not a lot.
    const full = score(model, request).scores;
    score(loaded, request).scores.forEach((s, i) => expect(Math.abs(s - full[i]!)).toBeLessThan(0.05 * Math.max(1, Math.abs(full[i]!))));
  });

  it('refuses an F16 weight that overflows to Infinity', () => {
    const stored = readSafetensors(files.weightsBytes);
    const w = stored.get('mlp.0.bias')!;
    const data = w.data.slice();
    data[1] = 70000; // beyond the largest half, 65504
    stored.set('mlp.0.bias', { shape: w.shape, data });
    const e = refusal(() => modelFromFiles(files.modelJson, float16Safetensors(stored)));
    expect(e.message).toMatch(/^weights\.safetensors weight "mlp\.0\.bias": expected finite values, received Infinity at flat index 1$/);
  });
});
