/**
 * ONNX import: the PyTorch-exported golden graphs score within 1e-5 of PyTorch's float64 scores, rank-aware;
 * our own export of all six architectures round-trips to the native scores; hand-built graphs for each
 * rewrite pattern agree with onnxruntime-node on the original graph; unsupported ops and bad requests are
 * refused with errors that name the node or the field.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { GraphBuilder } from '../src/onnx/writer/graph.js';
import { erf } from '../src/onnx/interpreter/ops.js';
import { score } from '../src/engine.js';
import { importOnnx } from '../src/onnx/model.js';
import type { ImportedModel } from '../src/onnx/model.js';
import { importReport } from '../src/onnx/report.js';
import type { RewriteKind } from '../src/onnx/interpreter/rewrite-parts.js';
import { equivalenceCases } from './cases.js';
import { goldenDir } from './golden/cases.js';
import { refusal, runCli } from './helpers.js';

interface GoldenCase {
  readonly dense: { readonly name: string; readonly onnx_input: string } | null;
  readonly fields: readonly { readonly name: string; readonly side: string; readonly onnx_input: string }[];
  readonly requests: readonly {
    readonly n: number;
    readonly request: { readonly context: Record<string, unknown>; readonly candidates: readonly Record<string, unknown>[] };
    readonly expected: { readonly score_f64: readonly number[] };
  }[];
}

const golden = existsSync(goldenDir) ? readdirSync(goldenDir).filter((d) => existsSync(join(goldenDir, d, 'model.onnx'))).sort() : [];

/** A golden request with its keys renamed to the graph's input names (case.json's onnx_input). */
function renamed(c: GoldenCase, request: GoldenCase['requests'][number]['request']) {
  const names = new Map(c.fields.map((f) => [f.name, f.onnx_input]));
  if (c.dense) names.set(c.dense.name, c.dense.onnx_input);
  const rename = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [names.get(k)!, v]));
  return { context: rename(request.context), candidates: request.candidates.map(rename) };
}

describe('golden cases: PyTorch exports import and score within 1e-5 of score_f64', () => {
  it('finds the seven golden graphs', () => {
    expect(golden).toEqual(['autoint', 'dcnv2_parallel_lowrank', 'dcnv2_stacked', 'deepfm', 'dlrm', 'dlrm_flat', 'rdcn']);
  });
  // The rewrites each PyTorch graph must get (the context-only work beyond them runs once by rank alone).
  const expectedRewrites: Record<string, RewriteKind[]> = {
    dlrm: ['split-linear', 'pair-products'],
    dlrm_flat: ['split-linear', 'pair-products'],
    dcnv2_stacked: ['split-linear'],
    dcnv2_parallel_lowrank: ['split-linear', 'split-linear'],
    // DeepCTR's head-first attention: the block merged by log-sum-exp reads the stacked rows itself, so only the residual projection stays.
    autoint: ['row-projection', 'attention-lse'],
    deepfm: ['split-linear', 'fm-split'],
    rdcn: ['split-linear'],
  };
  for (const name of golden) {
    it(name, () => {
      const c = JSON.parse(readFileSync(join(goldenDir, name, 'case.json'), 'utf8')) as GoldenCase;
      const model = importOnnx(readFileSync(join(goldenDir, name, 'model.onnx')), { context: 'ctx_' });
      expect(model.inputs.filter((i) => i.side === 'context').map((i) => i.name)).toEqual(c.fields.filter((f) => f.side === 'context').map((f) => f.onnx_input).concat(c.dense ? [c.dense.onnx_input] : []).sort((a, b) => model.inputs.findIndex((i) => i.name === a) - model.inputs.findIndex((i) => i.name === b)));
      expect(model.program.rewrites.map((r) => r.kind).sort()).toEqual([...expectedRewrites[name]!].sort());
      for (const r of c.requests) {
        const request = renamed(c, r.request);
        // Compiled (wasm and js engines) and on the float64 interpreter.
        for (const [plan, engine] of [['rank-aware', 'wasm'], ['vanilla', 'wasm'], ['rank-aware', 'js'], ['interpret', 'js']] as const) {
          const { scores } = model.score(request, plan, engine);
          expect(scores).toHaveLength(r.n);
          scores.forEach((s, i) => expect(Math.abs(s - r.expected.score_f64[i]!), `${plan} ${engine} candidate ${i}`).toBeLessThanOrEqual(1e-5));
          if (r.n >= 5) expect(scores[2]).toBe(scores[3]);
        }
      }
      const report = importReport(model, 256);
      expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
    });
  }
});

describe('round trip: export-onnx of all six architectures imports to the native scores', () => {
  const cases = equivalenceCases();
  it('covers the six architectures', () => {
    expect(new Set(cases.map((c) => c.model.spec.architecture)).size).toBe(6);
  });
  for (const c of cases) {
    it(c.name, () => {
      const context = c.model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
      const imported = importOnnx(exportOnnx(c.model), { context });
      const native = score(c.model, c.request, { plan: 'rank-aware', backend: 'js' }).scores;
      for (const plan of ['rank-aware', 'vanilla'] as const) {
        const got = imported.score(c.request, plan).scores;
          // 1e-6: the exported graph holds some constants as float32 (sqrt(headDim)), the native plan as float64.
        got.forEach((g, i) => expect(Math.abs(g - native[i]!) / Math.max(1, Math.abs(native[i]!)), `${plan} candidate ${i}: ${g} vs ${native[i]}`).toBeLessThanOrEqual(1e-6));
      }
      const report = importReport(imported, 256);
      const spec = c.model.spec;
      expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
      // The FM and AutoInt's first attention layer are decomposed as blocks.
      if (spec.architecture === 'deepfm') expect(imported.program.rewrites.map((r) => r.kind)).toContain('fm-split');
      if (spec.architecture === 'autoint') expect(imported.program.rewrites.map((r) => r.kind)).toContain('attention-lse');
    });
  }
});

// ----- hand-built graphs ------------------------------------------------------------------------

/** Seeded float32 values in [-1, 1). */
function floats(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround(s / 2 ** 31 - 1);
  });
}

/** Builds a graph with a float context input `u` [1, 3], a context id `c` [1], a candidate id `item` [N]. */
function base() {
  const g = new GraphBuilder();
  g.input('u', 'float32', [1, 3]);
  g.input('c', 'int64', [1]);
  g.input('item', 'int64', ['N']);
  const rows = g.op('Concat', [g.op('Shape', ['item']), g.int64s([1])], { axis: 0 });
  const cEmb = g.op('Gather', [g.floats('ctx_table', floats(40, 1), [10, 4]), 'c']);
  const tEmb = g.op('Gather', [g.floats('item_table', floats(48, 2), [12, 4]), 'item']);
  return { g, rows, cEmb, tEmb, u: 'u' };
}

const request = (n: number) => ({
  context: { u: [0.5, -1.25, 2], c: 7 },
  candidates: Array.from({ length: n }, (_, i) => ({ item: (i * 5) % 12 })),
});

async function ortScores(bytes: Uint8Array, req: ReturnType<typeof request>): Promise<number[]> {
  const session = await ort.InferenceSession.create(bytes);
  const n = req.candidates.length;
  const out = await session.run({
    u: new ort.Tensor('float32', Float32Array.from(req.context.u), [1, 3]),
    c: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.context.c)), [1]),
    item: new ort.Tensor('int64', BigInt64Array.from(req.candidates.map((c) => BigInt(c.item))), [n]),
  });
  return Array.from(Object.values(out)[0]!.data as Float32Array);
}

async function checkGraph(bytes: Uint8Array, rewrites: RewriteKind[]): Promise<ImportedModel> {
  const model = importOnnx(bytes, { context: ['u', 'c'] });
  expect(model.program.rewrites.map((r) => r.kind).sort()).toEqual([...rewrites].sort());
  // The compiled plans lower every rewrite, on every engine (webgpu's is compiled on first use, below).
  for (const engine of ['wasm', 'js'] as const) expect(model.compiled(engine).staged.rewrites.map((r) => r.kind).sort(), `the rewrites lowered on ${engine}`).toEqual([...rewrites].sort());
  for (const n of [1, 2, 7]) {
    const want = await ortScores(bytes, request(n));
    // Compiled on both engines, and on the float64 interpreter (every rewrite).
    for (const [plan, engine] of [['rank-aware', 'wasm'], ['vanilla', 'wasm'], ['rank-aware', 'js'], ['vanilla', 'js'], ['interpret', 'js'], ['interpret-vanilla', 'js']] as const) {
      const got = model.score(request(n), plan, engine).scores;
      expect(got).toHaveLength(n);
      got.forEach((s, i) => expect(Math.abs(s - want[i]!), `${plan} ${engine} N=${n} candidate ${i}: ${s} vs onnxruntime ${want[i]}`).toBeLessThanOrEqual(1e-5));
    }
    // WebGPU (Dawn on SwiftShader here), float32 throughout: 1e-4.
    for (const plan of ['rank-aware', 'vanilla'] as const) {
      const got = await model.scoreAsync(request(n), plan, 'webgpu');
      expect(got.backend, got.reason).toBe('webgpu');
      got.scores.forEach((s, i) => expect(Math.abs(s - want[i]!), `${plan} webgpu N=${n} candidate ${i}: ${s} vs onnxruntime ${want[i]}`).toBeLessThanOrEqual(1e-4));
    }
  }
  return model;
}

describe('hand-built graphs, one per pattern, against onnxruntime-node', () => {
  it('MLP (Gemm, transB) on concat(context broadcast by Expand, candidate embedding): split-linear', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const x = g.op('Concat', [g.op('Expand', [u, rows]), tEmb, g.op('Expand', [cEmb, rows])], { axis: 1 });
    const h = g.op('Relu', [g.op('Gemm', [x, g.floats('w1', floats(55, 3), [5, 11]), g.floats('b1', floats(5, 4), [5])], { transB: 1 })]);
    const y = g.op('Sigmoid', [g.op('MatMul', [h, g.floats('w2', floats(5, 5), [5, 1])])]);
    g.output('score', y, 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('mlp', ''), ['split-linear']);
    const report = importReport(model, 100);
    const gemm = report.nodes.find((n) => n.op === 'Gemm')!;
    // 7 of 11 input columns are context: saved 2*7*5 FLOPs per candidate but one (plus the bias adds, moved once).
    expect(gemm.flopsVanilla).toBe(100 * (2 * 11 * 5 + 5));
    expect(gemm.flopsRankAware).toBe(2 * 7 * 5 + 5 + 100 * (2 * 4 * 5 + 5));
  });

  it('LayerNormalization (opset 17) on the context alone (once) and on mixed rows (per candidate); a Scale that does not broadcast is refused naming the node', async () => {
    const { g, rows, tEmb, u } = base();
    const ctxNorm = g.op('LayerNormalization', [u, g.floats('ln_c_scale', floats(3, 7), [3]), g.floats('ln_c_bias', floats(3, 8), [3])], { axis: -1, epsilon: 1e-3 });
    const x = g.op('Concat', [g.op('Expand', [u, rows]), tEmb], { axis: 1 });
    const mixed = g.op('LayerNormalization', [x, g.floats('ln_scale', floats(7, 9), [7]), g.floats('ln_bias', floats(7, 10), [7])], { axis: -1 });
    const h = g.op('Concat', [mixed, g.op('Expand', [ctxNorm, rows])], { axis: 1 });
    const y = g.op('Sigmoid', [g.op('MatMul', [h, g.floats('w', floats(10, 11), [10, 1])])]);
    g.output('score', y, 'float32', ['N', 1]);
    await checkGraph(g.encode('layernorm', ''), ['split-linear']);

    const bad = base();
    const wrong = bad.g.op('LayerNormalization', [bad.tEmb, bad.g.floats('ln_scale', floats(3, 12), [3])], { axis: -1 });
    bad.g.output('score', bad.g.op('ReduceSum', [wrong, bad.g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    expect(() => importOnnx(bad.g.encode('bad-layernorm', ''), { context: ['u', 'c'] })).toThrow(/^node "[^"]*" \(LayerNormalization\): expected Scale broadcastable to the normalized shape \[4\], received shape \[3\]$/);
  });

  it('BatchNormalization (inference), Softplus, Clip, LogSoftmax, ReduceMax/Min/Prod/L2 on context and mixed rows', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const pos = (n: number, seed: number) => Float32Array.from(floats(n, seed), (v) => Math.fround(0.5 + Math.abs(v)));
    const bn = g.op('BatchNormalization', [tEmb, g.floats('bn_scale', floats(4, 13), [4]), g.floats('bn_b', floats(4, 14), [4]), g.floats('bn_mean', floats(4, 15), [4]), g.floats('bn_var', pos(4, 16), [4])], { epsilon: 1e-3 });
    const x = g.op('Concat', [g.op('Expand', [u, rows]), bn, g.op('Expand', [cEmb, rows])], { axis: 1 });
    const clipped = g.op('Clip', [g.op('Softplus', [x]), g.floats('lo', Float32Array.of(0.1), []), g.floats('hi', Float32Array.of(1.5), [])]);
    const logp = g.op('LogSoftmax', [x], { axis: -1 });
    // Opset 17: these reductions take their axes as an attribute (an input from opset 18).
    const reductions = ['ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2'].map((op) => g.op(op, [x], { axes: [1], keepdims: 1 }));
    const ctxMax = g.op('Expand', [g.op('ReduceMax', [u], { axes: [1], keepdims: 1 }), rows]);
    const h = g.op('Concat', [clipped, logp, ...reductions, ctxMax], { axis: 1 });
    g.output('score', g.op('MatMul', [h, g.floats('w', floats(27, 17), [27, 1])]), 'float32', ['N', 1]);
    await checkGraph(g.encode('more-ops', ''), ['split-linear']);
  });

  it("GELU as torch exports it at opset 17 (x * 0.5 * (1 + Erf(x / sqrt 2))); Erf to float64 precision", async () => {
    const cases: [number, number][] = [[0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [-1.5, -0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014], [5, 0.9999999999984626], [7, 1], [-40, -1]];
    for (const [x, want] of cases) expect(Math.abs(erf(x) - want), `erf(${x})`).toBeLessThanOrEqual(1e-15);
    const { g, rows, tEmb, u } = base();
    const x = g.op('Gemm', [g.op('Concat', [g.op('Expand', [u, rows]), tEmb], { axis: 1 }), g.floats('w1', floats(42, 18), [6, 7]), g.floats('b1', floats(6, 19), [6])], { transB: 1 });
    const gelu = g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [g.scalar(1), g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])])])]);
    g.output('score', g.op('MatMul', [gelu, g.floats('w2', floats(6, 20), [6, 1])]), 'float32', ['N', 1]);
    await checkGraph(g.encode('gelu', ''), ['split-linear']);
  });

  it("DeepCTR's DNN input Flatten(Concat([N, 1, D] pieces, axis -1)) into a Gemm: split-linear", async () => {
    const { g, rows, cEmb, tEmb } = base();
    const piece = (e: string) => g.op('Unsqueeze', [e, g.int64s([1])]);
    const x = g.op('Flatten', [g.op('Concat', [g.op('Expand', [piece(cEmb), g.op('Concat', [rows, g.int64s([4])], { axis: 0 })]), piece(tEmb)], { axis: -1 })], { axis: 1 });
    const h = g.op('Relu', [g.op('Gemm', [x, g.floats('w1', floats(40, 31), [5, 8]), g.floats('b1', floats(5, 32), [5])], { transB: 1 })]);
    g.output('score', g.op('MatMul', [h, g.floats('w2', floats(5, 33), [5, 1])]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('flatten-concat', ''), ['split-linear']);
    expect(model.program.rewrites[0]!.what).toMatch(/^4 of 8 input columns are context/);
  });

  it.each(['none', 'tanh'])('Gelu (opset 20, approximate %s) on mixed rows', async (approximate) => {
    const { g, rows, tEmb, u } = base();
    const x = g.op('Gemm', [g.op('Concat', [g.op('Expand', [u, rows]), tEmb], { axis: 1 }), g.floats('w1', floats(42, 18), [6, 7]), g.floats('b1', floats(6, 19), [6])], { transB: 1 });
    const h = g.op('Gelu', [x], { approximate });
    g.output('score', g.op('MatMul', [h, g.floats('w2', floats(6, 20), [6, 1])]), 'float32', ['N', 1]);
    await checkGraph(g.encode('gelu20', '', 20), ['split-linear']);
  });

  it('Einsum as CIN, a bilinear interaction and attention scores write it (explicit and implicit outputs); an ellipsis is refused', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const x = g.op('Reshape', [g.op('Concat', [g.op('Expand', [cEmb, rows]), tEmb], { axis: 1 }), g.int64s([-1, 2, 4])]);
    const z = g.op('Reshape', [g.op('Einsum', [x, x], { equation: 'bhd,bmd->bhmd' }), g.int64s([-1, 4, 4])]);
    const cin = g.op('ReduceSum', [g.op('Einsum', [z, g.floats('cin_w', floats(12, 25), [3, 4])], { equation: 'bkd,ok->bod' }), g.int64s([2])], { keepdims: 0 });
    const bilinear = g.op('Unsqueeze', [g.op('Einsum', [g.op('Expand', [cEmb, rows]), g.floats('bil_w', floats(16, 26), [4, 4]), tEmb], { equation: 'bi,ij,bj->b' }), g.int64s([1])]);
    const scores = g.op('Flatten', [g.op('Einsum', [x, x], { equation: 'bqd, bkd -> bqk' })], { axis: 1 });
    const implicit = g.op('Einsum', [tEmb, g.floats('imp_w', floats(8, 27), [4, 2])], { equation: 'ij,jk' });
    const h = g.op('Concat', [cin, bilinear, scores, implicit], { axis: 1 });
    g.output('score', g.op('MatMul', [h, g.floats('w', floats(10, 28), [10, 1])]), 'float32', ['N', 1]);
    await checkGraph(g.encode('einsum', ''), []);

    const bad = base();
    bad.g.output('score', bad.g.op('Einsum', [bad.tEmb], { equation: '...d->...' }), 'float32', ['N', 1]);
    expect(() => importOnnx(bad.g.encode('bad-einsum', ''), { context: ['u', 'c'] })).toThrow(/^node "[^"]*" \(Einsum\): expected an equation without an ellipsis \("\.\.\."\), received "\.\.\.d->\.\.\."$/);
  });

  it('Conv 1x1 (CIN and FiBiNET as Conv1d, kernel size 1) and GatherElements; a wider kernel is refused', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const x = g.op('Reshape', [g.op('Concat', [g.op('Expand', [cEmb, rows]), tEmb], { axis: 1 }), g.int64s([-1, 2, 4])]);
    const conv = g.op('Conv', [x, g.floats('conv_w', floats(6, 29), [3, 2, 1]), g.floats('conv_b', floats(3, 30), [3])], { kernel_shape: [1] });
    const picked = g.op('GatherElements', [tEmb, g.op('Expand', [g.int64s([3, -4]), g.op('Concat', [g.op('Shape', [tEmb], { start: 0, end: 1 }), g.int64s([2])], { axis: 0 })])], { axis: 1 });
    const h = g.op('Concat', [g.op('Flatten', [conv], { axis: 1 }), picked], { axis: 1 });
    g.output('score', g.op('MatMul', [h, g.floats('w', floats(14, 31), [14, 1])]), 'float32', ['N', 1]);
    await checkGraph(g.encode('conv-gather', ''), []);

    const bad = base();
    const bx = bad.g.op('Reshape', [bad.tEmb, bad.g.int64s([-1, 1, 4])]);
    bad.g.output('score', bad.g.op('ReduceSum', [bad.g.op('Conv', [bx, bad.g.floats('w3', floats(3, 32), [1, 1, 3])]), bad.g.int64s([1, 2])], { keepdims: 0 }), 'float32', ['N']);
    expect(() => importOnnx(bad.g.encode('bad-conv', ''), { context: ['u', 'c'] })).toThrow(/^node "[^"]*" \(Conv\): expected a 1x1 convolution \(kernel of ones, unit strides and dilations, no padding, one group\), received weights \[1, 1, 3\] on an input \[\d+, 1, 4\]$/);
  });

  it('Tile as the broadcast, MatMul + Add as the layer, Tanh and ReduceMean: split-linear', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const x = g.op('Concat', [tEmb, g.op('Tile', [cEmb, rows])], { axis: 1 });
    const h = g.op('Tanh', [g.op('Add', [g.op('MatMul', [x, g.floats('w', floats(24, 6), [8, 3])]), g.floats('b', floats(3, 7), [3])])]);
    g.output('score', g.op('ReduceMean', [h], { axes: [1], keepdims: 1 }), 'float32', ['N', 1]);
    await checkGraph(g.encode('tile', ''), ['split-linear']);
  });

  it('DLRM dot interaction (stack, X X^T, Gather on an index list): pair-products, and the top layer split', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const dense = g.op('Relu', [g.op('MatMul', [g.op('Expand', [u, rows]), g.floats('bot', floats(12, 8), [3, 4])])]);
    const flat = g.op('Concat', [dense, tEmb, g.op('Expand', [cEmb, rows])], { axis: 1 });
    const x = g.op('Reshape', [flat, g.int64s([-1, 3, 4])]);
    const z = g.op('MatMul', [x, g.op('Transpose', [x], { perm: [0, 2, 1] })]);
    const pairs = g.op('Gather', [g.op('Reshape', [z, g.int64s([-1, 9])]), g.int64s([3, 6, 7])], { axis: 1 });
    const top = g.op('Gemm', [g.op('Concat', [dense, pairs], { axis: 1 }), g.floats('top', floats(7, 9), [7, 1]), g.floats('top_b', floats(1, 10), [1])]);
    g.output('score', g.op('Sigmoid', [top]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('dlrm', ''), ['pair-products', 'split-linear']);
    const mm = importReport(model, 50).nodes.find((n) => n.rewrite === 'pair-products')!;
    expect(mm.flopsVanilla).toBe(50 * 2 * 9 * 4);
    expect(mm.flopsRankAware).toBe(2 * 4 * 4 + 50 * 2 * (9 - 4) * 4);
  });

  it('DLRM pairs with the context fields first: pair-runs gathers the context pairs from the context rows alone, once, and the top layer takes them as context columns', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const dense = g.op('Relu', [g.op('MatMul', [g.op('Expand', [u, rows]), g.floats('bot', floats(12, 81), [3, 4])])]);
    const t1 = g.op('Gather', [g.floats('item2_table', floats(48, 82), [12, 4]), 'item']);
    const x = g.op('Reshape', [g.op('Concat', [dense, g.op('Expand', [cEmb, rows]), tEmb, t1], { axis: 1 }), g.int64s([-1, 4, 4])]);
    const z = g.op('MatMul', [x, g.op('Transpose', [x], { perm: [0, 2, 1] })]);
    // DLRM's (li, lj) order, i > j: (1, 0) is the one context pair.
    const pairs = g.op('Gather', [g.op('Reshape', [z, g.int64s([-1, 16])]), g.int64s([4, 8, 9, 12, 13, 14])], { axis: 1 });
    const top = g.op('Gemm', [g.op('Concat', [dense, pairs], { axis: 1 }), g.floats('top', floats(10, 83), [10, 1]), g.floats('top_b', floats(1, 84), [1])]);
    g.output('score', g.op('Sigmoid', [top]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('dlrm-context-first', ''), ['pair-products', 'split-linear']);
    expect(model.staged.folds.map((f) => f.pass)).toEqual(['pair-runs']);
    expect(model.staged.folds[0]!.what).toBe('6 selected pairs of 4 stacked vectors (D = 4) in 2 runs: 1 context-context pairs from the 2 context rows\' products, once');
    const split = model.program.rewrites.find((r) => r.kind === 'split-linear')!;
    // dense (4 columns) and the context pair (1) are once; the 5 other pairs per candidate.
    expect(split.parts.filter((p) => p.once).reduce((a, p) => a + p.width, 0)).toBe(5);
  });

  it('TorchRec CrossNet layer (W @ x.unsqueeze(2) + b, x0 * . + x): split-linear on the first layer', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const x0 = g.op('Unsqueeze', [g.op('Concat', [g.op('Expand', [cEmb, rows]), tEmb], { axis: 1 }), g.int64s([2])]);
    const gate = g.op('Add', [g.op('MatMul', [g.floats('k0', floats(64, 11), [8, 8]), x0]), g.floats('b0', floats(8, 12), [8, 1])]);
    const x1 = g.op('Add', [g.op('Mul', [x0, gate]), x0]);
    const gate1 = g.op('Add', [g.op('MatMul', [g.floats('k1', floats(64, 13), [8, 8]), x1]), g.floats('b1', floats(8, 14), [8, 1])]);
    const x2 = g.op('Squeeze', [g.op('Add', [g.op('Mul', [x0, gate1]), x1]), g.int64s([2])]);
    g.output('score', g.op('ReduceSum', [x2, g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    await checkGraph(g.encode('cross', ''), ['split-linear']);
  });

  it('self-attention over stacked fields (Q/K/V projections, Softmax): row-projection of the context rows', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const x = g.op('Concat', [unsq(g.op('Expand', [cEmb, rows])), unsq(tEmb), unsq(g.op('Expand', [g.op('Slice', [cEmb, g.int64s([0]), g.int64s([4]), g.int64s([1])]), rows]))], { axis: 1 });
    const proj = (seed: number) => g.op('MatMul', [x, g.floats(`w${seed}`, floats(16, seed), [4, 4])]);
    const q = proj(21);
    const k = proj(22);
    const v = proj(23);
    const att = g.op('Softmax', [g.op('Div', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), g.scalar(2)])], { axis: -1 });
    const o = g.op('Relu', [g.op('MatMul', [att, v])]);
    g.output('score', g.op('Sigmoid', [g.op('ReduceSum', [g.op('Flatten', [o], { axis: 1 }), g.int64s([1])], { keepdims: 1 })]), 'float32', ['N', 1]);
    await checkGraph(g.encode('attention', ''), ['row-projection', 'row-projection', 'row-projection']);
  });

  it('DeepFM FM 0.5 * ((sum e)^2 - sum e^2), DeepCTR style (Pow, keepdims): fm-split, the context sums once', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const c2 = g.op('Gather', [g.floats('ctx2_table', floats(40, 41), [10, 4]), 'c']);
    const e = g.op('Concat', [unsq(g.op('Expand', [cEmb, rows])), unsq(tEmb), unsq(g.op('Expand', [c2, rows]))], { axis: 1 });
    const square = g.op('Pow', [g.op('ReduceSum', [e, g.int64s([1])], { keepdims: 1 }), g.scalar(2)]);
    const sumSq = g.op('ReduceSum', [g.op('Mul', [e, e]), g.int64s([1])], { keepdims: 1 });
    const fm = g.op('Mul', [g.op('ReduceSum', [g.op('Sub', [square, sumSq]), g.int64s([2])], { keepdims: 0 }), g.scalar(0.5)]);
    g.output('score', g.op('Sigmoid', [fm]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('fm', ''), ['fm-split']);
    const report = importReport(model, 100);
    const sub = report.nodes.find((n) => n.rewrite === 'fm-split')!;
    // 2 of 3 field vectors (D = 4) are context: their sum and sum of squares once (3 FLOPs per value).
    expect(sub.flopsRankAware).toBe(3 * 2 * 4 + 100 * (3 * 1 * 4 + 2 * 4));
    // The block's sums and squares are part of the rewrite: not run on their own.
    expect(report.nodes.filter((n) => n.op === 'Pow').map((n) => n.rank)).toEqual(['not run']);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('multi-head self-attention over mixed rows (Reshape/Transpose heads, scaled): attention-lse, the context block once', async () => {
    const { g, rows, cEmb, tEmb } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const c2 = g.op('Gather', [g.floats('ctx2_table', floats(40, 42), [10, 4]), 'c']);
    const x = g.op('Concat', [unsq(g.op('Expand', [cEmb, rows])), unsq(tEmb), unsq(g.op('Expand', [c2, rows]))], { axis: 1 });
    const heads = (p: string, permutation: number[]) => g.op('Transpose', [g.op('Reshape', [p, g.int64s([-1, 3, 2, 3])])], { perm: permutation });
    const proj = (seed: number) => g.op('MatMul', [x, g.floats(`w${seed}`, floats(24, seed), [4, 6])]);
    const scores = g.op('Div', [g.op('MatMul', [heads(proj(31), [0, 2, 1, 3]), heads(proj(32), [0, 2, 3, 1])]), g.scalar(Math.sqrt(3))]);
    const o = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), heads(proj(33), [0, 2, 1, 3])]);
    const merged = g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 2, 1, 3] }), g.int64s([-1, 3, 6])]);
    const y = g.op('Relu', [g.op('Add', [merged, g.op('MatMul', [x, g.floats('wres', floats(24, 34), [4, 6])])])]);
    g.output('score', g.op('Sigmoid', [g.op('ReduceSum', [g.op('Flatten', [y], { axis: 1 }), g.int64s([1])], { keepdims: 1 })]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('mha', ''), ['attention-lse', 'row-projection']);
    const report = importReport(model, 100);
    const att = report.nodes.find((n) => n.rewrite === 'attention-lse')!;
    // kc = 2, kt = 1 of f = 3 rows, d = 4, width 6.
    expect(att.flopsRankAware).toBe(6 * 2 * 4 * 6 + 4 * 2 * 2 * 6 + 100 * (6 * 1 * 4 * 6 + 4 * 2 * 1 * 6 + 4 * 1 * 3 * 6 + 4 * 2 * 6));
    // The Q/K/V projections and the score MatMul are part of the block: not run on their own.
    expect(report.nodes.filter((n) => n.op === 'Softmax').map((n) => n.rank)).toEqual(['not run']);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('PNN inner products, DeepCTR style (cat of the pairs\' fields, sum(p * q)): concat-pieces computes the context pairs once', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const ctx = (v: string) => unsq(g.op('Expand', [v, rows]));
    const c1 = g.op('MatMul', [u, g.floats('wu', floats(12, 51), [3, 4])]);
    const c2 = g.op('Gather', [g.floats('ctx2_table', floats(40, 52), [10, 4]), 'c']);
    const t1 = g.op('Gather', [g.floats('item2_table', floats(48, 53), [12, 4]), 'item']);
    // Fields in an interleaved order: context, context, candidate, context, candidate.
    const fields = [ctx(cEmb), ctx(c1), unsq(tEmb), ctx(c2), unsq(t1)];
    const pairs: [number, number][] = [];
    for (let i = 0; i < fields.length; i++) for (let j = i + 1; j < fields.length; j++) pairs.push([i, j]);
    const p = g.op('Concat', pairs.map(([i]) => fields[i]!), { axis: 1 });
    const q = g.op('Concat', pairs.map(([, j]) => fields[j]!), { axis: 1 });
    const inner = g.op('Flatten', [g.op('ReduceSum', [g.op('Mul', [p, q]), g.int64s([2])], { keepdims: 1 })], { axis: 1 });
    const linear = g.op('Flatten', [g.op('Concat', fields, { axis: 1 })], { axis: 1 });
    const x = g.op('Concat', [inner, linear], { axis: 1 });
    const h = g.op('Relu', [g.op('Gemm', [x, g.floats('w1', floats(150, 54), [5, 30]), g.floats('b1', floats(5, 55), [5])], { transB: 1 })]);
    g.output('score', g.op('Sigmoid', [g.op('MatMul', [h, g.floats('w2', floats(5, 56), [5, 1])])]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('pnn', ''), ['split-linear']);
    expect(model.staged.folds.map((f) => f.pass)).toEqual(['concat-pieces', 'concat-pieces']);
    const report = importReport(model, 100);
    // 3 of the 10 pairs are context-context: their products and sums are once, and so are their Gemm columns.
    expect(report.nodes.filter((n) => n.op === 'ReduceSum' && n.rank === 'once')).toHaveLength(3);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('FiBiNET bilinear products of torch.split fields (Split of the stacked fields): the context pairs once', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const ctx = (v: string) => unsq(g.op('Expand', [v, rows]));
    const c1 = g.op('MatMul', [u, g.floats('wu', floats(12, 61), [3, 4])]);
    const t1 = g.op('Gather', [g.floats('item2_table', floats(48, 62), [12, 4]), 'item']);
    const stacked = g.op('Concat', [ctx(cEmb), ctx(c1), unsq(tEmb), unsq(t1)], { axis: 1 });
    const fields = g.opOutputs('Split', [stacked, g.int64s([1, 1, 1, 1])], 4, { axis: 1 });
    const w = g.floats('bilinear', floats(16, 63), [4, 4]);
    const products: string[] = [];
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) products.push(g.op('Mul', [g.op('MatMul', [fields[i]!, w]), fields[j]!]));
    const x = g.op('Flatten', [g.op('Concat', products, { axis: 1 })], { axis: 1 });
    const h = g.op('Relu', [g.op('Gemm', [x, g.floats('w1', floats(120, 64), [5, 24]), g.floats('b1', floats(5, 65), [5])], { transB: 1 })]);
    g.output('score', g.op('Sigmoid', [g.op('MatMul', [h, g.floats('w2', floats(5, 66), [5, 1])])]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('fibinet', ''), ['split-linear']);
    expect(model.staged.folds.map((f) => f.pass)).toEqual(['concat-pieces']);
    // Fields 0 and 1 are context: their bilinear product (one of six) is once, and its Gemm columns.
    expect(importReport(model, 100).nodes.filter((n) => n.op === 'Mul' && n.rank === 'once')).toHaveLength(1);
  });

  it("xDeepFM's CIN, DeepCTR style (einsum 'bhd,bmd->bhmd', reshape, Conv1d 1x1, two layers): outer-blocks computes the context block of the first layer once", async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const unsq = (v: string) => g.op('Unsqueeze', [v, g.int64s([1])]);
    const ctx = (v: string) => unsq(g.op('Expand', [v, rows]));
    const c1 = g.op('MatMul', [u, g.floats('wu', floats(12, 71), [3, 4])]);
    const c2 = g.op('Gather', [g.floats('ctx2_table', floats(40, 72), [10, 4]), 'c']);
    const t1 = g.op('Gather', [g.floats('item2_table', floats(48, 73), [12, 4]), 'item']);
    // Interleaved fields: context, candidate, context, context, candidate.
    const x0 = g.op('Concat', [ctx(cEmb), unsq(tEmb), ctx(c1), ctx(c2), unsq(t1)], { axis: 1 });
    const layer = (h: string, hi: number, size: number, seed: number) => {
      const z = g.op('Reshape', [g.op('Einsum', [h, x0], { equation: 'bhd,bmd->bhmd' }), g.int64s([-1, hi * 5, 4])]);
      return g.op('Relu', [g.op('Conv', [z, g.floats(`cin${seed}`, floats(size * hi * 5, seed), [size, hi * 5, 1]), g.floats(`cinb${seed}`, floats(size, seed + 1), [size])], { kernel_shape: [1] })]);
    };
    const h1 = layer(x0, 5, 3, 74);
    const h2 = layer(h1, 3, 2, 76);
    const pooled = g.op('Concat', [g.op('ReduceSum', [h1, g.int64s([2])], { keepdims: 0 }), g.op('ReduceSum', [h2, g.int64s([2])], { keepdims: 0 })], { axis: 1 });
    g.output('score', g.op('Sigmoid', [g.op('MatMul', [pooled, g.floats('wo', floats(5, 78), [5, 1])])]), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('xdeepfm', ''), []);
    expect(model.staged.folds.map((f) => f.pass)).toEqual(['outer-blocks']);
    expect(model.staged.folds[0]!.what).toMatch(/^the 5x5 outer product in 16 blocks: 9 of its 25 products context only, computed once$/);
    const report = importReport(model, 100);
    // The context rows are 0, 2 and 3: two runs, so four of the sixteen blocks are context by context.
    expect(report.nodes.filter((n) => n.op === 'Conv' && n.rank === 'once')).toHaveLength(4);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('a graph with no candidate-independent linear layer runs generically, context-only nodes once', async () => {
    const { g, rows, cEmb, tEmb, u } = base();
    const ctx = g.op('Sigmoid', [g.op('MatMul', [u, g.floats('wu', floats(12, 30), [3, 4])])]);
    const mixed = g.op('Mul', [g.op('Expand', [g.op('Sub', [ctx, cEmb]), rows]), tEmb]);
    g.output('score', g.op('ReduceSum', [mixed, g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    const model = await checkGraph(g.encode('generic', ''), []);
    const report = importReport(model, 10);
    expect(report.nodes.find((n) => n.op === 'MatMul')!.rank).toBe('once');
    expect(report.nodes.find((n) => n.op === 'Mul')!.rank).toBe('per-candidate');
  });
});

/** A one-op graph on the candidate embedding. */
function build(op: string): Uint8Array {
  const { g, tEmb } = base();
  const y = g.op(op, [tEmb]);
  g.output('score', g.op('ReduceSum', [y, g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
  return g.encode('x', '');
}

/** Two heads on one shared layer: score (sigmoid) and score2 (its own weights, no activation). */
function twoHeads(): Uint8Array {
  const { g, rows, tEmb, u } = base();
  const shared = g.op('Relu', [g.op('Gemm', [g.op('Concat', [g.op('Expand', [u, rows]), tEmb], { axis: 1 }), g.floats('w', floats(35, 21), [5, 7]), g.floats('b', floats(5, 22), [5])], { transB: 1 })]);
  g.output('score', g.op('Sigmoid', [g.op('MatMul', [shared, g.floats('h1', floats(5, 23), [5, 1])])]), 'float32', ['N', 1]);
  g.output('score2', g.op('MatMul', [shared, g.floats('h2', floats(5, 24), [5, 1])]), 'float32', ['N', 1]);
  return g.encode('two-heads', '');
}

describe('a graph with several outputs (multi-task)', () => {
  it('scores the first output by default and the one `output` names first, and answers every output by name, each as onnxruntime', async () => {
    const bytes = twoHeads();
    const session = await ort.InferenceSession.create(bytes);
    const req = request(5);
    const out = await session.run({
      u: new ort.Tensor('float32', Float32Array.from(req.context.u), [1, 3]),
      c: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.context.c)), [1]),
      item: new ort.Tensor('int64', BigInt64Array.from(req.candidates.map((c) => BigInt(c.item))), [5]),
    });
    for (const [output, options] of [['score', {}], ['score2', { output: 'score2' }]] as const) {
      const model = importOnnx(bytes, { context: ['u', 'c'], ...options });
      expect(model.outputs).toEqual(['score', 'score2']);
      expect(model.graph.outputs).toEqual(output === 'score' ? ['score', 'score2'] : ['score2', 'score']);
      const want = Array.from(out[output]!.data as Float32Array);
      for (const [plan, engine] of [['rank-aware', 'wasm'], ['vanilla', 'wasm'], ['rank-aware', 'js'], ['interpret', 'js'], ['interpret-vanilla', 'js']] as const) {
        const result = model.score(req, plan, engine);
        result.scores.forEach((s, i) => expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(1e-5));
        // Every head by name, whichever is first.
        expect(Object.keys(result.outputs!).sort()).toEqual(['score', 'score2']);
        for (const head of ['score', 'score2']) result.outputs![head]!.forEach((s, i) => expect(Math.abs(s - (out[head]!.data as Float32Array)[i]!), `${plan} ${engine} ${head}`).toBeLessThanOrEqual(1e-5));
      }
    }
    // An output that is not one value per candidate (the shared layer, [N, 5]) is dropped, not answered.
    const g = new GraphBuilder();
    g.input('u', 'float32', [1, 3]);
    g.input('item', 'int64', ['N']);
    const e = g.op('Gather', [g.floats('t', floats(8, 1), [2, 4]), 'item']);
    g.output('score', g.op('ReduceSum', [e, g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    g.output('embedding', e, 'float32', ['N', 4]);
    const dropped = importOnnx(g.encode('with-embedding', ''), { context: ['u'] });
    expect(dropped.graph.outputs).toEqual(['score']);
    expect(dropped.score({ context: { u: [1, 2, 3] }, candidates: [{ item: 1 }] }).outputs).toBeUndefined();
    expect(() => importOnnx(bytes, { context: ['u', 'c'], output: 'score3' })).toThrow(/^--output: expected one of the graph's outputs \(score, score2\), received "score3"$/);
  });
});

describe('refusals', () => {

  it('an unsupported op names the node and the op', () => {
    const e = refusal(() => importOnnx(build('TopK'), { context: ['u', 'c'] }));
    expect(e.message).toMatch(/node "TopK:\d+" \(TopK\)/);
    expect(e.message).toContain('unsupported op "TopK"');
    expect(e.kind).toBe('unknown');
  });
  it('a supported op missing what it needs (a Slice without starts and ends) is refused naming the node, not a crash', () => {
    const e = refusal(() => importOnnx(build('Slice'), { context: ['u', 'c'] }));
    expect(e.message).toMatch(/^node "Slice:\d+" \(Slice\): expected starts and ends of one length \(inputs 1 and 2, or attributes\), received no starts and no ends$/);
  });
  it('a shape read from the data that is negative or too large (Expand, ConstantOfShape) is refused naming the node', () => {
    const negative = base();
    negative.g.output('score', negative.g.op('ReduceSum', [negative.g.op('Expand', [negative.tEmb, negative.g.int64s([2, -1])]), negative.g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    expect(refusal(() => importOnnx(negative.g.encode('x', ''), { context: ['u', 'c'] })).message).toMatch(/^node "Expand:\d+" \(Expand\): expected a target shape of non-negative integers, received \[2, -1\]$/);
    const huge = base();
    const filled = huge.g.op('ConstantOfShape', [huge.g.int64s([100000, 100000])]);
    huge.g.output('score', huge.g.op('Add', [huge.g.op('ReduceSum', [huge.tEmb, huge.g.int64s([1])], { keepdims: 1 }), huge.g.op('ReduceSum', [filled], { keepdims: 0 })]), 'float32', ['N', 1]);
    expect(refusal(() => importOnnx(huge.g.encode('x', ''), { context: ['u', 'c'] })).message).toMatch(/^node "ConstantOfShape:\d+" \(ConstantOfShape\): expected a shape of at most 134217728 elements, received \[100000, 100000\] \(10000000000 elements\)$/);
  });
  it('an unknown --context name, and a prefix that matches nothing', () => {
    expect(refusal(() => importOnnx(build('Relu'), { context: ['u', 'nope'] })).message).toContain('"nope"');
    expect(refusal(() => importOnnx(build('Relu'), { context: 'zzz_' })).message).toMatch(/--context.*"zzz_"/);
  });
  it('every input marked context, and a context input whose first dim is not 1', () => {
    expect(refusal(() => importOnnx(build('Relu'), { context: ['u', 'c', 'item'] })).message).toContain('at least one input left for the candidates');
    const g = new GraphBuilder();
    g.input('u', 'float32', [2, 3]);
    g.input('item', 'int64', ['N']);
    const e = g.op('Gather', [g.floats('t', floats(8, 1), [2, 4]), 'item']);
    g.output('score', g.op('ReduceSum', [e, g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    expect(refusal(() => importOnnx(g.encode('x', ''), { context: ['u'] })).message).toMatch(/context input "u".*leading dim of 1/);
  });
  it('bytes that are not ONNX, and an output that is not one score per candidate', () => {
    expect(refusal(() => importOnnx(Uint8Array.of(1, 2, 3, 4, 5), { context: 'u' })).kind).toBe('format');
    const { g, tEmb } = base();
    g.output('score', tEmb, 'float32', ['N', 4]);
    expect(refusal(() => importOnnx(g.encode('x', ''), { context: ['u', 'c'] })).message).toContain('one score per candidate');
  });
  /** build('Relu') decoded, edited by `edit` and encoded again, as a corrupt or hand-edited file would be. */
  const edited = (edit: (m: onnx.ModelProto) => void) => {
    const m = onnxProto.onnx.ModelProto.decode(build('Relu'));
    edit(m);
    return onnxProto.onnx.ModelProto.encode(m).finish();
  };
  const load = (bytes: Uint8Array) => refusal(() => importOnnx(bytes, { context: ['u', 'c'], file: 'm.onnx' }));
  it('a corrupt graph names what is wrong: duplicate initializers, an undefined input, a value defined twice, an undefined output', () => {
    const dup = load(edited((m) => m.graph!.initializer!.push(m.graph!.initializer![0]!)));
    expect(dup.message).toMatch(/^m\.onnx initializer ".+": expected a unique initializer name, received a second initializer of that name$/);
    const dangling = load(edited((m) => (m.graph!.node![m.graph!.node!.length - 1]!.input![0] = 'nowhere')));
    expect(dangling.message).toMatch(/^m\.onnx node ".+" \(Identity\) input "nowhere": expected a value defined before the node .*, received an undefined name$/);
    const twice = load(edited((m) => (m.graph!.node![1]!.output![0] = m.graph!.node![0]!.output![0]!)));
    expect(twice.message).toMatch(/output ".+": expected a name defined once in the graph, received a name already defined$/);
    const missingNode = load(edited((m) => m.graph!.node!.pop()));
    expect(missingNode.message).toMatch(/^m\.onnx output "score": expected a value the graph computes, received an undefined name$/);
    for (const e of [dup, dangling, twice, missingNode]) expect(e.kind).toBe('format');
  });
  it('an initializer with bad dims, too few bytes, or a NaN is refused before anything is allocated for it', () => {
    const first = (m: onnx.ModelProto) => m.graph!.initializer!.find((t) => t.rawData && t.rawData.length > 0 && t.dataType === 1)!;
    expect(load(edited((m) => (first(m).dims = [-1, 4]))).message).toMatch(/initializer ".+" dims: expected non-negative integers, received \[-1, 4\]$/);
    expect(load(edited((m) => (first(m).dims = [1e9, 1e9]))).message).toMatch(/initializer ".+": expected 4000000000000000000 bytes of raw data for shape \[1000000000, 1000000000\], received \d+$/);
    expect(load(edited((m) => (first(m).rawData = first(m).rawData!.subarray(4)))).message).toMatch(/raw data for shape/);
    const nan = load(edited((m) => new DataView(first(m).rawData!.buffer, first(m).rawData!.byteOffset).setFloat32(0, NaN, true)));
    expect(nan.message).toMatch(/^m\.onnx initializer ".+": expected finite values, received NaN$/);
    expect(nan.kind).toBe('weights');
  });
  it('bad requests name the field', () => {
    const model = importOnnx(build('Relu'), { context: ['u', 'c'] });
    const ok = request(2);
    expect(refusal(() => model.score({ ...ok, context: { u: [1, 2], c: 1 } })).message).toBe('request.context.u: expected a list of 3 finite numbers, received [1, 2]');
    expect(refusal(() => model.score({ ...ok, context: { u: [1, 2, 3] } })).message).toContain('request.context.c: expected an id in [0, 10)');
    expect(refusal(() => model.score({ ...ok, context: { u: [1, 2, 3], c: 10 } })).message).toBe('request.context.c: expected an id in [0, 10), received 10');
    expect(refusal(() => model.score({ ...ok, context: { u: [1, 2, NaN], c: 1 } })).message).toContain('request.context.u[2]');
    expect(refusal(() => model.score({ ...ok, candidates: [{ item: 1.5 }] })).message).toContain('request.candidates[0].item');
    expect(refusal(() => model.score({ ...ok, candidates: [{ item: 1, extra: 2 }] })).message).toContain('request.candidates[0].extra');
    expect(refusal(() => model.score({ ...ok, candidates: [] })).message).toContain('request.candidates');
    expect(refusal(() => model.score({ ...ok, candidates: [{ item: 1 }, {}] })).message).toContain('request.candidates[1].item');
    expect(refusal(() => model.score({ ...ok, candidates: [{ item: 1 }, { item: -1 }] })).message).toBe('request.candidates[1].item: expected an id in [0, 12), received -1');
  });
  it('bad candidate lists name the candidate, the field and the element', () => {
    // Candidate inputs x [N, 3] (floats) and ids [N, L] (a free list length into a table of 5 rows).
    const g = new GraphBuilder();
    g.input('u', 'float32', [1, 3]);
    g.input('x', 'float32', ['N', 3]);
    g.input('ids', 'int64', ['N', 'L']);
    const table = g.floats('table', Float32Array.from({ length: 15 }, (_, i) => i / 10), [5, 3]);
    const pooled = g.op('ReduceSum', [g.op('Gather', [table, 'ids']), g.int64s([1])], { keepdims: 0 });
    g.output('score', g.op('ReduceSum', [g.op('Mul', [g.op('Add', ['x', pooled]), 'u']), g.int64s([1])], { keepdims: 1 }), 'float32', ['N', 1]);
    const model = importOnnx(g.encode('lists', ''), { context: ['u'] });
    const ctx = { u: [1, 2, 3] };
    const c = (x: unknown, ids: unknown) => ({ x, ids });
    expect(model.score({ context: ctx, candidates: [c([1, 2, 3], [0, 4]), c([0, 0, 1], [1, 1])] }).scores).toHaveLength(2);
    const message = (candidates: unknown[]) => refusal(() => model.score({ context: ctx, candidates })).message;
    expect(message([c([1, 2, 3], [0]), c([1, 2], [0])])).toBe('request.candidates[1].x: expected a list of 3 finite numbers, received [1, 2]');
    expect(message([c([1, 2, 3], [0]), c([1, NaN, 3], [0])])).toBe('request.candidates[1].x[1]: expected a list of 3 finite numbers, received NaN');
    expect(message([c([1, 2, 3], [0]), c([1, '2', 3], [0])])).toBe('request.candidates[1].x[1]: expected a list of 3 finite numbers, received "2"');
    expect(message([c([1, 2, 3], [0, 1]), c([1, 2, 3], [0, 5])])).toBe('request.candidates[1].ids[1]: expected a list of ids in [0, 5), received 5');
    expect(message([c([1, 2, 3], [0, 1]), c([1, 2, 3], [0])])).toMatch(/^request\.candidates\[1\]\.ids: expected a list of 2 values, like the first candidate's/);
    expect(message([c([1, 2, 3], [0]), c(7, [0])])).toBe('request.candidates[1].x: expected a list of 3 finite numbers, received 7');
  });
});

describe('CLI: import, score, inspect', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rankaware-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = runCli;

  it('a multi-task graph: import --output picks the head, the directory remembers it, score scores it', async () => {
    const bytes = twoHeads();
    const file = join(dir, 'two-heads.onnx');
    await writeFile(file, bytes);
    const model = join(dir, 'two-heads');
    const wrong = await run('import', '--onnx', file, '--context', 'u,c', '--out', model, '--output', 'nope');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^error: --output: expected one of the graph's outputs \(score, score2\), received "nope"$/);
    const first = await run('import', '--onnx', file, '--context', 'u,c', '--out', model);
    expect(first.out).toContain('scores output "score" first (every output by name: score, score2; --output NAME scores another first)');
    const ok = await run('import', '--onnx', file, '--context', 'u,c', '--out', model, '--output', 'score2');
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(readFileSync(join(model, 'import.json'), 'utf8')).output).toBe('score2');
    const req = request(4);
    const requestFile = join(dir, 'two-heads-request.json');
    await writeFile(requestFile, JSON.stringify(req));
    const scored = await run('score', '--model', model, '--request', requestFile);
    expect(scored.code, scored.err).toBe(0);
    const parsed = JSON.parse(scored.out) as { scores: number[]; outputs: Record<string, number[]>; backend: string; path: string };
    const imported = importOnnx(bytes, { context: ['u', 'c'], output: 'score2' });
    const lib = imported.score(req, 'rank-aware', 'wasm');
    expect(parsed).toMatchObject({ scores: lib.scores, outputs: lib.outputs, backend: 'wasm', path: 'compiled' });
    expect(parsed.outputs.score2).toEqual(parsed.scores);
    // --plan interpret: the float64 interpreter, exactly as the library's.
    const interpreted = await run('score', '--model', model, '--request', requestFile, '--plan', 'interpret');
    expect(JSON.parse(interpreted.out)).toMatchObject({ scores: imported.score(req, 'interpret').scores, backend: 'js', path: 'interpreter' });
    // --backend webgpu: compiled onto the WGSL kernels (Dawn, SwiftShader in this process).
    const gpu = JSON.parse((await run('score', '--model', model, '--request', requestFile, '--backend', 'webgpu')).out) as typeof parsed;
    expect(gpu).toMatchObject({ backend: 'webgpu', path: 'compiled' });
    gpu.scores.forEach((s, i) => expect(Math.abs(s - lib.scores[i]!)).toBeLessThanOrEqual(1e-4));
    // bench: both compiled plans, the interpreter and onnxruntime-node on model.onnx, side by side, with the ratios.
    const bench = await run('bench', '--model', model, '--n', '1,5', '--peer', 'ort-node', '--seconds', '0.2', '--json');
    expect(bench.code, bench.err).toBe(0);
    const rows = (JSON.parse(bench.out) as { rows: { path: string; plan: string; n: number; msPerRequest: number }[] }).rows;
    expect(rows.map((r) => `${r.path} ${r.plan} ${r.n}`)).toEqual([1, 5].flatMap((n) => ['compiled wasm vanilla', 'compiled wasm rank-aware', 'interpreter rank-aware', 'ort-node vanilla'].map((r) => `${r} ${n}`)));
    for (const r of rows) expect(r.msPerRequest).toBeGreaterThan(0);
    const table = await run('bench', '--model', model, '--n', '3', '--seconds', '0.2', '--backend', 'js');
    expect(table.out).toMatch(/N=3: the compiled rank-aware plan is \d+\.\d\dx its vanilla \(same run\)/);
    expect(table.out).toMatch(/N=3: the compiled rank-aware plan is \d+\.\d\dx the float64 interpreter/);
    // --threads: the rank-aware plan through createScorer at each thread count, side by side.
    const threads = await run('bench', '--model', model, '--n', '7', '--threads', '1,2', '--concurrency', '4', '--seconds', '0.1', '--json');
    expect(threads.code, threads.err).toBe(0);
    const threadRows = (JSON.parse(threads.out) as { rows: { threads: number; n: number; concurrency: number; requestsPerSecond: number }[] }).rows;
    expect(threadRows.map((r) => [r.threads, r.n, r.concurrency])).toEqual([
      [1, 7, 4],
      [2, 7, 4],
    ]);
    for (const r of threadRows) expect(r.requestsPerSecond).toBeGreaterThan(0);
    expect((await run('bench', '--model', model, '--threads', '2', '--peer', 'ort-node')).err).toMatch(/^error: --peer: expected no such option with --threads on an imported graph/);
  });

  it('imports the golden DLRM, scores a request by input names, inspects per node', async () => {
    const c = JSON.parse(readFileSync(join(goldenDir, 'dlrm', 'case.json'), 'utf8')) as GoldenCase;
    const model = join(dir, 'dlrm');
    const imported = await run('import', '--onnx', join(goldenDir, 'dlrm', 'model.onnx'), '--context', 'ctx_', '--out', model, '--inspect', '--n', '64');
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toContain('pair-products at /MatMul');
    expect(imported.out).toMatch(/\/bot_l\/bot_l\.0\/Gemm\s+Gemm\s+once/);
    const requestFile = join(dir, 'request.json');
    await writeFile(requestFile, JSON.stringify(renamed(c, c.requests[2]!.request)));
    const scored = await run('score', '--model', model, '--request', requestFile);
    expect(scored.code, scored.err).toBe(0);
    const { scores } = JSON.parse(scored.out) as { scores: number[] };
    scores.forEach((s, i) => expect(Math.abs(s - c.requests[2]!.expected.score_f64[i]!)).toBeLessThanOrEqual(1e-5));
    const inspected = await run('inspect', '--model', model, '--json');
    expect(inspected.code, inspected.err).toBe(0);
    const report = JSON.parse(inspected.out) as { nodes: { op: string; rank: string }[]; flopsVanilla: number; flopsRankAware: number };
    expect(report.nodes.filter((n) => n.rank === 'once').length).toBeGreaterThan(0);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('refuses an unsupported op and a bad request with one line', async () => {
    const file = join(dir, 'topk.onnx');
    await writeFile(file, build('TopK'));
    const r = await run('import', '--onnx', file, '--context', 'u,c', '--out', join(dir, 'topk'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: node "TopK:\d+" \(TopK\): expected an op rankaware can import \(.*MatMul.*\), received unsupported op "TopK"$/);
    const ok = join(dir, 'relu');
    await writeFile(join(dir, 'relu.onnx'), build('Relu'));
    expect((await run('import', '--onnx', join(dir, 'relu.onnx'), '--context', 'u,c', '--out', ok)).code).toBe(0);
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ context: { u: [1, 2, 3], c: 99 }, candidates: [{ item: 1 }] }));
    const bad = await run('score', '--model', ok, '--request', join(dir, 'bad.json'));
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('error: request.context.c: expected an id in [0, 10), received 99');
  });
});
