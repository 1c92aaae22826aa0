/**
 * Trains the demo's two models and writes them where the page loads them: the DLRM to
 * demo/public/model/ and the DIN (the ordered-history sequence model) to demo/public/din/, each as
 * model.json + weights.safetensors (rankaware's model format) and training.json (the recipe and the
 * held-out metrics), with catalog.json (the movies, by item id) beside the DLRM. Prints the held-out AUCs.
 *
 *   npm run demo:train        # about 70 s on one core; deterministic: the same bytes every run
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { saveModelDir } from '../../src/node.js';
import type { Model } from '../../src/node.js';
import { buildCatalog } from './catalog.js';
import { DIN_RECIPE, trainDinModel } from './din-recipe.js';
import { DEMO_RECIPE, trainDemoModel } from './recipe.js';
import type { Metrics } from './recipe.js';

const publicDir = new URL('../public/', import.meta.url);

async function save(dir: string, model: Model, recipe: unknown, metrics: Metrics, seconds: number): Promise<void> {
  const out = fileURLToPath(new URL(`${dir}/`, publicDir));
  await mkdir(out, { recursive: true });
  await saveModelDir(model, out);
  await writeFile(new URL('training.json', `file://${out}`), JSON.stringify({ recipe, metrics }, null, 2) + '\n');
  console.log(
    `${model.spec.architecture}: held-out AUC ${metrics.heldOutAuc.toFixed(4)} (the true preference logit: ${metrics.oracleAuc.toFixed(4)}; IMDB rating alone: ${metrics.ratingOnlyAuc.toFixed(4)}), ` +
      `log loss ${metrics.heldOutLogLoss.toFixed(4)}, ${metrics.trainImpressions} training impressions (click rate ${metrics.clickRate.toFixed(3)}), ${seconds.toFixed(1)} s; wrote ${out}`,
  );
}

const catalog = buildCatalog();
console.log(`catalog: ${catalog.length} movies from vega-datasets`);
let started = performance.now();
const dlrm = trainDemoModel(catalog, DEMO_RECIPE, (line) => console.log(line));
await save('model', dlrm.model, DEMO_RECIPE, dlrm.metrics, (performance.now() - started) / 1000);
await writeFile(new URL('model/catalog.json', publicDir), JSON.stringify(catalog) + '\n');
started = performance.now();
const din = trainDinModel(catalog, DIN_RECIPE, (line) => console.log(line));
await save('din', din.model, DIN_RECIPE, din.metrics, (performance.now() - started) / 1000);
