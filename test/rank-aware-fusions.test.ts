/**
 * The candidate-stage fusions of the rank-aware ONNX export (src/onnx/fusions/) on small
 * hand-built graphs of a history h [1, L, d] (context) and a candidate vector x [N, d]: each fusion fires
 * where its chain matches, is left alone where a value of the chain is read elsewhere, and the one graph
 * and the two stages score as the vanilla graph on onnxruntime-node within 1e-5 at N = 1, 2, 7; the
 * fused graph has the Gemm where the chain had its ops. DLRM's pairs per candidate (pair-gram; its scores
 * are checked by test/rank-aware-onnx.test.ts on every equivalence case and the golden DLRMs), DeepFM's
 * sums over fields (sum-split; the golden DeepFM and the deepfm equivalence cases there). And the
 * writer's own tidying on DCNv2 (context pieces joined per run, one rows shape, the split layer's bias in
 * the stored row).
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { importOnnx } from '../src/onnx/model.js';
import { exportRankAwareOnnx } from '../src/onnx/rank-aware-onnx.js';
import { readOnnx } from '../src/onnx/reader/onnx-graph.js';
import { compileModel, randomModel } from '../src/node.js';
import { D, dinLike, dinLikeRequest as request, L } from './din-like.js';
import type { Field } from '../src/model/spec.js';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { onnxFeeds } from '../src/onnx/writer/feeds.js';
import { plainTensor } from '../src/onnx/ort/runner.js';

const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };
const tensor = (data: number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

/** The vanilla graph, the one-graph form and the two stages on onnxruntime-node. */
async function scores(bytes: Uint8Array, n: number) {
  const r = request(n);
  const feeds = { u: tensor(r.context.u, [1, L * D]), x: tensor(r.candidates.flatMap((c) => c.x), [n, D]) };
  const vanilla = await ort.InferenceSession.create(bytes, options);
  const graphs = exportRankAwareOnnx(importOnnx(bytes, { context: ['u'] }));
  const single = await ort.InferenceSession.create(graphs.single, options);
  const context = await ort.InferenceSession.create(graphs.context, options);
  const candidates = await ort.InferenceSession.create(graphs.candidates, options);
  const handoff = await context.run({ u: feeds.u });
  const staged = await candidates.run({ x: feeds.x, ...Object.fromEntries(graphs.manifest.handoff.map((h) => [h.name, handoff[h.from]!])) });
  const of = (out: Record<string, ort.Tensor>) => Array.from(out.score!.data as Float32Array);
  return { vanilla: of(await vanilla.run(feeds)), single: of(await single.run(feeds)), staged: of(staged), graphs };
}

function expectClose(got: number[], want: number[], what: string) {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}, candidate ${i}`).toBeLessThanOrEqual(1e-5);
}

const ops = (bytes: Uint8Array) => readOnnx(bytes).nodes.map((n) => n.op);

describe('candidate-stage fusions', () => {
  it.each([
    ['din-like (ReduceSum of the weights times h)', {}, ['target-attention', 'weighted-sum']],
    ['DeepCTR-like (the weights [N, 1, L] times h expanded to N rows)', { batchedSum: true }, ['target-attention', 'shared-operand']],
    ['the product also read by the score', { productReadTwice: true }, ['weighted-sum']],
    ['a term not linear in q added last (the sum inside it fused)', { nonlinearTerm: true }, ['target-attention', 'weighted-sum']],
  ] as const)('%s: fuses %j and scores as the vanilla graph', async (_, variant, fusions) => {
    const kinds: readonly string[] = fusions;
    const bytes = dinLike(variant);
    for (const n of [1, 2, 7]) {
      const s = await scores(bytes, n);
      expect(s.graphs.fusions.map((f) => f.split(' ')[0])).toEqual(kinds);
      expectClose(s.single, s.vanilla, `N = ${n}, one graph`);
      expectClose(s.staged, s.vanilla, `N = ${n}, two stages`);
    }
    const cand = ops(exportRankAwareOnnx(importOnnx(bytes, { context: ['u'] })).candidates);
    // Fused: the activation unit is one Gemm before the Sigmoid; unfused, its product's MatMul stays batched.
    if (kinds.includes('target-attention')) expect(cand.filter((op) => op === 'Gemm').length).toBeGreaterThanOrEqual(1);
    // (The product's own ReduceSum in the third variant is no weighted sum: it stays.)
    if (kinds.includes('weighted-sum')) expect(cand.filter((op) => op === 'ReduceSum').length).toBe('productReadTwice' in variant ? 1 : 0);
    if (!kinds.includes('target-attention')) expect(cand.filter((op) => op === 'Mul').length).toBeGreaterThanOrEqual(1);
  });

  it('din (native, compiled from its export): the activation unit is one Gemm, the weighted sum one MatMul, and the cached handoff stays the history', () => {
    const model = randomModel({ arch: 'din', context: 2, target: 2, dim: 8, seed: 6, history: 20 });
    const graphs = exportRankAwareOnnx(compileModel(model));
    expect(graphs.fusions.map((f) => f.split(' ')[0])).toEqual(['target-attention', 'weighted-sum']);
    const cand = readOnnx(graphs.candidates);
    expect(cand.nodes.map((n) => n.op)).not.toContain('ReduceSum');
    // What a cached context keeps: none of the fused operands (G is d times the history's size), only context-stage values.
    for (const h of graphs.manifest.handoff) expect(h.name).not.toMatch(/:affine:|:weighted:/);
  });

  it('din with a side feature, a dense field and two attention layers: fused, and exact for histories of 0, 1, 13 and 24 items at N = 1, 9, 40', async () => {
    const fields: Field[] = [
      { name: 'user', type: 'sparse', side: 'context', vocab: 30, dim: 6, pooling: 'none', oov: 'error' },
      { name: 't0', type: 'sparse', side: 'target', vocab: 50, dim: 7, pooling: 'none', oov: 'error' },
      { name: 'age', type: 'dense', side: 'context', dim: 3 },
      { name: 'history', type: 'sequence', side: 'context', table: 't0', maxLength: 24, overflow: 'truncate', features: [{ name: 'gap', vocab: 7 }] },
      { name: 't1', type: 'sparse', side: 'target', vocab: 20, dim: 5, pooling: 'none', oov: 'error' },
    ];
    const din = randomModel({ arch: 'din', context: 0, target: 0, dim: 7, mlp: [16, 8], seed: 5, fields, options: { attention: [12, 6] } });
    const m = compileModel(din);
    const graphs = exportRankAwareOnnx(m);
    expect(graphs.fusions.map((f) => f.split(' ')[0])).toEqual(['target-attention', 'weighted-sum']);
    const sessions = await Promise.all([exportOnnx(din), graphs.single].map((b) => ort.InferenceSession.create(b, options)));
    for (const [n, length] of [[1, 0], [9, 1], [40, 13], [9, 24]] as const) {
      const request = m.randomRequest(n, 7 + n, length);
      const vanillaFeeds: Record<string, ort.Tensor> = {};
      for (const [k, f] of Object.entries(onnxFeeds(din.spec, request))) vanillaFeeds[k] = new ort.Tensor(f.type, f.data as never, [...f.dims]);
      const want = Array.from((await sessions[0]!.run(vanillaFeeds)).score!.data as Float32Array);
      const encoded = m.encode(request);
      const feeds: Record<string, ort.Tensor> = {};
      for (const x of [...graphs.manifest.contextInputs, ...graphs.manifest.candidateInputs]) {
        const t = plainTensor((encoded.context.get(x.name) ?? encoded.candidates.get(x.name))!);
        feeds[x.name] = new ort.Tensor(t.type, t.data as never, [...t.dims]);
      }
      const got = Array.from((await sessions[1]!.run(feeds))[graphs.manifest.outputs[0]!]!.data as Float32Array);
      expectClose(got, want, `L = ${length}, N = ${n}`);
    }
  });

  it('dlrm: the pairs per candidate are the candidate rows\' products alone (pair-gram); the context rows are never expanded to N rows', async () => {
    const model = randomModel({ arch: 'dlrm', context: 5, target: 2, dim: 4, seed: 9, mlp: [8] });
    const m = compileModel(model);
    const graphs = exportRankAwareOnnx(m);
    expect(graphs.fusions.map((f) => f.split(' ')[0])).toEqual(['pair-gram']);
    const cand = readOnnx(graphs.candidates).nodes;
    expect(cand.map((n) => n.op)).not.toContain('Expand');
    // The products: [N nc, D] x [D, F - nc] against the context rows, and [N, nc, D] x [N, D, nc] among the candidate rows.
    expect(cand.filter((n) => n.op === 'MatMul' && n.outputs[0]!.includes(':pairs:')).length).toBe(2);
  });

  it("deepfm: the FM's sum and sum of squares over fields split (the context fields' once), one join of each side for both", () => {
    const model = randomModel({ arch: 'deepfm', context: 3, target: 2, dim: 4, seed: 1 });
    const graphs = exportRankAwareOnnx(compileModel(model));
    expect(graphs.fusions.map((f) => f.split(' ')[0])).toEqual(['sum-split', 'sum-split']);
    const cand = readOnnx(graphs.candidates).nodes;
    // No context field vector is expanded to N rows, and each side's pieces are joined once for both sums.
    expect(cand.map((n) => n.op)).not.toContain('Expand');
    expect(cand.filter((n) => n.op === 'Concat' && n.outputs[0]!.includes(':split:')).length).toBe(2);
  });

  it('dcnv2: context pieces joined per run (one Expand each), one rows shape, and no bias Add after the split layer', () => {
    const model = randomModel({ arch: 'dcnv2', context: 6, target: 2, dim: 4, seed: 2, mlp: [8], options: { layers: 2 } });
    const m = compileModel(model);
    const graphs = exportRankAwareOnnx(m);
    const cand = readOnnx(graphs.candidates);
    const expands = cand.nodes.filter((n) => n.op === 'Expand').length;
    // Six context fields around two candidate fields: at most three runs of context pieces, not six.
    expect(expands).toBeGreaterThan(0);
    expect(expands).toBeLessThanOrEqual(3);
    expect(cand.nodes.filter((n) => n.op === 'Concat' && n.outputs[0]!.includes('rows-shape')).length).toBe(1);
    const gemm = cand.nodes.find((n) => n.op === 'Gemm' && n.inputs[2]?.endsWith('#once'))!;
    expect(gemm).toBeDefined();
    expect(cand.nodes.some((n) => n.op === 'Add' && n.inputs.includes(gemm.outputs[0]!) && n.inputs.some((i) => i.endsWith('.bias')))).toBe(false);
  });
});
