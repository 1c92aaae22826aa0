/**
 * Trains the demo's default model and writes it where the page loads it (demo/public/model/):
 * model.json + weights.safetensors (rankaware's model format), catalog.json (the movies, by item id) and
 * training.json (the recipe and the held-out metrics). Prints the held-out AUC.
 *
 *   npm run demo:train        # about 35 s on one core; deterministic: the same bytes every run
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { saveModelDir } from '../../src/node.js';
import { buildCatalog } from './catalog.js';
import { DEMO_RECIPE, trainDemoModel } from './recipe.js';

const outDir = fileURLToPath(new URL('../public/model/', import.meta.url));
const started = performance.now();
const catalog = buildCatalog();
console.log(`catalog: ${catalog.length} movies from vega-datasets`);
const { model, metrics } = trainDemoModel(catalog, DEMO_RECIPE, (line) => console.log(line));
const seconds = (performance.now() - started) / 1000;
await mkdir(outDir, { recursive: true });
await saveModelDir(model, outDir);
await writeFile(new URL('catalog.json', `file://${outDir}`), JSON.stringify(catalog) + '\n');
await writeFile(new URL('training.json', `file://${outDir}`), JSON.stringify({ recipe: DEMO_RECIPE, metrics }, null, 2) + '\n');
console.log(
  `held-out AUC ${metrics.heldOutAuc.toFixed(4)} (the true preference logit: ${metrics.oracleAuc.toFixed(4)}; IMDB rating alone: ${metrics.ratingOnlyAuc.toFixed(4)}), ` +
    `log loss ${metrics.heldOutLogLoss.toFixed(4)}, ${metrics.trainImpressions} training impressions (click rate ${metrics.clickRate.toFixed(3)}), ${seconds.toFixed(1)} s`,
);
console.log(`wrote ${outDir}`);
