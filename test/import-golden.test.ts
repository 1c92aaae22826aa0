/**
 * The six architectures imported from ONNX run compiled: the golden PyTorch graphs score within 1e-5 of
 * score_f64 on wasm and js, rank-aware and vanilla (WebGPU: test/onnx-webgpu.test.ts); every export-onnx
 * round trip of a native model (all architectures, odd shapes, every option) compiles to the native plan's
 * scores with its architecture's rewrite (`rankaware bench --suite compiled` times the two side by side);
 * graphs edited off the textbook form (an extra op, pairs in another order) are as exact; the CLI runs an
 * imported directory on every command.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { score } from '../src/engine.js';
import { importOnnx } from '../src/onnx/model.js';
import { runCli } from './helpers.js';
import { createScorer, loadImportedDir } from '../src/node.js';
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

/** Every golden graph and the rewrites its rank-aware plan must use (what the native plan of its architecture does). */
const GOLDEN: Record<string, readonly string[]> = {
  dlrm: ['pair-products', 'split-linear'],
  dlrm_flat: ['pair-products', 'split-linear'],
  dcnv2_stacked: ['split-linear'],
  dcnv2_parallel_lowrank: ['split-linear'],
  rdcn: ['split-linear'],
  deepfm: ['fm-split', 'split-linear'],
  autoint: ['attention-lse', 'row-projection'],
};

describe('golden PyTorch graphs compiled, within 1e-5 of score_f64', () => {
  for (const [name, rewrites] of Object.entries(GOLDEN))
    it(`${name}: ${rewrites.join(', ')}`, () => {
      const model = importOnnx(goldenBytes(name), { context: 'ctx_' });
      expect([...new Set(model.program.rewrites.map((r) => r.kind))].sort()).toEqual([...rewrites].sort());
      const c = goldenCase(name);
      for (const req of c.requests) {
        const request = renamed(c, req.request);
        for (const engine of ['js', 'wasm'] as const)
          for (const plan of ['rank-aware', 'vanilla'] as const) {
            const { scores } = model.score(request, plan, engine);
            expect(scores).toHaveLength(req.n);
            scores.forEach((s, i) => expect(Math.abs(s - req.expected.score_f64[i]!), `${engine} ${plan} candidate ${i}`).toBeLessThanOrEqual(1e-5));
            if (req.n >= 5) expect(scores[2]).toBe(scores[3]);
          }
      }
    });
});

/** The rewrite that carries each architecture's rank-aware saving (rank-attention's context stream is context by rank alone). */
const DECOMPOSITION: Record<string, string> = { dlrm: 'pair-products', deepfm: 'fm-split', autoint: 'attention-lse', dcnv2: 'split-linear', rdcn: 'split-linear', 'rank-attention': 'split-linear' };

describe('export-onnx round trips of the native models compile to their scores', () => {
  const cases = equivalenceCases();
  it('covers the six architectures', () => {
    expect(new Set(cases.map((c) => c.model.spec.architecture)).size).toBe(6);
  });
  for (const c of cases) {
    it(c.name, () => {
      const spec = c.model.spec;
      const context = spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
      const imported = importOnnx(exportOnnx(c.model), { context });
      for (const backend of ['js', 'wasm'] as const) {
        const want = score(c.model, c.request, { backend, plan: 'rank-aware' }).scores;
        const got = imported.score(c.request, 'rank-aware', backend).scores;
        got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${backend} candidate ${i}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!))));
      }
      // Its architecture's decomposition, found by the rewrites and passes (no architecture matcher).
      expect(imported.program.rewrites.map((r) => r.kind)).toContain(DECOMPOSITION[spec.architecture]);
    });
  }
});

// ----- graphs off the textbook form ----------------------------------------------------------------

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

describe('graphs edited off the textbook form are as exact (against onnxruntime)', () => {
  const c = equivalenceCases().find((x) => x.model.spec.architecture === 'dlrm' && x.request.candidates.length > 3)!;
  const context = c.model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
  const check = async (bytes: Uint8Array) => {
    const imported = importOnnx(bytes, { context });
    const want = await ortScores(bytes, c.model, c.request);
    for (const engine of ['js', 'wasm'] as const)
      for (const plan of ['rank-aware', 'vanilla'] as const) imported.score(c.request, plan, engine).scores.forEach((s, i) => expect(Math.abs(s - want[i]!), `${engine} ${plan}`).toBeLessThanOrEqual(1e-5));
    return imported;
  };

  it('an extra op on the logit (logit * 2)', async () => {
    await check(
      edit(exportOnnx(c.model), (g) => {
        const last = g.node!.find((n) => n.output!.includes('score'))!;
        const logit = last.input![0]!;
        g.initializer!.push({ name: 'two', dataType: 1, dims: [], floatData: [2] });
        g.node!.splice(g.node!.indexOf(last), 0, { opType: 'Mul', name: 'double', input: [logit, 'two'], output: ['doubled'] });
        last.input = ['doubled'];
      }),
    );
  });

  it('pair indices in neither DLRM nor TorchRec order: still pair-products', async () => {
    const imported = await check(
      edit(exportOnnx(c.model), (g) => {
        const select = g.node!.find((n) => n.opType === 'Gather' && n.attribute?.some((a) => a.name === 'axis' && Number(a.i) === 1))!;
        const idx = g.initializer!.find((t) => t.name === select.input![1])!;
        const raw = idx.rawData!;
        const values = new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        idx.rawData = new Uint8Array(values.reverse().buffer);
      }),
    );
    expect(imported.program.rewrites.map((r) => r.kind)).toContain('pair-products');
  });
});

// ----- CLI and createScorer ----------------------------------------------------------------------

describe('CLI: an imported golden DLRM on every command', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rankaware-import-golden-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = runCli;

  it('import, score (wasm, js, threads, interpret), bench, inspect, export-onnx and createScorer', async () => {
    const c = goldenCase('dlrm');
    const model = join(dir, 'dlrm');
    // A native model.json left by an earlier version's import must not outlive a new import.
    await run('import', '--onnx', join(goldenDir, 'dlrm', 'model.onnx'), '--context', 'ctx_', '--out', model);
    await writeFile(join(model, 'model.json'), '{}');
    const imported = await run('import', '--onnx', join(goldenDir, 'dlrm', 'model.onnx'), '--context', 'ctx_', '--out', model);
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toMatch(/compiled onto float32 kernels .*graph passes: pair-runs at .*rewrites: .*pair-products/);
    await expect(readFile(join(model, 'model.json'))).rejects.toThrow();
    const requestFile = join(dir, 'request.json');
    const request = renamed(c, c.requests[2]!.request);
    const expected = c.requests[2]!.expected.score_f64;
    await writeFile(requestFile, JSON.stringify(request));
    for (const extra of [['--backend', 'wasm'], ['--backend', 'js'], ['--backend', 'wasm', '--threads', '2'], ['--plan', 'vanilla'], ['--plan', 'interpret']]) {
      const scored = await run('score', '--model', model, '--request', requestFile, ...extra);
      expect(scored.code, scored.err).toBe(0);
      const out = JSON.parse(scored.out) as { scores: number[]; backend: string; path: string; threads?: number };
      expect(out.path, extra.join(' ')).toBe(extra.includes('interpret') ? 'interpreter' : 'compiled');
      if (extra.includes('--threads')) expect(out.threads).toBe(2);
      out.scores.forEach((s, i) => expect(Math.abs(s - expected[i]!), extra.join(' ')).toBeLessThanOrEqual(1e-5));
    }
    const bench = await run('bench', '--model', model, '--n', '8', '--backend', 'wasm', '--json', '--seconds', '0.1');
    expect(bench.code, bench.err).toBe(0);
    expect(bench.out).toContain('"plan":"rank-aware"');
    const inspected = await run('inspect', '--model', model, '--n', '64');
    expect(inspected.code, inspected.err).toBe(0);
    expect(inspected.out).toContain('pair-products');
    expect(inspected.out).toContain('compiled onto float32 kernels');
    const exported = join(dir, 'exported.onnx');
    const wrote = await run('export-onnx', '--model', model, '--out', exported);
    expect(wrote.code, wrote.err).toBe(0);
    expect(Buffer.compare(await readFile(exported), await readFile(join(goldenDir, 'dlrm', 'model.onnx')))).toBe(0);
    const scorer = await createScorer(await loadImportedDir(model), { threads: 2 });
    try {
      const result = await scorer.score(request);
      result.scores.forEach((s, i) => expect(Math.abs(s - expected[i]!)).toBeLessThanOrEqual(1e-5));
    } finally {
      scorer.dispose();
    }
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ context: { ...request.context, ctx_user_id: 100 }, candidates: request.candidates }));
    const bad = await run('score', '--model', model, '--request', join(dir, 'bad.json'), '--backend', 'wasm');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: request\.context\.ctx_user_id: .*100/);
  });
});
