/**
 * `npm run fuzz`: the attack suite. Writes 1,000 corrupt model directories and 200 corrupt ONNX files
 * (seeded), loads and scores each on js and wasm in child processes under a timeout, attacks a real
 * `rankaware serve` over HTTP (http-run.ts), and prints the count of every outcome. Exits 1 if any
 * outcome is a crash, a hang, a silent NaN, a 5xx, a reset, a lost request, a wrong score, an unexpected
 * answer, or RSS not back near its start.
 *
 *   node scripts/fuzz.mjs [--quick] [--seed 19] [--models 1000] [--onnx 200] [--only models,onnx,http]
 *                         [--timeout 10000] [--golden DIR] [--keep] [--json]
 *
 * --quick: 100 model directories, 20 ONNX files, each HTTP category once and small floods (npm test).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runHttpAttacks } from './http-run.js';
import { LoaderPool } from './loader-pool.js';
import { writeModelCorpus } from './model-corpus.js';
import { onnxCorpus } from './onnx-corpus.js';
import { Tally } from './tally.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function main(argv: readonly string[], log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const { values: v } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' }, seed: { type: 'string' }, models: { type: 'string' }, onnx: { type: 'string' }, only: { type: 'string' },
      timeout: { type: 'string' }, golden: { type: 'string' }, keep: { type: 'boolean' }, json: { type: 'boolean' },
    },
  });
  const quick = v.quick === true;
  const seed = Number(v.seed ?? 19);
  const models = Number(v.models ?? (quick ? 100 : 1000));
  const onnx = Number(v.onnx ?? (quick ? 20 : 200));
  const timeoutMs = Number(v.timeout ?? 10_000);
  const only = new Set((v.only ?? 'models,onnx,http').split(','));
  const golden = v.golden ?? join(ROOT, '..', 'shared', 'golden', 'cases');
  const work = await mkdtemp(join(tmpdir(), 'rankaware-fuzz-'));
  const tally = new Tally();
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
  log(`rankaware fuzz: seed ${seed}, ${quick ? 'quick' : 'full'} run, scratch ${work}`);
  try {
    if (only.has('models') || only.has('onnx')) {
      const pool = new LoaderPool(2, timeoutMs);
      try {
        if (only.has('models')) {
          const corpus = await writeModelCorpus(join(work, 'models'), models, seed);
          await Promise.all(
            corpus.map(async (c) => {
              for (const r of await pool.run({ id: c.id, kind: 'model', dir: c.dir })) tally.add(`model dirs (${r.on})`, r.outcome, `#${c.id} ${c.mutation}: ${c.detail} -> ${r.message ?? ''}`);
            }),
          );
          log(`  ${models} corrupt model directories loaded and scored (${seconds()} s)`);
        }
        if (only.has('onnx')) {
          const corpus = onnxCorpus(onnx, seed, existsSync(golden) ? golden : undefined);
          const bases = new Set(corpus.map((c) => c.base));
          await Promise.all(
            corpus.map(async (c) => {
              const results = await pool.run({ id: c.id, kind: 'onnx', bytes: c.bytes, context: c.context });
              for (const r of results) tally.add(`onnx files (${r.on})`, r.outcome, `#${c.id} ${c.base} ${c.mutation}: ${c.detail} -> ${r.message ?? ''}`);
            }),
          );
          log(`  ${onnx} corrupt ONNX files from ${bases.size} graphs imported and scored (${seconds()} s)`);
        }
        tally.note(`loader children: ${pool.started} started (2 at a time; a hang or a crash starts another), ${timeoutMs} ms per file`);
      } finally {
        pool.close();
      }
    }
    if (only.has('http')) {
      await runHttpAttacks({ root: ROOT, workDir: work, full: !quick, seed, tally, log });
      log(`  HTTP attacks done (${seconds()} s)`);
    }
  } finally {
    if (!v.keep) await rm(work, { recursive: true, force: true });
  }
  log('');
  log(tally.format());
  log(`${seconds()} s`);
  if (v.json) log(JSON.stringify({ seconds: Number(seconds()), ...tally.toJSON() }));
  return tally.failed ? 1 : 0;
}
