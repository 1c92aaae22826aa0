/**
 * The demo's sequence model (demo/public/din/): the hand-written DIN backward pass against finite
 * differences, the trainer's forward pass against rankaware's scoring of the model it saves (the compiled
 * graph, both plans, js and wasm), deterministic training, and the committed model: what the recipe says,
 * the held-out AUC training.json reports (recomputed through rankaware), and the history effect learned.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileModel, loadModelDir, parseModelSpec } from '../src/node.js';
import type { Model, SpecOf } from '../src/node.js';
import { mulberry32 } from '../src/model/random.js';
import { buildCatalog } from '../demo/train/catalog.js';
import { DinTrainer } from '../demo/train/din-trainer.js';
import type { DinRequest } from '../demo/train/din-trainer.js';
import { DIN_RECIPE, dinSpec, evaluateDin, trainDinModel } from '../demo/train/din-recipe.js';
import type { SequenceRecipe } from '../demo/train/din-recipe.js';
import { createWorld, drawSessions } from '../demo/train/world.js';
import { GENRES, sequenceRequestFor } from '../demo/src/vocab.js';
import type { UserContext } from '../demo/src/vocab.js';

const DIN_DIR = fileURLToPath(new URL('../demo/public/din/', import.meta.url));

/** A tiny DIN: interleaved sides, a side feature, two hidden layers in the activation unit. */
function tinySpec(attentionActivation: 'sigmoid' | 'relu'): SpecOf<'din'> {
  return parseModelSpec({
    format: 'rankaware-model',
    version: 1,
    name: 'tiny-din',
    architecture: 'din',
    fields: [
      { name: 'c0', side: 'context', vocab: 3, dim: 3 },
      { name: 't1', side: 'target', vocab: 4, dim: 3 },
      { name: 'hist', type: 'sequence', side: 'context', table: 'item', maxLength: 6, features: [{ name: 'kind', vocab: 5 }] },
      { name: 'item', side: 'target', vocab: 10, dim: 3 },
    ],
    options: { attention: [4, 3], attentionActivation, mlp: [5] },
    output: 'sigmoid',
    linearLayout: 'out_in',
  }) as SpecOf<'din'>;
}

/** Requests with histories of 0 to 8 items (8 is past maxLength: truncated to the last 6). */
function tinyRequests(count: number, seed: number) {
  const rand = mulberry32(seed);
  const id = (n: number) => Math.floor(rand() * n);
  return Array.from({ length: count }, (_, r) => {
    const hist = Array.from({ length: [0, 2, 8, 3, 1][r % 5]! }, () => id(10));
    return { context: { c0: id(3), hist, 'hist.kind': hist.map(() => id(5)) }, candidates: Array.from({ length: 3 }, () => ({ t1: id(4), item: id(10) })) };
  });
}

const examplesOf = (data: readonly DinRequest[]) => data.flatMap((d, request) => Array.from({ length: d.rows }, (_, row) => ({ request, row })));

describe('the DIN trainer', () => {
  for (const activation of ['sigmoid', 'relu'] as const)
    it(`computes the gradient of every parameter as central finite differences do (${activation} unit, relative error < 1e-6)`, () => {
      const spec = tinySpec(activation);
      const trainer = new DinTrainer(spec, 5);
      const data = tinyRequests(6, 9).map((q, i) => trainer.layout(q, [1, 0, i % 2]));
      const batch = examplesOf(data);
      const names = trainer.toModel().weights.keys();
      trainer.lossAndGradients(data, batch);
      const analytic = new Map([...names].map((n) => [n, Float64Array.from(trainer.param(n).grad)]));
      const h = 1e-6;
      let checked = 0;
      for (const [name, grad] of analytic) {
        const { value } = trainer.param(name);
        for (let i = 0; i < value.length; i++) {
          const keep = value[i]!;
          value[i] = keep + h;
          const up = trainer.lossAndGradients(data, batch);
          value[i] = keep - h;
          const down = trainer.lossAndGradients(data, batch);
          value[i] = keep;
          const numeric = (up - down) / (2 * h);
          expect(Math.abs(grad[i]! - numeric), `${name}[${i}]: analytic ${grad[i]}, numeric ${numeric}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
          checked++;
        }
      }
      expect(analytic.size).toBe(14);
      expect(checked).toBeGreaterThan(150);
    });

  it('scores as rankaware scores the model it saves (rank-aware and vanilla, js and wasm, within float32 rounding)', () => {
    const spec = tinySpec('sigmoid');
    const trainer = new DinTrainer(spec, 11);
    const requests = tinyRequests(10, 3);
    const data = requests.map((q, i) => trainer.layout(q, [i % 2, 1, 0]));
    for (let s = 0; s < 30; s++) trainer.step(data, examplesOf(data), { learningRate: 0.05 });
    const compiled = compileModel(trainer.toModel());
    requests.forEach((request, r) => {
      const expected = Array.from(trainer.logits(data[r]!), (z) => 1 / (1 + Math.exp(-z)));
      for (const engine of ['js', 'wasm'] as const)
        for (const plan of ['vanilla', 'rank-aware'] as const) {
          const got = compiled.score(request, plan, engine).scores;
          got.forEach((g, i) => expect(Math.abs(g - expected[i]!), `request ${r}, ${plan} on ${engine}`).toBeLessThan(1e-6));
        }
    });
  });

  it('learns: the loss falls and the held-out AUC beats the IMDB rating alone; the same seed gives the same weights', () => {
    const catalog = buildCatalog().slice(0, 200);
    const recipe: SequenceRecipe = { ...DIN_RECIPE, dim: 8, attention: [8], mlp: [16], trainUsers: 600, heldOutUsers: 300, sessionsPerUser: 3, epochs: 3, learningRate: 0.01 };
    const a = trainDinModel(catalog, recipe);
    const b = trainDinModel(catalog, recipe);
    for (const [name, t] of a.model.weights) expect(b.model.weights.get(name)!.data, name).toEqual(t.data);
    const losses = a.metrics.epochLosses;
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(a.metrics.heldOutAuc).toBeGreaterThan(a.metrics.ratingOnlyAuc);
    expect(a.metrics.heldOutAuc).toBeLessThan(a.metrics.oracleAuc + 0.02);
  }, 120_000);
});

describe('the committed sequence model (demo/public/din/)', () => {
  const catalog = buildCatalog();
  const loaded = loadModelDir(DIN_DIR);
  const training = readFile(DIN_DIR + 'training.json', 'utf8').then((t) => JSON.parse(t) as { recipe: SequenceRecipe; metrics: { heldOutAuc: number; oracleAuc: number } });

  it('is the recipe: its spec, its recipe in training.json, under 2 MB', async () => {
    const model = await loaded;
    expect(model.spec).toEqual(dinSpec(catalog.length, DIN_RECIPE));
    expect((await training).recipe).toEqual(DIN_RECIPE);
    expect((await readFile(DIN_DIR + 'weights.safetensors')).byteLength).toBeLessThan(2 * 1024 * 1024);
  });

  it('has the held-out AUC training.json reports, recomputed by rankaware on the DLRM\'s held-out sessions', async () => {
    const model = await loaded;
    const world = createWorld(catalog, DIN_RECIPE.seed);
    const heldOut = drawSessions(world, DIN_RECIPE.heldOutUsers, DIN_RECIPE.sessionsPerUser, DIN_RECIPE.impressions, DIN_RECIPE.seed + 2);
    const metrics = evaluateDin(model, world, heldOut);
    const reported = (await training).metrics;
    expect(metrics.heldOutAuc).toBeCloseTo(reported.heldOutAuc, 10);
    expect(metrics.oracleAuc).toBeCloseTo(reported.oracleAuc, 10);
    expect(metrics.heldOutAuc).toBeGreaterThan(0.72);
    expect(metrics.oracleAuc - metrics.heldOutAuc).toBeLessThan(0.03);
  }, 60_000);

  const meanScore = (model: Model, user: UserContext, genre: number) => {
    const items = catalog.filter((c) => c.genre === genre);
    const scores = compileModel(model).score(sequenceRequestFor(user, items, catalog), 'rank-aware', 'js').scores;
    return scores.reduce((a, b) => a + b, 0) / scores.length;
  };
  const base: UserContext = { ageBand: 2, favoriteGenre: 0, history: [], timeOfDay: 2, device: 1 };

  it('learned the history effect through its attention: watched horror raises horror, and an empty history scores', async () => {
    const model = await loaded;
    for (const [name, rise] of [['Horror', 0.03], ['Drama', 0.1], ['Comedy', 0.1]] as const) {
      const genre = GENRES.indexOf(name);
      const watched = catalog.filter((c) => c.genre === genre).slice(0, 5).map((c) => c.id);
      const empty = meanScore(model, base, genre);
      expect(Number.isFinite(empty)).toBe(true);
      expect(meanScore(model, { ...base, history: watched }, genre), name).toBeGreaterThan(empty + rise);
    }
  });

  it('refuses a history id outside the catalog and a side feature of the wrong length, naming the field', async () => {
    const model = await loaded;
    const ok = sequenceRequestFor({ ...base, history: [1, 2] }, catalog.slice(0, 2), catalog);
    const compiled = compileModel(model);
    expect(() => compiled.score({ ...ok, context: { ...ok.context, history: [1, catalog.length] } })).toThrow(/history.*1000/);
    expect(() => compiled.score({ ...ok, context: { ...ok.context, 'history.genre': [0] } })).toThrow(/history\.genre/);
  });
});
