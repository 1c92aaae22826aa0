/**
 * The demo model's recipe: the DLRM's fields and sizes, the synthetic data set (train and held-out users),
 * the training loop and the held-out evaluation. demo/train/main.ts runs it and writes the model; the
 * tests run it small.
 */
import { score } from '../../src/engine.js';
import { encodeRequest } from '../../src/model/request.js';
import { mulberry32 } from '../../src/model/random.js';
import { MODEL_FORMAT, MODEL_VERSION } from '../../src/model/spec.js';
import { parseModelSpec } from '../../src/model/parse-spec.js';
import type { SpecOf } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';
import { AGE_BANDS, DECADES, DEVICES, GENRES, RATING_BUCKETS, TIMES_OF_DAY, requestFor } from '../src/vocab.js';
import type { CatalogItem } from '../src/vocab.js';
import { DlrmTrainer, auc, examplesOf, shuffle } from './dlrm-trainer.js';
import type { Example, LabeledRequest } from './dlrm-trainer.js';
import { checkTables, createWorld, drawSessions, trueLogit } from './world.js';
import type { Session, World } from './world.js';

export interface Recipe {
  readonly dim: number;
  readonly topMlp: readonly number[];
  readonly trainUsers: number;
  readonly heldOutUsers: number;
  readonly sessionsPerUser: number;
  readonly impressions: number;
  readonly epochs: number;
  readonly batch: number;
  readonly learningRate: number;
  readonly seed: number;
}

export const DEMO_RECIPE: Recipe = {
  dim: 16,
  topMlp: [64, 32],
  trainUsers: 5000,
  heldOutUsers: 1000,
  sessionsPerUser: 4,
  impressions: 10,
  epochs: 2,
  batch: 128,
  learningRate: 0.003,
  seed: 20240611,
};

/** The demo DLRM: five context fields (one a pooled history), four candidate fields. */
export function demoSpec(catalogSize: number, recipe: Pick<Recipe, 'dim' | 'topMlp'>): SpecOf<'dlrm'> {
  const D = recipe.dim;
  const field = (name: string, side: 'context' | 'target', vocab: number, pooling: 'none' | 'mean' = 'none') => ({ name, side, vocab, dim: D, pooling });
  return parseModelSpec({
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    name: 'rankaware-demo-movies',
    architecture: 'dlrm',
    fields: [
      field('age_band', 'context', AGE_BANDS.length),
      field('favorite_genre', 'context', GENRES.length),
      field('history', 'context', catalogSize, 'mean'),
      field('time_of_day', 'context', TIMES_OF_DAY.length),
      field('device', 'context', DEVICES.length),
      field('item_id', 'target', catalogSize),
      field('genre', 'target', GENRES.length),
      field('decade', 'target', DECADES.length),
      field('rating_bucket', 'target', RATING_BUCKETS.length),
    ],
    options: { bottomMlp: [], topMlp: recipe.topMlp, pairOrder: 'dlrm', topInput: 'embeddings+pairs' },
    output: 'sigmoid',
    linearLayout: 'out_in',
  }) as SpecOf<'dlrm'>;
}

export function labeled(spec: SpecOf<'dlrm'>, sessions: readonly Session[]): LabeledRequest[] {
  return sessions.map((s) => ({ inputs: encodeRequest(spec, requestFor(s.user, s.items)), labels: s.clicks }));
}

export interface Metrics {
  /** Held-out AUC of the saved (float32) model, scored by rankaware's reference backend per session. */
  readonly heldOutAuc: number;
  /** The ceiling: held-out AUC of the true logit that drew the clicks. */
  readonly oracleAuc: number;
  /** A context-free baseline: ranking by IMDB rating alone. */
  readonly ratingOnlyAuc: number;
  readonly heldOutLogLoss: number;
  readonly trainImpressions: number;
  readonly heldOutImpressions: number;
  readonly clickRate: number;
  readonly epochLosses: readonly number[];
}

type HeldOut = Pick<Metrics, 'heldOutAuc' | 'oracleAuc' | 'ratingOnlyAuc' | 'heldOutLogLoss'>;

/** Held-out metrics of a session scorer (probabilities, one per shown film) beside the true logit and the rating alone. */
export function heldOutMetrics(world: World, sessions: readonly Session[], scoresOf: (s: Session) => ArrayLike<number>): HeldOut {
  const scores: number[] = [];
  const oracle: number[] = [];
  const rating: number[] = [];
  const labels: number[] = [];
  let logLoss = 0;
  for (const s of sessions) {
    const p = scoresOf(s);
    s.items.forEach((item, i) => {
      const y = s.clicks[i]!;
      const q = Math.min(1 - 1e-7, Math.max(1e-7, p[i]!));
      logLoss -= y * Math.log(q) + (1 - y) * Math.log(1 - q);
      scores.push(p[i]!);
      oracle.push(trueLogit(world, s.user, item));
      rating.push(item.rating);
      labels.push(y);
    });
  }
  return { heldOutAuc: auc(scores, labels), oracleAuc: auc(oracle, labels), ratingOnlyAuc: auc(rating, labels), heldOutLogLoss: logLoss / labels.length };
}

/** Held-out metrics of the DLRM on sessions, scored through rankaware (one request per session). */
export function evaluate(model: Model, world: World, sessions: readonly Session[]): HeldOut {
  return heldOutMetrics(world, sessions, (s) => score(model, requestFor(s.user, s.items), { backend: 'js', plan: 'rank-aware' }).scores);
}

/** The training loop: `epochs` passes over the examples, shuffled by the recipe's seed, in batches. Returns each epoch's mean loss. */
export function trainEpochs(examples: Example[], recipe: Pick<Recipe, 'epochs' | 'batch' | 'seed'>, step: (batch: readonly Example[]) => number, log: (line: string) => void, label = ''): number[] {
  const rand = mulberry32(recipe.seed + 4);
  const epochLosses: number[] = [];
  for (let epoch = 0; epoch < recipe.epochs; epoch++) {
    shuffle(examples, rand);
    let total = 0;
    let batches = 0;
    for (let at = 0; at < examples.length; at += recipe.batch) {
      total += step(examples.slice(at, at + recipe.batch));
      batches++;
    }
    epochLosses.push(total / batches);
    log(`${label}epoch ${epoch + 1}/${recipe.epochs}: train log loss ${(total / batches).toFixed(4)}`);
  }
  return epochLosses;
}

export interface Trained {
  readonly model: Model;
  readonly world: World;
  readonly metrics: Metrics;
}

/** Draw the data, train, evaluate. Deterministic for a recipe and catalog. */
export function trainDemoModel(catalog: readonly CatalogItem[], recipe: Recipe = DEMO_RECIPE, log: (line: string) => void = () => {}): Trained {
  checkTables();
  const world = createWorld(catalog, recipe.seed);
  const spec = demoSpec(catalog.length, recipe);
  const train = drawSessions(world, recipe.trainUsers, recipe.sessionsPerUser, recipe.impressions, recipe.seed + 1);
  const heldOut = drawSessions(world, recipe.heldOutUsers, recipe.sessionsPerUser, recipe.impressions, recipe.seed + 2);
  const data = labeled(spec, train);
  const trainer = new DlrmTrainer(spec, recipe.seed + 3);
  const examples = examplesOf(data);
  const epochLosses = trainEpochs(examples, recipe, (batch) => trainer.step(data, batch, { learningRate: recipe.learningRate }), (line) => log(line));
  const model = trainer.toModel();
  const clicks = train.reduce((a, s) => a + s.clicks.reduce((x, y) => x + y, 0), 0);
  return {
    model,
    world,
    metrics: {
      ...evaluate(model, world, heldOut),
      trainImpressions: examples.length,
      heldOutImpressions: heldOut.length * recipe.impressions,
      clickRate: clicks / examples.length,
      epochLosses,
    },
  };
}
