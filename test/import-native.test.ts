/**
 * Imported graphs recognized as one of the architectures run natively (plan IR: js, wasm, the worker
 * pool): the golden PyTorch graphs score within 1e-5 of score_f64 on wasm; export-onnx round trips map
 * back to the very weights and options of the native model; graphs that are not one of the six (an extra
 * op, other pair indices) stay on the interpreter with the reason; the CLI says which path ran.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { score } from '../src/engine.js';
import { loadBackend } from '../src/backends/select.js';
import { importOnnx } from '../src/onnx/model.js';
import { runCli } from './helpers.js';
import { createScorer } from '../src/scheduler/scorer.js';
import { loadModelDir } from '../src/node.js';
import { onnxFeeds } from '../src/onnx/writer/feeds.js';
import type { Model } from '../src/index.js';
import { equivalenceCases } from './cases.js';
import { goldenDir } from './golden/cases.js';

const { ModelProto } = onnxProto.onnx;

interface GoldenCase {
  readonly dense: { readonly name: string; readonly onnx_input: string } | null;
  readonly fields: readonly { readonly name: string; readonly onnx_input: string }[];
  readonly requests: readonly { readonly n: number; readonly request: { context: Record<string, unknown>; candidates: Record<string, unknown>[] }; readonly expected: { readonly score_f64: readonly number[] } }[];
}

/** A golden request keyed by the graph's input names. */
function renamed(c: GoldenCase, request: GoldenCase['requests'][number]['request']) {
  const names = new Map(c.fields.map((f) => [f.name, f.onnx_input]));
  if (c.dense) names.set(c.dense.name, c.dense.onnx_input);
  const rename = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [names.get(k)!, v]));
  return { context: rename(request.context), candidates: request.candidates.map(rename) };
}

const goldenCase = (name: string) => JSON.parse(readFileSync(join(goldenDir, name, 'case.json'), 'utf8')) as GoldenCase;
const goldenBytes = (name: string) => new Uint8Array(readFileSync(join(goldenDir, name, 'model.onnx')));

/** Every golden graph and the architecture the recognizer maps it to. */
const NATIVE: Record<string, string> = {
  dlrm: 'dlrm',
  dlrm_flat: 'dlrm',
  dcnv2_stacked: 'dcnv2',
  dcnv2_parallel_lowrank: 'dcnv2',
  rdcn: 'rdcn',
  deepfm: 'deepfm',
  autoint: 'autoint',
};

beforeAll(async () => {
  // The wasm kernels must load here: every native check below runs on them too.
  expect((await loadBackend('wasm')).name).toBe('wasm');
});

describe('golden PyTorch graphs run natively on wasm within 1e-5 of score_f64', () => {
  it('the golden cases are present', () => {
    for (const name of Object.keys(NATIVE)) expect(existsSync(join(goldenDir, name, 'model.onnx')), name).toBe(true);
  });
  for (const [name, arch] of Object.entries(NATIVE)) {
    it(`${name} is recognized as ${arch}`, () => {
      const imported = importOnnx(goldenBytes(name), { context: 'ctx_' });
      const r = imported.recognition;
      if (!r.native) throw new Error(`not recognized: ${r.reason}`);
      expect(r.architecture).toBe(arch);
      expect(r.probeError).toBeLessThanOrEqual(1e-9);
      const c = goldenCase(name);
      for (const req of c.requests) {
        const request = renamed(c, req.request);
        for (const backend of ['js', 'wasm'] as const)
          for (const plan of ['rank-aware', 'vanilla'] as const) {
            const { scores } = score(r.model, request, { backend, plan });
            expect(scores).toHaveLength(req.n);
            scores.forEach((s, i) => expect(Math.abs(s - req.expected.score_f64[i]!), `${backend} ${plan} candidate ${i}`).toBeLessThanOrEqual(1e-5));
            if (req.n >= 5) expect(scores[2]).toBe(scores[3]);
          }
      }
    });
  }
});

describe('export-onnx round trip maps back to the native model', () => {
  const cases = equivalenceCases();
  it('covers the six architectures', () => {
    expect(new Set(cases.map((c) => c.model.spec.architecture)).size).toBe(6);
  });
  for (const c of cases) {
    const spec = c.model.spec;
    // Every architecture is recognized, except DCNv2 without cross layers (an MLP alone: not read as dcnv2).
    const expected = spec.architecture !== 'dcnv2' || spec.options.layers > 0;
    it(`${c.name}: ${expected ? 'native, same weights and options' : 'interpreter, with the reason'}`, () => {
      const context = spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
      const r = importOnnx(exportOnnx(c.model), { context }).recognition;
      if (!expected) {
        expect(r.native).toBe(false);
        if (!r.native) expect(r.reason).toContain('not dcnv2:');
        return;
      }
      if (!r.native) throw new Error(`not recognized: ${r.reason}`);
      expect(r.model.spec.architecture).toBe(spec.architecture);
      expect(r.model.spec.options).toEqual(spec.options);
      expect(r.model.spec.output).toBe(spec.output);
      expect(new Set(r.model.spec.fields)).toEqual(new Set(spec.fields));
      expect([...r.model.weights.keys()].sort()).toEqual([...c.model.weights.keys()].sort());
      for (const [name, w] of c.model.weights) {
        const got = r.model.weights.get(name)!;
        expect(got.shape, name).toEqual(w.shape);
        expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), name).toBe(true);
      }
      // The attention graphs hold sqrt(headDim) as a float32 constant: the probe check allows 1e-6 (measured below 1e-8).
      expect(r.probeError).toBeLessThanOrEqual(1e-6);
      for (const backend of ['js', 'wasm'] as const) {
        const want = score(c.model, c.request, { backend, plan: 'rank-aware' }).scores;
        const got = score(r.model, c.request, { backend, plan: 'rank-aware' }).scores;
        got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${backend} candidate ${i}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want[i]!))));
      }
    });
  }
});

// ----- graphs that are not one of the six ------------------------------------------------------

/** Edit an ONNX graph in place through onnx-proto and re-encode it. */
function edit(bytes: Uint8Array, change: (graph: import('onnx-proto').onnx.IGraphProto) => void): Uint8Array {
  const model = ModelProto.decode(bytes);
  change(model.graph!);
  return ModelProto.encode(model).finish();
}

async function ortScores(bytes: Uint8Array, model: Model, request: unknown): Promise<number[]> {
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[name] = new ort.Tensor(f.type, f.data, [...f.dims]);
  const out = await session.run(feeds);
  return Array.from(out.score!.data as Float32Array);
}

describe('graphs that are not one of the six stay on the interpreter, with the reason', () => {
  const c = equivalenceCases().find((x) => x.model.spec.architecture === 'dlrm' && x.request.candidates.length > 3)!;
  const context = c.model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);

  it('an extra op on the logit (logit * 2)', async () => {
    const bytes = edit(exportOnnx(c.model), (g) => {
      const last = g.node!.find((n) => n.output!.includes('score'))!;
      const logit = last.input![0]!;
      g.initializer!.push({ name: 'two', dataType: 1, dims: [], floatData: [2] });
      g.node!.splice(g.node!.indexOf(last), 0, { opType: 'Mul', name: 'double', input: [logit, 'two'], output: ['doubled'] });
      last.input = ['doubled'];
    });
    const imported = importOnnx(bytes, { context });
    const r = imported.recognition;
    expect(r.native).toBe(false);
    if (!r.native) expect(r.reason).toContain('found Mul "double"');
    const want = await ortScores(bytes, c.model, c.request);
    imported.score(c.request).scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
  });

  it('pair indices in neither DLRM nor TorchRec order', async () => {
    const bytes = edit(exportOnnx(c.model), (g) => {
      const select = g.node!.find((n) => n.opType === 'Gather' && n.attribute?.some((a) => a.name === 'axis' && Number(a.i) === 1))!;
      const idx = g.initializer!.find((t) => t.name === select.input![1])!;
      const raw = idx.rawData!;
      const values = new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      idx.rawData = new Uint8Array(values.reverse().buffer);
    });
    const imported = importOnnx(bytes, { context });
    const r = imported.recognition;
    expect(r.native).toBe(false);
    if (!r.native) expect(r.reason).toContain("the pairs in DLRM's (li, lj) or TorchRec's triu order");
    const want = await ortScores(bytes, c.model, c.request);
    imported.score(c.request).scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
  });
});

describe('attention and FM graphs that are not the architecture stay on the interpreter, with the reason', () => {
  const pick = (arch: string) => equivalenceCases().find((x) => x.model.spec.architecture === arch && x.request.candidates.length > 3)!;
  /** Replace the scalar input of the first `op` node reading one with `value`. */
  const rescale = (bytes: Uint8Array, op: string, value: number) =>
    edit(bytes, (g) => {
      const scalars = new Set(g.initializer!.filter((t) => (t.dims ?? []).length === 0 && t.dataType === 1).map((t) => t.name));
      const node = g.node!.find((n) => n.opType === op && n.input!.some((i) => scalars.has(i)))!;
      g.initializer!.push({ name: 'edited_scalar', dataType: 1, dims: [], floatData: [value] });
      node.input = node.input!.map((i) => (scalars.has(i) ? 'edited_scalar' : i));
    });
  const cases: [string, string, number, string][] = [
    ['autoint', 'Div', 3, 'scores divided by sqrt(headDim)'],
    ['rank-attention', 'Div', 3, 'scores divided by sqrt(headDim)'],
    ['deepfm', 'Mul', 0.25, 'FM: Mul "'],
  ];
  for (const [arch, op, value, reason] of cases) {
    it(`${arch} with its ${op} constant changed to ${value}`, async () => {
      const c = pick(arch);
      const context = c.model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
      const bytes = rescale(exportOnnx(c.model), op, value);
      const imported = importOnnx(bytes, { context });
      const r = imported.recognition;
      expect(r.native).toBe(false);
      if (!r.native) expect(r.reason).toContain(`not ${arch}: `);
      if (!r.native) expect(r.reason.split(`not ${arch}: `)[1]).toContain(reason);
      const want = await ortScores(bytes, c.model, c.request);
      imported.score(c.request).scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
    });
  }
});

// ----- CLI and the worker pool -----------------------------------------------------------------

describe('CLI: an imported directory says which path ran', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rankaware-import-native-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = runCli;

  it('a recognized golden DLRM: score --backend wasm, threads, bench, inspect and createScorer run it natively', async () => {
    const c = goldenCase('dlrm');
    const model = join(dir, 'dlrm');
    const imported = await run('import', '--onnx', join(goldenDir, 'dlrm', 'model.onnx'), '--context', 'ctx_', '--out', model);
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toMatch(/^recognized as dlrm: wrote the native model/);
    const requestFile = join(dir, 'request.json');
    const request = renamed(c, c.requests[2]!.request);
    await writeFile(requestFile, JSON.stringify(request));
    for (const extra of [[], ['--threads', '2']]) {
      const scored = await run('score', '--model', model, '--request', requestFile, '--backend', 'wasm', ...extra);
      expect(scored.code, scored.err).toBe(0);
      const out = JSON.parse(scored.out) as { scores: number[]; backend: string; path: string; import: string };
      expect(out).toMatchObject({ backend: 'wasm', path: 'native' });
      expect(out.import).toMatch(/^recognized as dlrm at import/);
      out.scores.forEach((s, i) => expect(Math.abs(s - c.requests[2]!.expected.score_f64[i]!)).toBeLessThanOrEqual(1e-5));
    }
    const bench = await run('bench', '--model', model, '--n', '8', '--backend', 'wasm', '--json', '--seconds', '0.1');
    expect(bench.code, bench.err).toBe(0);
    expect(bench.out).toContain('"plan":"rank-aware"');
    const inspected = await run('inspect', '--model', model, '--n', '64');
    expect(inspected.code, inspected.err).toBe(0);
    expect(inspected.out).toContain('recognized as dlrm: scored natively on the plan IR');
    expect(inspected.out).toMatch(/dot interaction\s+-> pairs/);
    expect(inspected.out).toContain('== main_graph (dlrm), plan rank-aware');
    const scorer = await createScorer(await loadModelDir(model), { backend: 'wasm', threads: 2 });
    try {
      const result = await scorer.score(request);
      result.scores.forEach((s, i) => expect(Math.abs(s - c.requests[2]!.expected.score_f64[i]!)).toBeLessThanOrEqual(1e-5));
    } finally {
      scorer.dispose();
    }
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ context: { ...request.context, ctx_user_id: 100 }, candidates: request.candidates }));
    const bad = await run('score', '--model', model, '--request', join(dir, 'bad.json'), '--backend', 'wasm');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: request\.context\.ctx_user_id: .*100/);
  });

  it('a recognized golden DeepFM and AutoInt score natively on wasm', async () => {
    for (const name of ['deepfm', 'autoint']) {
      const c = goldenCase(name);
      const model = join(dir, name);
      const imported = await run('import', '--onnx', join(goldenDir, name, 'model.onnx'), '--context', 'ctx_', '--out', model);
      expect(imported.code, imported.err).toBe(0);
      expect(imported.out).toMatch(new RegExp(`^recognized as ${name}: wrote the native model`));
      const requestFile = join(dir, `${name}-request.json`);
      await writeFile(requestFile, JSON.stringify(renamed(c, c.requests[1]!.request)));
      const scored = await run('score', '--model', model, '--request', requestFile, '--backend', 'wasm');
      expect(scored.code, scored.err).toBe(0);
      const out = JSON.parse(scored.out) as { scores: number[]; backend: string; path: string };
      expect(out).toMatchObject({ backend: 'wasm', path: 'native' });
      out.scores.forEach((s, i) => expect(Math.abs(s - c.requests[1]!.expected.score_f64[i]!)).toBeLessThanOrEqual(1e-5));
      const inspected = await run('inspect', '--model', model, '--n', '64');
      expect(inspected.code, inspected.err).toBe(0);
      expect(inspected.out).toMatch(name === 'deepfm' ? /FM\s+-> fm/ : /interacting layers\s+-> attention/);
    }
  });

  it('a graph that is not recognized is compiled: it reports its engine, path compiled and why; --plan interpret the interpreter', async () => {
    // The golden DeepFM with its FM scaled by 0.25 instead of 0.5: not DeepFM any more.
    const c = goldenCase('deepfm');
    const model = join(dir, 'deepfm-edited');
    const onnxFile = join(dir, 'deepfm-edited.onnx');
    const bytes = edit(goldenBytes('deepfm'), (g) => {
      const mul = g.node!.find((n) => n.name === '/fm/Mul_1')!;
      g.initializer!.push({ name: 'quarter', dataType: 1, dims: [], floatData: [0.25] });
      mul.input = [mul.input![0]!, 'quarter'];
    });
    await writeFile(onnxFile, bytes);
    const imported = await run('import', '--onnx', onnxFile, '--context', 'ctx_', '--out', model);
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toMatch(/^not recognized as one of the six architectures, so it is compiled onto float32 kernels \(--plan interpret: the float64 interpreter\): not dlrm: /);
    expect(existsSync(join(model, 'model.json'))).toBe(false);
    const requestFile = join(dir, 'deepfm-request.json');
    await writeFile(requestFile, JSON.stringify(renamed(c, c.requests[1]!.request)));
    const scored = await run('score', '--model', model, '--request', requestFile, '--backend', 'wasm');
    expect(scored.code, scored.err).toBe(0);
    const out = JSON.parse(scored.out) as { scores: number[]; backend: string; path: string; reason: string };
    expect(out).toMatchObject({ backend: 'wasm', path: 'compiled' });
    expect(out.reason).toMatch(/not recognized as one of the six architectures \(not dlrm: .*not deepfm: FM: Mul "\/fm\/Mul_1" by 0\.5/);
    const interpreted = JSON.parse((await run('score', '--model', model, '--request', requestFile, '--plan', 'interpret')).out) as typeof out;
    expect(interpreted).toMatchObject({ backend: 'js', path: 'interpreter' });
    interpreted.scores.forEach((s, i) => expect(Math.abs(s - out.scores[i]!)).toBeLessThanOrEqual(1e-5));
    const session = await ort.InferenceSession.create(bytes);
    const request = renamed(c, c.requests[1]!.request);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of Object.keys(request.context)) feeds[name] = new ort.Tensor('int64', BigInt64Array.from([BigInt(request.context[name] as number)]), [1]);
    for (const name of Object.keys(request.candidates[0]!)) feeds[name] = new ort.Tensor('int64', BigInt64Array.from(request.candidates.map((x) => BigInt(x[name] as number))), [request.candidates.length]);
    const want = (await session.run(feeds)).score!.data as Float32Array;
    out.scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
  });
});
