/**
 * The demo's default model: the catalog built from vega-datasets, the hand-written DLRM backward pass
 * (checked against finite differences), the trainer's forward pass against rankaware's own scoring of the
 * saved model, deterministic training, and the committed model (demo/public/model/): it is what the
 * recipe says, its held-out AUC (recomputed here through rankaware) is the one training.json reports, and
 * it learned the documented preference structure.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModelDir, parseModelSpec, score } from '../src/node.js';
import type { Model, SpecOf } from '../src/node.js';
import { mulberry32 } from '../src/model/random.js';
import { encodeRequest } from '../src/model/request.js';
import { buildCatalog, releaseYear } from '../demo/train/catalog.js';
import { DlrmTrainer, auc, examplesOf } from '../demo/train/dlrm-trainer.js';
import type { LabeledRequest } from '../demo/train/dlrm-trainer.js';
import { DEMO_RECIPE, demoSpec, evaluate, trainDemoModel } from '../demo/train/recipe.js';
import type { Recipe } from '../demo/train/recipe.js';
import { AGE_GENRE, TIME_GENRE, createWorld, drawSessions } from '../demo/train/world.js';
import { DECADES, GENRES, RATING_BUCKETS, TIMES_OF_DAY, requestFor } from '../demo/src/vocab.js';
import type { CatalogItem, UserContext } from '../demo/src/vocab.js';

const MODEL_DIR = fileURLToPath(new URL('../demo/public/model/', import.meta.url));

describe('the catalog', () => {
  const catalog = buildCatalog();

  it('keeps 1000 real movies with a title, a known genre, a year and a rating; ids in order, titles unique', () => {
    expect(catalog.length).toBe(1000);
    catalog.forEach((item, i) => {
      expect(item.id).toBe(i);
      expect(item.title.length).toBeGreaterThan(0);
      expect(item.genre).toBeGreaterThanOrEqual(0);
      expect(item.genre).toBeLessThan(GENRES.length);
      expect(item.year).toBeGreaterThanOrEqual(1910);
      expect(item.year).toBeLessThanOrEqual(2011);
      expect(item.rating).toBeGreaterThan(0);
      expect(item.rating).toBeLessThanOrEqual(10);
    });
    expect(new Set(catalog.map((c) => c.title)).size).toBe(catalog.length);
    expect(catalog[0]!.title).toBe('The Shawshank Redemption');
  });

  it("reads the table's two-digit years back into the right century", () => {
    expect(releaseYear('Nov 21 2046')).toBe(1946);
    expect(releaseYear('Aug 07 1998')).toBe(1998);
    expect(releaseYear('Jul 18 2008')).toBe(2008);
    expect(releaseYear('someday')).toBeUndefined();
  });

  it('is the catalog the page loads (demo/public/model/catalog.json)', async () => {
    const committed = JSON.parse(await readFile(MODEL_DIR + 'catalog.json', 'utf8')) as CatalogItem[];
    expect(committed).toEqual(catalog);
  });
});

/** A tiny DLRM: a pooled context field, interleaved sides, two hidden layers. */
function tinySpec(): SpecOf<'dlrm'> {
  const field = (name: string, side: 'context' | 'target', vocab: number, pooling = 'none') => ({ name, side, vocab, dim: 3, pooling });
  return parseModelSpec({
    format: 'rankaware-model',
    version: 1,
    name: 'tiny',
    architecture: 'dlrm',
    fields: [field('c0', 'context', 4), field('t0', 'target', 5), field('hist', 'context', 5, 'mean'), field('t1', 'target', 3)],
    options: { bottomMlp: [], topMlp: [4, 3], pairOrder: 'dlrm', topInput: 'embeddings+pairs' },
  }) as SpecOf<'dlrm'>;
}

function tinyData(spec: SpecOf<'dlrm'>, requests: number, seed: number): LabeledRequest[] {
  const rand = mulberry32(seed);
  const id = (n: number) => Math.floor(rand() * n);
  return Array.from({ length: requests }, (_, r) => {
    const request = {
      context: { c0: id(4), hist: Array.from({ length: r % 4 }, () => id(5)) },
      candidates: Array.from({ length: 3 }, () => ({ t0: id(5), t1: id(3) })),
    };
    return { inputs: encodeRequest(spec, request), labels: [1, 0, id(2)] };
  });
}

describe('the DLRM trainer', () => {
  it('computes the gradient of every parameter as central finite differences do (relative error < 1e-6)', () => {
    const spec = tinySpec();
    const trainer = new DlrmTrainer(spec, 5);
    const data = tinyData(spec, 6, 9);
    const batch = examplesOf(data);
    const names = ['embedding.c0', 'embedding.t0', 'embedding.hist', 'embedding.t1', 'top_mlp.0.weight', 'top_mlp.0.bias', 'top_mlp.1.weight', 'top_mlp.1.bias', 'top_mlp.2.weight', 'top_mlp.2.bias'];
    trainer.lossAndGradients(data, batch);
    const analytic = new Map(names.map((n) => [n, Float64Array.from(trainer.param(n).grad)]));
    const h = 1e-6;
    let checked = 0;
    for (const name of names) {
      const { value } = trainer.param(name);
      for (let i = 0; i < value.length; i++) {
        const keep = value[i]!;
        value[i] = keep + h;
        const up = trainer.lossAndGradients(data, batch);
        value[i] = keep - h;
        const down = trainer.lossAndGradients(data, batch);
        value[i] = keep;
        const numeric = (up - down) / (2 * h);
        const a = analytic.get(name)![i]!;
        expect(Math.abs(a - numeric), `${name}[${i}]: analytic ${a}, numeric ${numeric}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("scores as rankaware scores the model it saves (both plans, within float32 rounding of the weights)", () => {
    const spec = tinySpec();
    const trainer = new DlrmTrainer(spec, 11);
    const data = tinyData(spec, 20, 3);
    for (let s = 0; s < 30; s++) trainer.step(data, examplesOf(data), { learningRate: 0.05 });
    const model = trainer.toModel();
    const rand = mulberry32(17);
    for (let r = 0; r < 5; r++) {
      const request = {
        context: { c0: r % 4, hist: [r % 5, (r + 2) % 5] },
        candidates: Array.from({ length: 7 }, () => ({ t0: Math.floor(rand() * 5), t1: Math.floor(rand() * 3) })),
      };
      const logits = trainer.logits(encodeRequest(spec, request));
      const expected = Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
      for (const plan of ['vanilla', 'rank-aware'] as const) {
        const got = score(model, request, { backend: 'js', plan }).scores;
        got.forEach((g, i) => expect(Math.abs(g - expected[i]!)).toBeLessThan(1e-6));
      }
    }
  });

  it('learns: the training loss falls and the held-out AUC beats the IMDB rating alone; the same seed gives the same weights', () => {
    const catalog = buildCatalog().slice(0, 200);
    const recipe: Recipe = { ...DEMO_RECIPE, dim: 8, topMlp: [16], trainUsers: 600, heldOutUsers: 300, sessionsPerUser: 3, epochs: 3, learningRate: 0.01 };
    const a = trainDemoModel(catalog, recipe);
    const b = trainDemoModel(catalog, recipe);
    for (const [name, t] of a.model.weights) expect(b.model.weights.get(name)!.data, name).toEqual(t.data);
    const losses = a.metrics.epochLosses;
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(a.metrics.heldOutAuc).toBeGreaterThan(a.metrics.ratingOnlyAuc);
    expect(a.metrics.heldOutAuc).toBeLessThan(a.metrics.oracleAuc + 0.02);
  }, 120_000);

  it('computes AUC with ties counted one half', () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(auc([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(auc([1, 2], [1, 1])).toBeNaN();
  });
});

describe('the committed demo model (demo/public/model/)', () => {
  const catalog = buildCatalog();
  const loaded = loadModelDir(MODEL_DIR);
  const training = readFile(MODEL_DIR + 'training.json', 'utf8').then((t) => JSON.parse(t) as { recipe: Recipe; metrics: { heldOutAuc: number; oracleAuc: number } });

  it('is the recipe: its spec, its recipe in training.json, under 2 MB', async () => {
    const model = await loaded;
    expect(model.spec).toEqual(demoSpec(catalog.length, DEMO_RECIPE));
    expect((await training).recipe).toEqual(DEMO_RECIPE);
    expect((await readFile(MODEL_DIR + 'weights.safetensors')).byteLength).toBeLessThan(2 * 1024 * 1024);
  });

  it("has the held-out AUC training.json reports, recomputed here by rankaware on fresh draws of the held-out users", async () => {
    const model = await loaded;
    const world = createWorld(catalog, DEMO_RECIPE.seed);
    const heldOut = drawSessions(world, DEMO_RECIPE.heldOutUsers, DEMO_RECIPE.sessionsPerUser, DEMO_RECIPE.impressions, DEMO_RECIPE.seed + 2);
    const metrics = evaluate(model, world, heldOut);
    const reported = (await training).metrics;
    expect(metrics.heldOutAuc).toBeCloseTo(reported.heldOutAuc, 10);
    expect(metrics.oracleAuc).toBeCloseTo(reported.oracleAuc, 10);
    expect(metrics.heldOutAuc).toBeGreaterThan(0.72);
    expect(metrics.oracleAuc - metrics.heldOutAuc).toBeLessThan(0.03);
  }, 60_000);

  /** Mean score of a genre's films for a viewer. */
  const meanScore = (model: Model, user: UserContext, genre: number) => {
    const items = catalog.filter((c) => c.genre === genre);
    const scores = score(model, requestFor(user, items), { backend: 'js' }).scores;
    return scores.reduce((a, b) => a + b, 0) / scores.length;
  };
  const base: UserContext = { ageBand: 2, favoriteGenre: 0, history: [], timeOfDay: 2, device: 1 };

  it('learned the documented effects: horror late at night, a favourite genre, genre taste by age', async () => {
    const model = await loaded;
    const horror = GENRES.indexOf('Horror');
    const late = TIMES_OF_DAY.indexOf('late night');
    const morning = TIMES_OF_DAY.indexOf('morning');
    expect(TIME_GENRE[late]![horror]! - TIME_GENRE[morning]![horror]!).toBeGreaterThan(1);
    expect(meanScore(model, { ...base, timeOfDay: late }, horror)).toBeGreaterThan(meanScore(model, { ...base, timeOfDay: morning }, horror) + 0.1);
    const comedy = GENRES.indexOf('Comedy');
    expect(meanScore(model, { ...base, favoriteGenre: comedy }, comedy)).toBeGreaterThan(meanScore(model, base, comedy) + 0.05);
    // The 18-24 band likes action more and westerns less than the 65+ band (AGE_GENRE).
    const action = GENRES.indexOf('Action');
    const western = GENRES.indexOf('Western');
    expect(AGE_GENRE[0]![action]!).toBeGreaterThan(AGE_GENRE[4]![action]!);
    expect(meanScore(model, { ...base, ageBand: 0 }, action) - meanScore(model, { ...base, ageBand: 4 }, action)).toBeGreaterThan(0.05);
    expect(meanScore(model, { ...base, ageBand: 4 }, western) - meanScore(model, { ...base, ageBand: 0 }, western)).toBeGreaterThan(0.05);
  });

  it('refuses a request outside its vocabularies with a RankawareError naming the field', async () => {
    const model = await loaded;
    const ok = requestFor(base, catalog.slice(0, 2));
    expect(() => score(model, { ...ok, context: { ...ok.context, history: [catalog.length] } })).toThrow(/history.*expected an id in \[0, 1000\)/);
    expect(() => score(model, { ...ok, candidates: [{ ...ok.candidates[0]!, decade: DECADES.length }] })).toThrow(/decade/);
    expect(() => score(model, { ...ok, candidates: [{ ...ok.candidates[0]!, rating_bucket: RATING_BUCKETS.length }] })).toThrow(/rating_bucket/);
  });
});
