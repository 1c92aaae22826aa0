/**
 * The exported vanilla ONNX graph, scored by onnxruntime-node, against the reference engine: every
 * architecture, odd shapes, interleaved fields, pooled and dense fields on both sides, OOV buckets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { modelFromFiles, modelToFiles } from '../src/model/model.js';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.js';
import type { Model } from '../src/model/model.js';
import type { InitOptions } from '../src/model/random.js';
import { randomModel, randomRequest } from '../src/model/random.js';
import type { Field, ModelSpec, SparseField } from '../src/model/spec.js';
import { NATIVE_ARCHITECTURES } from './cases.js';
import type { RequestJson } from '../src/model/request.js';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { onnxFeeds } from '../src/onnx/writer/feeds.js';
import { score } from '../src/engine.js';
import { converters } from './golden/convert.js';

async function ortScores(model: Model, request: RequestJson): Promise<number[]> {
  const session = await ort.InferenceSession.create(exportOnnx(model));
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[name] = new ort.Tensor(f.type, f.data, [...f.dims]);
  const { score: scores } = await session.run(feeds);
  expect(scores!.dims).toEqual([request.candidates.length, 1]);
  return Array.from(scores!.data as Float32Array);
}

/** The largest differences seen, printed at the end. */
const worst = { score: 0, logitRel: 0, golden: 0 };

async function check(model: Model, request: RequestJson): Promise<void> {
  const got = await ortScores(model, request);
  const relative = model.spec.output === 'none';
  for (const plan of ['vanilla', 'rank-aware'] as const) {
    const want = score(model, request, { plan, backend: 'js' }).scores;
    expect(got).toHaveLength(want.length);
    got.forEach((g, i) => {
      const w = want[i]!;
      const abs = Math.abs(g - w);
      const message = `candidate ${i}: onnxruntime ${g} vs reference (${plan} plan) ${w}`;
      if (relative) {
        // Logits can be large: 1e-4 relative (absolute below 1).
        const rel = abs / Math.max(1, Math.abs(w));
        worst.logitRel = Math.max(worst.logitRel, rel);
        expect(rel, message).toBeLessThanOrEqual(1e-4);
      } else {
        worst.score = Math.max(worst.score, abs);
        expect(abs, message).toBeLessThanOrEqual(1e-5);
      }
    });
  }
}

async function checkModel(o: InitOptions, ns: readonly number[] = [1, 7]): Promise<void> {
  const model = randomModel(o);
  for (const n of ns) await check(model, randomRequest(model.spec, n, 100 + n));
  await check(randomModel({ ...o, output: 'none' }), randomRequest(model.spec, 7, 3));
}

const sparse = (name: string, side: 'context' | 'target', dim: number, extra: Partial<SparseField> = {}): Field => ({
  name, type: 'sparse', side, vocab: 50, dim, pooling: 'none', oov: 'error', ...extra,
});
const dense = (name: string, side: 'context' | 'target', dim: number): Field => ({ name, type: 'dense', side, dim });

const withDenseAndPooled: Field[] = [dense('d', 'context', 2), sparse('c', 'context', 4), sparse('t', 'target', 4), sparse('tags', 'target', 4, { pooling: 'sum' })];

describe('exportOnnx vs reference, every architecture', () => {
  it.each([
    ['dlrm', {}],
    ['deepfm', {}],
    ['dcnv2', {}],
    ['dcnv2', { structure: 'parallel', deep: [16], rank: 3 }],
    ['dcnv2', { structure: 'parallel', deep: [16, 8], rank: 0 }],
    ['dcnv2', { structure: 'stacked', rank: 2, layers: 3 }],
    ['rdcn', {}],
    ['autoint', {}],
    ['autoint', { residual: false, scaling: false, dnn: [], layers: 1 }],
    ['autoint', { heads: 3, headDim: 2, layers: 3 }],
    ['rank-attention', {}],
    ['rank-attention', { residual: false, scaling: false, heads: 1, headDim: 5, layers: 3 }],
  ] as const)('%s %j', async (arch, options) => {
    await checkModel({ arch, context: 3, target: 2, dim: 4, mlp: [16, 8], options, seed: 11 });
  });
});

describe('odd shapes', () => {
  const archs = NATIVE_ARCHITECTURES;
  it.each(archs)('%s with K=1, M=1, D=3', async (arch) => {
    await checkModel({ arch, context: 1, target: 1, dim: 3, mlp: [8], seed: 5 });
  });
  it.each(archs)('%s with K=5, M=3, D=5', async (arch) => {
    await checkModel({ arch, context: 5, target: 3, dim: 5, mlp: [12], seed: 6 }, [1, 7, 33]);
  });
});

describe('pooled, dense and OOV fields', () => {
  const pooledFields = [
    sparse('t0', 'target', 4),
    sparse('clicks', 'context', 4, { pooling: 'sum' }),
    sparse('u', 'context', 4, { oov: 'bucket' }),
    sparse('tags', 'target', 4, { pooling: 'mean' }),
    sparse('views', 'context', 4, { pooling: 'mean' }),
    sparse('t1', 'target', 4, { oov: 'bucket' }),
  ];
  const pooledRequest: RequestJson = {
    context: { clicks: [3, 9, 12], u: 77, views: [1, 2] },
    candidates: [
      { t0: 1, tags: [4, 5], t1: -3 },
      { t0: [2], tags: [6, 6], t1: 50 },
      { t0: 49, tags: [0, 49], t1: 7 },
    ],
  };
  it.each(NATIVE_ARCHITECTURES)('%s with pooled sum/mean and OOV buckets', async (arch) => {
    const model = randomModel({ arch, context: 0, target: 0, dim: 4, mlp: [8], fields: pooledFields, seed: 9 });
    await check(model, pooledRequest);
    await check(model, { ...pooledRequest, context: { clicks: [], u: -1, views: [] } });
  });

  type Side = 'context' | 'target';
  const withDense = ([s0, s1, s2]: readonly [Side, Side, Side]) => [
    sparse('c0', 'context', 4),
    dense('d0', s0, 3),
    sparse('t0', 'target', 4),
    dense('d1', s1, 2),
    sparse('c1', 'context', 4),
    dense('d2', s2, 5),
    sparse('t1', 'target', 4),
  ];
  const denseSides = {
    'all context': ['context', 'context', 'context'],
    'all target': ['target', 'target', 'target'],
    mixed: ['context', 'target', 'context'],
  } as const;
  for (const [label, sides] of Object.entries(denseSides)) {
    it(`dlrm with dense fields (${label}), both top inputs and pair orders`, async () => {
      for (const topInput of ['dense+pairs', 'embeddings+pairs'])
        for (const pairOrder of ['dlrm', 'torchrec'])
          await checkModel({ arch: 'dlrm', context: 0, target: 0, dim: 4, fields: withDense(sides), options: { bottomMlp: [6, 4], topMlp: [8], topInput, pairOrder }, seed: 3 });
    });
    it.each(['deepfm', 'dcnv2', 'rdcn', 'autoint'] as const)(`%s with dense fields (${label})`, async (arch) => {
      await checkModel({ arch, context: 0, target: 0, dim: 4, mlp: [8], fields: withDense(sides), seed: 4 });
    });
  }
  it('dcnv2 and rdcn with unequal dims', async () => {
    const fields = [sparse('c0', 'context', 3), sparse('t0', 'target', 5), dense('d', 'target', 2), sparse('c1', 'context', 1)];
    for (const arch of ['dcnv2', 'rdcn'] as const) await checkModel({ arch, context: 0, target: 0, dim: 0, mlp: [8], fields, seed: 8 });
    await checkModel({ arch: 'dcnv2', context: 0, target: 0, dim: 0, mlp: [8], fields, options: { structure: 'parallel', deep: [4], rank: 1 }, seed: 8 });
  });
});

// PyTorch's float64 scores of the golden cases: an oracle independent of this repository's math.
describe('golden cases: exported graph vs PyTorch float64', () => {
  const goldenDir = fileURLToPath(new URL('../../shared/golden/cases/', import.meta.url));
  it.each(Object.keys(converters))('%s', async (name) => {
    const dir = join(goldenDir, name);
    const golden = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { requests: { request: RequestJson; expected: { score_f64: number[] } }[] };
    const converted = converters[name]!(readSafetensors(readFileSync(join(dir, 'weights.safetensors'))));
    const model = modelFromFiles(converted.modelJson, writeSafetensors(converted.tensors));
    for (const { request, expected } of golden.requests) {
      const got = await ortScores(model, request);
      got.forEach((g, i) => expect(Math.abs(g - expected.score_f64[i]!), `candidate ${i}`).toBeLessThanOrEqual(1e-5));
      worst.golden = Math.max(worst.golden, ...got.map((g, i) => Math.abs(g - expected.score_f64[i]!)));
    }
  });
});

describe('graph interface', () => {
  it('is opset 17, IR 8, with inputs named after the fields in declared order and one output "score"', async () => {
    const model = randomModel({ arch: 'dlrm', context: 0, target: 0, dim: 4, fields: withDenseAndPooled, options: { bottomMlp: [4] } });
    const bytes = exportOnnx(model);
    const proto = onnxProto.onnx.ModelProto.decode(bytes);
    expect(Number(proto.irVersion)).toBe(8);
    expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['d', 'c', 't', 'tags']);
    expect(session.outputNames).toEqual(['score']);
    const feeds = onnxFeeds(model.spec, { context: { d: [0.5, -1], c: 3 }, candidates: [{ t: 1, tags: [1, 2, 3] }, { t: 2, tags: [4, 5, 6] }] });
    expect(Object.entries(feeds).map(([name, f]) => [name, f.type, f.dims])).toEqual([
      ['d', 'float32', [1, 2]],
      ['c', 'int64', [1]],
      ['t', 'int64', [2]],
      ['tags', 'int64', [2, 3]],
    ]);
  });
});

describe('layout and bad input', () => {
  // Weights are canonical in memory: a model saved in the transposed layouts and loaded back exports the
  // same graph. Square matrices (dcnv2 cross, rdcn streams, attention projections) are the telling case.
  it.each([
    ['dcnv2', { rank: 0 }],
    ['rdcn', {}],
    ['autoint', { projectionLayout: 'out_in' }],
  ] as const)('%s saved in the in_out layouts exports the same graph', async (arch, options) => {
    const model = randomModel({ arch, context: 2, target: 2, dim: 4, mlp: [4], options, seed: 2 });
    const flipped = {
      ...model.spec,
      linearLayout: 'in_out',
      options: { ...model.spec.options, ...('projectionLayout' in model.spec.options ? { projectionLayout: 'in_out' } : {}) },
    } as ModelSpec;
    const files = modelToFiles({ spec: flipped, weights: model.weights });
    const reloaded = modelFromFiles(files.modelJson, files.weightsBytes);
    expect(exportOnnx(reloaded)).toEqual(exportOnnx({ spec: flipped, weights: model.weights }));
    await check(reloaded, randomRequest(model.spec, 7));
  });
  it('refuses a field named like a weight rather than let the input override the initializer', () => {
    const model = randomModel({ arch: 'deepfm', context: 0, target: 0, dim: 4, fields: [sparse('c', 'context', 4), sparse('output.bias', 'target', 4)] });
    expect(() => exportOnnx(model)).toThrow(/"output\.bias" is defined twice/);
  });
  it('refuses ragged pooled target lists, naming the field', () => {
    const model = randomModel({ arch: 'dlrm', context: 0, target: 0, dim: 4, fields: [sparse('c', 'context', 4), sparse('tags', 'target', 4, { pooling: 'sum' })] });
    expect(() => onnxFeeds(model.spec, { context: { c: 1 }, candidates: [{ tags: [1, 2] }, { tags: [3] }] })).toThrow(/request\.candidates\[1\]\.tags: expected a list of 2 ids/);
  });
});

describe('summary', () => {
  it('reports the largest differences', () => {
    const e = (x: number) => x.toExponential(2);
    console.log(`onnxruntime vs reference: scores ${e(worst.score)} abs, logits ${e(worst.logitRel)} rel; vs golden PyTorch float64: ${e(worst.golden)} abs`);
  });
});
