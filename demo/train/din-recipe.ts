/**
 * The demo's sequence model: a DIN over the viewer's ordered history (recently watched, oldest first,
 * each film's genre as a side feature), trained on the same synthetic sessions as the DLRM (./recipe.ts)
 * and scored on the same held-out sessions, so that the two AUCs compare. demo/train/main.ts writes it to
 * demo/public/din/.
 */
import { MODEL_FORMAT, MODEL_VERSION } from '../../src/model/spec.js';
import { parseModelSpec } from '../../src/model/parse-spec.js';
import type { SpecOf } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';
import { compileModel } from '../../src/onnx/native-graph.js';
import { AGE_BANDS, DECADES, DEVICES, GENRES, RATING_BUCKETS, TIMES_OF_DAY, sequenceRequestFor } from '../src/vocab.js';
import type { CatalogItem } from '../src/vocab.js';
import { DinTrainer } from './din-trainer.js';
import type { DinRequest } from './din-trainer.js';
import type { Example } from './dlrm-trainer.js';
import { DEMO_RECIPE, heldOutMetrics, trainEpochs } from './recipe.js';
import type { Metrics, Recipe } from './recipe.js';
import { HISTORY_MAX, checkTables, createWorld, drawSessions } from './world.js';
import type { Session, World } from './world.js';

export interface SequenceRecipe extends Omit<Recipe, 'topMlp'> {
  /** The activation unit's hidden sizes and the MLP's. */
  readonly attention: readonly number[];
  readonly mlp: readonly number[];
  /** The history's maxLength (longer histories keep their most recent films). */
  readonly maxLength: number;
}

/** The DLRM's data (users, sessions, seeds) and training loop; DIN's own layers. */
export const DIN_RECIPE: SequenceRecipe = {
  ...(({ topMlp: _, ...rest }) => rest)(DEMO_RECIPE),
  attention: [32],
  mlp: [64, 32],
  maxLength: 50,
};

/** The demo DIN: four context fields and the history sequence (sharing item_id's table), four candidate fields. */
export function dinSpec(catalogSize: number, recipe: Pick<SequenceRecipe, 'dim' | 'attention' | 'mlp' | 'maxLength'>): SpecOf<'din'> {
  const D = recipe.dim;
  const field = (name: string, side: 'context' | 'target', vocab: number) => ({ name, side, vocab, dim: D });
  return parseModelSpec({
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    name: 'rankaware-demo-movies-din',
    architecture: 'din',
    fields: [
      field('age_band', 'context', AGE_BANDS.length),
      field('favorite_genre', 'context', GENRES.length),
      { name: 'history', type: 'sequence', side: 'context', table: 'item_id', maxLength: recipe.maxLength, overflow: 'truncate', features: [{ name: 'genre', vocab: GENRES.length }] },
      field('time_of_day', 'context', TIMES_OF_DAY.length),
      field('device', 'context', DEVICES.length),
      field('item_id', 'target', catalogSize),
      field('genre', 'target', GENRES.length),
      field('decade', 'target', DECADES.length),
      field('rating_bucket', 'target', RATING_BUCKETS.length),
    ],
    options: { attention: recipe.attention, attentionActivation: 'sigmoid', mlp: recipe.mlp },
    output: 'sigmoid',
    linearLayout: 'out_in',
  }) as SpecOf<'din'>;
}

/** Held-out metrics of a DIN, scored through rankaware (its compiled graph, rank-aware, one request per session). */
export function evaluateDin(model: Model, world: World, sessions: readonly Session[]): ReturnType<typeof heldOutMetrics> {
  const compiled = compileModel(model);
  return heldOutMetrics(world, sessions, (s) => compiled.score(sequenceRequestFor(s.user, s.items, world.catalog), 'rank-aware', 'js').scores);
}

export interface TrainedDin {
  readonly model: Model;
  readonly world: World;
  readonly metrics: Metrics;
}

/** Draw the DLRM's data, train the DIN on it, evaluate. Deterministic for a recipe and catalog. */
export function trainDinModel(catalog: readonly CatalogItem[], recipe: SequenceRecipe = DIN_RECIPE, log: (line: string) => void = () => {}): TrainedDin {
  checkTables();
  if (recipe.maxLength < HISTORY_MAX) throw new Error(`maxLength ${recipe.maxLength} would truncate the world's histories (up to ${HISTORY_MAX})`);
  const world = createWorld(catalog, recipe.seed);
  const spec = dinSpec(catalog.length, recipe);
  const train = drawSessions(world, recipe.trainUsers, recipe.sessionsPerUser, recipe.impressions, recipe.seed + 1);
  const heldOut = drawSessions(world, recipe.heldOutUsers, recipe.sessionsPerUser, recipe.impressions, recipe.seed + 2);
  const trainer = new DinTrainer(spec, recipe.seed + 3);
  const data: DinRequest[] = train.map((s) => trainer.layout(sequenceRequestFor(s.user, s.items, catalog), s.clicks));
  const examples: Example[] = data.flatMap((d, request) => Array.from({ length: d.rows }, (_, row) => ({ request, row })));
  const epochLosses = trainEpochs(examples, recipe, (batch) => trainer.step(data, batch, { learningRate: recipe.learningRate }), log, 'din ');
  const model = trainer.toModel();
  const clicks = train.reduce((a, s) => a + s.clicks.reduce((x, y) => x + y, 0), 0);
  return {
    model,
    world,
    metrics: {
      ...evaluateDin(model, world, heldOut),
      trainImpressions: examples.length,
      heldOutImpressions: heldOut.length * recipe.impressions,
      clickRate: clicks / examples.length,
      epochLosses,
    },
  };
}
