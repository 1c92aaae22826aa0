/**
 * `rankaware export-triton` (src/onnx/triton): the generated Triton model repository is checked as far as
 * this machine can without tritonserver. Its config.pbtxt files parse as protobuf text format (a small
 * parser here); each composing model's model.onnx loads in onnxruntime-node with exactly the inputs and
 * outputs its config declares; the ensemble, executed step by step as its ensemble_scheduling says (input
 * and output maps), scores within 1e-5 of the vanilla graph on onnxruntime, and every tensor it passes
 * has the shape its config states (-1 matching any size). Native architectures, din (a history), an
 * onnx-zoo graph and a golden PyTorch graph; the KServe manifest; the CLI and its refusals.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { compileModel, importOnnx, randomModel, saveModelDir } from '../src/node.js';
import type { ImportedModel } from '../src/node.js';
import type { Value } from '../src/onnx/interpreter/tensor.js';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { KSERVE_MANIFEST, tritonRepository } from '../src/onnx/triton/repository.js';
import { dnsLabel } from '../src/onnx/triton/kserve.js';
import { enumValue, toTextFormat } from '../src/onnx/triton/text-format.js';
import { runCli } from './helpers.js';

const TOLERANCE = 1e-5;
const zoo = fileURLToPath(new URL('../../shared/onnx-zoo/', import.meta.url));
const golden = fileURLToPath(new URL('../../shared/golden/cases/', import.meta.url));
const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };

type Text = string | number | boolean | { enum: string } | TextObject | Text[];
interface TextObject {
  [k: string]: Text;
}

/** Protobuf text format, as much as config.pbtxt uses: fields, nested messages, [lists], strings with escapes. */
function parseTextFormat(text: string): TextObject {
  const tokens = (text.match(/"(?:[^"\\]|\\.)*"|#[^\n]*|[{}[\],:]|[^\s{}[\],:"#]+/g) ?? []).filter((t) => !t.startsWith('#'));
  let at = 0;
  const value = (): Text => {
    const t = tokens[at++]!;
    if (t === '{') return message('}');
    if (t === '[') {
      const list: Text[] = [];
      while (tokens[at] !== ']') {
        list.push(value());
        if (tokens[at] === ',') at++;
      }
      at++;
      return list;
    }
    if (t.startsWith('"')) return JSON.parse(t.replace(/\\([0-7]{3})/g, (_, o) => `\\u${parseInt(o, 8).toString(16).padStart(4, '0')}`)) as string;
    if (t === 'true' || t === 'false') return t === 'true';
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    return { enum: t };
  };
  const message = (end: string | undefined): TextObject => {
    const m: TextObject = {};
    while (at < tokens.length && tokens[at] !== end) {
      const name = tokens[at++]!;
      if (tokens[at] === ':') at++;
      const v = value();
      // A repeated field written twice appends (map entries, repeated messages).
      if (name in m) m[name] = [...(Array.isArray(m[name]) ? (m[name] as Text[]) : [m[name]!]), ...(Array.isArray(v) ? v : [v])];
      else m[name] = v;
    }
    at++;
    return m;
  };
  return message(undefined);
}

const list = (v: Text | undefined): TextObject[] => (v === undefined ? [] : Array.isArray(v) ? (v as TextObject[]) : [v as TextObject]);
const ORT_TYPES: Record<string, string> = { TYPE_FP32: 'float32', TYPE_INT64: 'int64', TYPE_BOOL: 'bool' };

function tensor(v: Value): ort.Tensor {
  if (v.dtype === 'float') return new ort.Tensor('float32', Float32Array.from(v.data), [...v.shape]);
  if (v.dtype === 'int') return new ort.Tensor('int64', BigInt64Array.from(v.data, (x) => BigInt(x)), [...v.shape]);
  return new ort.Tensor('bool', Uint8Array.from(v.data), [...v.shape]);
}

function expectShape(t: ort.Tensor, spec: TextObject, what: string): void {
  const dims = spec.dims as number[];
  expect(t.dims.length, `${what}: rank`).toBe(dims.length);
  dims.forEach((d, i) => {
    if (d !== -1) expect(t.dims[i], `${what}: dim ${i}`).toBe(d);
  });
  expect(t.type, `${what}: datatype`).toBe(ORT_TYPES[(spec.data_type as { enum: string }).enum]);
}

/** Run the repository's ensemble as Triton would: each step's model on its inputs by input_map, outputs by output_map. */
async function runEnsemble(files: ReadonlyMap<string, string | Uint8Array>, name: string, request: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const config = (model: string) => parseTextFormat(files.get(`${model}/config.pbtxt`) as string);
  const ensemble = config(name);
  expect(ensemble).toMatchObject({ name, platform: 'ensemble', max_batch_size: 0 });
  for (const input of list(ensemble.input)) {
    expect(request[input.name as string], `ensemble input ${input.name}`).toBeDefined();
    expectShape(request[input.name as string]!, input, `ensemble input ${input.name}`);
  }
  expect(Object.keys(request).sort()).toEqual(list(ensemble.input).map((i) => i.name as string).sort());
  const tensors: Record<string, ort.Tensor> = { ...request };
  for (const step of list((ensemble.ensemble_scheduling as TextObject).step)) {
    const model = step.model_name as string;
    const c = config(model);
    expect(c).toMatchObject({ name: model, platform: 'onnxruntime_onnx', max_batch_size: 0 });
    expect(list(c.instance_group)).toHaveLength(1);
    const session = await ort.InferenceSession.create(files.get(`${model}/1/model.onnx`) as Uint8Array, options);
    // The config declares exactly the graph's inputs and outputs.
    expect(list(c.input).map((i) => i.name).sort(), `${model} inputs`).toEqual([...session.inputNames].sort());
    expect(list(c.output).map((o) => o.name).sort(), `${model} outputs`).toEqual([...session.outputNames].sort());
    const feeds: Record<string, ort.Tensor> = {};
    for (const entry of list(step.input_map)) feeds[entry.key as string] = tensors[entry.value as string]!;
    for (const input of list(c.input)) expectShape(feeds[input.name as string]!, input, `${model} input ${input.name}`);
    const out = await session.run(feeds);
    for (const output of list(c.output)) expectShape(out[output.name as string]!, output, `${model} output ${output.name}`);
    for (const entry of list(step.output_map)) tensors[entry.value as string] = out[entry.key as string]!;
    await session.release();
  }
  const output = list(ensemble.output)[0]!;
  expectShape(tensors[output.name as string]!, output, `ensemble output ${output.name}`);
  return tensors[output.name as string]!;
}

async function vanillaOnOrt(bytes: Uint8Array, m: ImportedModel, request: unknown): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, options);
  const encoded = m.encode(request);
  const all = new Map([...encoded.context, ...encoded.candidates]);
  return (await session.run(Object.fromEntries(session.inputNames.map((name) => [name, tensor(all.get(name)!)]))))[session.outputNames[0]!]!.data as Float32Array;
}

/** The repository's ensemble scores equal the vanilla graph's on onnxruntime, for each request. */
async function checkRepository(m: ImportedModel, vanilla: Uint8Array, requests: readonly unknown[]): Promise<void> {
  const repo = tritonRepository(m);
  for (const request of requests) {
    const encoded = m.encode(request);
    const feeds = Object.fromEntries([...encoded.context, ...encoded.candidates].map(([name, v]) => [name, tensor(v)]));
    const got = (await runEnsemble(repo.files, repo.name, feeds)).data as Float32Array;
    const want = await vanillaOnOrt(vanilla, m, request);
    expect(got.length, m.name).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${m.name}, candidate ${i}`).toBeLessThanOrEqual(TOLERANCE);
  }
}

describe('export-triton: the Triton model repository', () => {
  it('native architectures: the ensemble scores as the vanilla graph on onnxruntime (N = 1, 7, 300)', async () => {
    for (const arch of ['dlrm', 'dcnv2', 'autoint', 'rdcn', 'deepfm'] as const) {
      const model = randomModel({ arch, context: 3, target: 2, dim: 6, seed: 3 });
      const m = compileModel(model);
      await checkRepository(m, exportOnnx(model), [1, 7, 300].map((n) => m.randomRequest(n, n, 4)));
    }
  }, 120_000);

  it('din and bst: the history tensors at their length (0, 5, 30 items); a zoo DIN graph', async () => {
    for (const arch of ['din', 'bst'] as const) {
      const model = randomModel({ arch, context: 2, target: 2, dim: 6, seed: 4, history: 40, ...(arch === 'bst' ? { options: { heads: 2 } } : {}) });
      const m = compileModel(model);
      await checkRepository(m, exportOnnx(model), [[3, 0], [9, 5], [4, 30]].map(([n, length]) => m.randomRequest(n!, n! + 1, length!)));
      expect(tritonRepository(m).context.inputs.find((t) => t.name === 'history')?.dims).toEqual([1, -1]);
    }
    const bytes = new Uint8Array(readFileSync(join(zoo, 'din', 'model.onnx')));
    const din = importOnnx(bytes, { context: 'ctx_' });
    await checkRepository(din, bytes, [din.randomRequest(12, 3, 7)]);
  }, 60_000);

  it('an onnx-zoo graph and a golden PyTorch graph', async () => {
    const zooBytes = readFileSync(join(zoo, 'two_tower', 'model.onnx'));
    const zooModel = importOnnx(zooBytes, { context: 'ctx_' });
    await checkRepository(zooModel, zooBytes, [2, 33].map((n) => zooModel.randomRequest(n, n, 3)));
    const bytes = new Uint8Array(readFileSync(join(golden, 'dcnv2_stacked', 'model.onnx')));
    const goldenModel = importOnnx(bytes, { context: 'ctx_' });
    await checkRepository(goldenModel, bytes, [goldenModel.randomRequest(16, 5, 3)]);
  }, 60_000);

  it('the KServe manifest serves the repository on the Triton runtime over the v2 protocol, with the response cache', () => {
    const m = compileModel(randomModel({ arch: 'dlrm', context: 2, target: 1, dim: 4, seed: 9 }));
    const cpu = tritonRepository(m, { name: 'Ranker_v2.1', storageUri: 's3://bucket/ranker', cacheMb: 16 });
    const yaml = cpu.files.get(KSERVE_MANIFEST) as string;
    expect(yaml).toMatch(/^apiVersion: serving\.kserve\.io\/v1beta1$/m);
    expect(yaml).toMatch(/^kind: InferenceService$/m);
    expect(yaml).toMatch(/^ {2}name: ranker-v2-1$/m);
    expect(yaml).toMatch(/modelFormat:\n\s+name: triton\n\s+protocolVersion: v2\n\s+storageUri: "s3:\/\/bucket\/ranker"/);
    expect(yaml).toContain(`"--cache-config=local,size=${16 * 1024 * 1024}"`);
    expect(yaml).not.toContain('nvidia.com/gpu');
    expect(yaml).toMatch(/\/v2\/models\/Ranker_v2\.1\/infer/);
    const gpu = tritonRepository(m, { device: 'gpu', instances: 2 });
    expect(gpu.files.get(KSERVE_MANIFEST)).toContain('nvidia.com/gpu: "1"');
    const config = parseTextFormat(gpu.files.get(`${gpu.name}_candidates/config.pbtxt`) as string);
    expect(config.instance_group).toEqual([{ kind: { enum: 'KIND_GPU' }, count: 2 }]);
    expect(parseTextFormat(gpu.files.get(`${gpu.name}_context/config.pbtxt`) as string).response_cache).toEqual({ enable: true });
    expect(dnsLabel('--A__b--')).toBe('a-b');
    expect(() => tritonRepository(m, { name: 'a/b' })).toThrow(/--name: expected a Triton model name/);
    expect(() => tritonRepository(m, { device: 'tpu' as 'gpu' })).toThrow(/--device: expected "cpu" or "gpu", received "tpu"/);
  });

  it('text format: strings escaped, enums bare, lists and nested messages', () => {
    const text = toTextFormat({ name: 'a"b\\c é', kind: enumValue('KIND_CPU'), dims: [1, -1], nested: { on: true }, list: [{ x: 1 }, { x: 2 }], empty: [] });
    expect(text).toBe('name: "a\\"b\\\\c \\303\\251"\nkind: KIND_CPU\ndims: [ 1, -1 ]\nnested {\n  on: true\n}\nlist [\n  {\n    x: 1\n  },\n  {\n    x: 2\n  }\n]\n');
    expect(parseTextFormat(text)).toEqual({ name: 'a"b\\c Ã©', kind: { enum: 'KIND_CPU' }, dims: [1, -1], nested: { on: true }, list: [{ x: 1 }, { x: 2 }] });
  });

  it('CLI: export-triton writes the repository from a model directory and refuses bad options in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rankaware-triton-'));
    await saveModelDir(randomModel({ arch: 'dcnv2', context: 2, target: 2, dim: 4, seed: 2 }), join(dir, 'model'));
    const r = await runCli('export-triton', '--model', join(dir, 'model'), '--out', join(dir, 'repo'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/ensemble dcnv2-K2-M2-D4 = dcnv2-K2-M2-D4_context .* then dcnv2-K2-M2-D4_candidates/);
    const names = (await readdir(join(dir, 'repo'))).sort();
    expect(names).toEqual(['dcnv2-K2-M2-D4', 'dcnv2-K2-M2-D4_candidates', 'dcnv2-K2-M2-D4_context', KSERVE_MANIFEST]);
    expect((await readdir(join(dir, 'repo', 'dcnv2-K2-M2-D4_context', '1')))).toEqual(['model.onnx']);
    for (const [args, error] of [
      [['--device', 'tpu'], /^error: --device: expected "cpu" or "gpu", received "tpu"$/m],
      [['--instances', '0'], /^error: --instances: expected an integer >= 1, received "0"$/im],
      [['--cache-mb', 'lots'], /^error: --cache-mb: expected a positive number of MiB, received "lots"$/im],
    ] as const) {
      const bad = await runCli('export-triton', '--model', join(dir, 'model'), '--out', join(dir, 'bad'), ...args);
      expect(bad.code).toBe(1);
      expect(bad.err.trim().split('\n')).toHaveLength(1);
      expect(bad.err).toMatch(error);
    }
  }, 60_000);
});
