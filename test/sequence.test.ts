/**
 * Sequence fields and the sequence architectures (din, bst): model.json rules, request rules (length,
 * ids, side features, empty histories), and exactness of the compiled plans against onnxruntime on the
 * vanilla export run at each history's own length (ours pad to a length bucket and mask), on wasm, js,
 * the interpreter and webgpu; the export re-imported; threads and the context cache; the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { RankawareError } from '../src/errors.js';
import { parseModelSpec } from '../src/model/parse-spec.js';
import { randomModel, randomRequest } from '../src/model/random.js';
import { historyInputs, lengthBucket } from '../src/model/sequence.js';
import type { Field, Model } from '../src/model/spec.js';
import { importOnnx } from '../src/onnx/model.js';
import type { ImportedModel } from '../src/onnx/model.js';
import { loadServedModel } from '../src/server/serve.js';
import { importReport } from '../src/onnx/report.js';
import { compileModel, contextInputs } from '../src/onnx/native-graph.js';
import { createScorer } from '../src/onnx/scorer/create.js';
import { exportOnnx } from '../src/onnx/writer/export.js';
import { onnxFeeds } from '../src/onnx/writer/feeds.js';
import { planModel } from '../src/zoo/registry.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Fields with a history of `maxLength` over t0's table, with a side feature `gap`. */
function fields(maxLength: number, overflow: 'truncate' | 'error'): Field[] {
  return [
    { name: 'user', type: 'sparse', side: 'context', vocab: 30, dim: 6, pooling: 'none', oov: 'error' },
    { name: 't0', type: 'sparse', side: 'target', vocab: 50, dim: 8, pooling: 'none', oov: 'error' },
    { name: 'age', type: 'dense', side: 'context', dim: 3 },
    { name: 'history', type: 'sequence', side: 'context', table: 't0', maxLength, overflow, features: [{ name: 'gap', vocab: 7 }] },
    { name: 't1', type: 'sparse', side: 'target', vocab: 20, dim: 5, pooling: 'none', oov: 'error' },
  ];
}

const din = randomModel({ arch: 'din', context: 0, target: 0, dim: 8, mlp: [16, 8], seed: 5, fields: fields(24, 'truncate'), options: { attention: [12, 6] } });
const bst = randomModel({ arch: 'bst', context: 0, target: 0, dim: 8, mlp: [16], seed: 6, fields: fields(24, 'error'), options: { heads: 2, ffn: 12 } });

async function ortScores(model: Model, request: unknown): Promise<number[]> {
  const session = await ort.InferenceSession.create(exportOnnx(model));
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[k] = new ort.Tensor(f.type, f.data as never, f.dims as number[]);
  return Array.from((await session.run(feeds)).score!.data as Float32Array);
}

const worst = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));

function error(f: () => unknown): RankawareError {
  try {
    f();
  } catch (e) {
    if (e instanceof RankawareError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('model.json sequence fields', () => {
  const spec = (arch: string, f: unknown[], options: Record<string, unknown> = {}) => () =>
    parseModelSpec({ format: 'rankaware-model', version: 1, architecture: arch, fields: f, options });
  const base = fields(10, 'truncate').slice(0, 2);
  const seq = { name: 'h', type: 'sequence', table: 't0', maxLength: 10 };

  it('parses a history with its defaults', () => {
    const s = spec('din', [...base, seq])();
    expect(s.fields[2]).toEqual({ name: 'h', type: 'sequence', side: 'context', table: 't0', maxLength: 10, overflow: 'truncate', features: [] });
  });

  it.each([
    ['a table that is no target field', [...base, { ...seq, table: 'user' }], /field "h"\.table: expected the name of a sparse target field/],
    ['no table', [...base, { ...seq, table: undefined }], /field "h"\.table: expected the name of the sparse target field/],
    ['a target side', [...base, { ...seq, side: 'target' }], /field "h"\.side: expected one of "context", received "target"/],
    ['maxLength 0', [...base, { ...seq, maxLength: 0 }], /field "h"\.maxLength: expected an integer in \[1, 4096\], received 0/],
    ['a duplicate feature', [...base, { ...seq, features: [{ name: 'g', vocab: 2 }, { name: 'g', vocab: 3 }] }], /features "g": expected a unique name/],
    ['an unknown overflow', [...base, { ...seq, overflow: 'drop' }], /field "h"\.overflow: expected one of "truncate", "error"/],
    ['two histories', [...base, seq, { ...seq, name: 'h2' }], /model.json fields: expected one field of type "sequence"/],
  ])('refuses %s', (_, f, message) => {
    expect(() => spec('din', f as unknown[])()).toThrow(message);
  });

  it('refuses a sequence in an architecture that reads none, and heads that do not divide the dim', () => {
    expect(() => spec('rdcn', [...base, seq], { layers: 1 })()).toThrow(/field "h"\.type: expected "sparse" or "dense" \(rdcn reads no sequence; din and bst do\), received "sequence"/);
    expect(() => spec('bst', [...base, seq], { heads: 3, ffn: 4 })()).toThrow(/options\.heads: expected a divisor of the history's embedding dim 8, received 3/);
  });

  it('has no native plan: planModel says where it runs', () => {
    expect(() => planModel(din, 'rank-aware')).toThrow(/runs on the ONNX compiler: compileModel\(model\)/);
  });
});

describe('sequence requests', () => {
  const request = (history: unknown, gap: unknown, n = 3) => {
    const r = randomRequest(din.spec, n, 3, 4);
    return { ...r, context: { ...r.context, history, 'history.gap': gap } };
  };
  const m = compileModel(din);

  it.each([
    ['an id out of the table', request([1, 50, 2], [0, 0, 0]), 'request.context.history[1]: expected an id in [0, 50), received 50'],
    ['a side feature of the wrong type', request([1, 2], ['a', 1]), 'request.context["history.gap"][0]: expected an id in [0, 7), received "a"'],
    ['a side feature of another length', request([1, 2, 3], [1, 1]), 'request.context["history.gap"]: expected a list of 3 ids (one per item of "history"), received a list of 2'],
    ['a history that is no list', request(5, []), 'request.context.history: expected a list of item ids in [0, 50) (the table of "t0") (oldest first; [] for none), received 5'],
    ['a missing history', request(undefined, []), 'request.context.history: expected a list of item ids (oldest first; [] for none), received nothing (missing field)'],
  ])('refuses %s, naming the field', (_, r, message) => {
    expect(error(() => m.score(r)).message).toBe(message);
  });

  it('refuses a mask given in the request (the runtime lays it out)', () => {
    const r = randomRequest(din.spec, 2, 3, 2);
    expect(error(() => m.score({ ...r, context: { ...r.context, 'history.mask': [1, 1] } })).message).toMatch(/^request\.context\.history\.mask: expected a field the model declares/);
  });

  it('refuses a history over maxLength when overflow is "error"', () => {
    const r = randomRequest(bst.spec, 2, 3, 25);
    expect(error(() => compileModel(bst).score(r)).message).toBe('request.context.history: expected at most 24 items (the field\'s maxLength; its overflow is "error"), received a list of 25');
  });

  it('keeps the last maxLength items when overflow is "truncate"', () => {
    const long = randomRequest(din.spec, 4, 3, 30);
    const ctx = long.context as Record<string, number[]>;
    const last = { ...long, context: { ...ctx, history: ctx.history!.slice(6), 'history.gap': ctx['history.gap']!.slice(6) } };
    expect(m.score(long).scores).toEqual(m.score(last).scores);
  });

  it('pads to length buckets, with the mask on the items', () => {
    expect([0, 1, 8, 9, 64, 65, 200].map((l) => lengthBucket(l, 4096))).toEqual([1, 8, 8, 16, 64, 96, 224]);
    expect(lengthBucket(20, 22)).toBe(22);
    const inputs = historyInputs(din.spec, { history: [4, 5], 'history.gap': [1, 2] });
    expect(inputs).toEqual({ history: [0, 0, 0, 0, 0, 0, 4, 5], 'history.mask': [0, 0, 0, 0, 0, 0, 1, 1], 'history.gap': [0, 0, 0, 0, 0, 0, 1, 2] });
  });
});

describe.each([
  ['din', din],
  ['bst', bst],
])('%s compiled from its export', (_, model) => {
  const m = compileModel(model);

  it.each([0, 1, 7, 8, 9, 13, 24])('scores a history of %i items within 1e-5 of onnxruntime (run at its own length) on every plan and engine', async (length) => {
    for (const n of [1, 5, 17]) {
      const r = randomRequest(model.spec, n, 10 + length, length);
      const ref = await ortScores(model, r);
      for (const plan of ['rank-aware', 'vanilla', 'interpret'] as const)
        for (const engine of ['wasm', 'js'] as const) expect(worst(m.score(r, plan, engine).scores, ref), `${plan} ${engine} N=${n}`).toBeLessThan(1e-5);
    }
  });

  it('scores on webgpu within 1e-4', async () => {
    for (const length of [0, 9]) {
      const r = randomRequest(model.spec, 6, 3, length);
      const got = await m.scoreAsync(r, 'rank-aware', 'webgpu');
      expect(got.backend).toBe('webgpu');
      expect(worst(got.scores, await ortScores(model, r))).toBeLessThan(1e-4);
    }
  });

  it('an empty history scores like the model says: every item masked', async () => {
    const r = randomRequest(model.spec, 4, 3, 0);
    const got = m.score(r).scores;
    expect(got.every(Number.isFinite)).toBe(true);
    expect(worst(got, await ortScores(model, r))).toBeLessThan(1e-5);
  });

  it('is rank-aware: the history stage runs once per request, fewer FLOPs per candidate', () => {
    const report = importReport(m, 256);
    expect(report.flopsOnce).toBeGreaterThan(0);
    expect(report.flopsRankAware).toBeLessThan(report.flopsVanilla);
  });

  it('round-trips: its export re-imported as a plain graph scores the same', () => {
    const again = importOnnx(exportOnnx(model), { context: contextInputs(model) });
    const r = randomRequest(model.spec, 5, 4, 11);
    const ctx = r.context as Record<string, unknown>;
    const graphRequest = { context: { ...ctx, ...historyInputs(model.spec, ctx) }, candidates: r.candidates };
    expect(worst(again.score(graphRequest).scores, m.score(r).scores)).toBeLessThan(1e-6);
  });

  it('scores on two threads with the context cache keyed on the history', async () => {
    const scorer = await createScorer(model, { threads: 2 });
    try {
      const r = randomRequest(model.spec, 9, 8, 10);
      const one = m.score(r).scores;
      const got = await Promise.all(Array.from({ length: 6 }, () => scorer.score({ ...r, contextKey: 'u1' } as never)));
      for (const g of got) expect(worst(g.scores, one)).toBeLessThan(1e-6);
      // One more item is another context: a miss that scores the new history.
      const ctx = r.context as Record<string, number[]>;
      const longer = { ...r, context: { ...ctx, history: [...ctx.history!, 3], 'history.gap': [...ctx['history.gap']!, 1] } };
      expect(worst((await scorer.score({ ...longer } as never)).scores, m.score(longer).scores)).toBeLessThan(1e-6);
    } finally {
      await scorer.dispose();
    }
  });
});

describe.each(['din', 'bst'] as const)('%s on odd shapes', (arch) => {
  it.each([
    [1, 1, 3],
    [5, 3, 5],
  ])('K=%i, M=%i, D=%i within 1e-5 of onnxruntime', async (K, M, D) => {
    const model = randomModel({ arch, context: K, target: M, dim: D, mlp: [7], seed: 2, history: 9 });
    for (const [n, length] of [[1, 1], [7, 9], [33, 4]] as const) {
      const r = randomRequest(model.spec, n, 5, length);
      const ref = await ortScores(model, r);
      for (const plan of ['rank-aware', 'vanilla'] as const) expect(worst(compileModel(model).score(r, plan).scores, ref)).toBeLessThan(1e-5);
    }
  });
});

describe('the CLI on a sequence model', () => {
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [join(ROOT, 'bin', 'rankaware.js'), ...args], { cwd: ROOT }, (e, stdout, stderr) => done({ code: e ? 1 : 0, stdout, stderr })),
    );

  it.each(['din', 'bst'])('init --arch %s, score, inspect and export-onnx', async (arch) => {
    const dir = mkdtempSync(join(tmpdir(), `rankaware-${arch}-`));
    expect((await cli('init', '--arch', arch, '--context', '2', '--target', '2', '--dim', '8', '--history', '30', '--candidates', '5', '--out', dir)).code).toBe(0);
    const scored = await cli('score', '--model', dir, '--request', join(dir, 'request.json'));
    expect(scored.code, scored.stderr).toBe(0);
    const scores = JSON.parse(scored.stdout).scores as number[];
    expect(scores).toHaveLength(5);
    const inspect = await cli('inspect', '--model', dir);
    expect(inspect.stdout).toMatch(/FLOPs at N=256: vanilla \d+, rank-aware \d+ \(\d+ once \+ \d+ per candidate\)/);
    const file = join(dir, 'model.onnx');
    expect((await cli('export-onnx', '--model', dir, '--out', file)).code).toBe(0);
    const session = await ort.InferenceSession.create(readFileSync(file));
    expect(session.inputNames).toContain('history.mask');
    // What `rankaware serve --model DIR` serves: the compiled model, versioned by its two files.
    const served = await loadServedModel(dir);
    expect(served.modelVersion).toMatch(/^[0-9a-f]{12,}$/);
    expect(worst((served.model as ImportedModel).score(JSON.parse(readFileSync(join(dir, 'request.json'), 'utf8'))).scores, scores)).toBeLessThan(1e-6);
    const bench = await cli('bench', '--model', dir, '--n', '4', '--seconds', '0.05');
    expect(bench.code, bench.stderr).toBe(0);
    expect(bench.stdout).toMatch(/\| compiled wasm \| rank-aware \| 4 \|/);
    const bad = await cli('score', '--model', dir, '--request', join(ROOT, 'package.json'));
    expect(bad.code).toBe(1);
  }, 60_000);
});
