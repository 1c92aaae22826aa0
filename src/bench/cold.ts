/**
 * Cold start per backend: a fresh Node process per measurement (./cold-probe.ts) loads the runtime, the
 * model and scores one request; repeated in rounds over the backends, medians reported. Our js and wasm
 * backends run the rank-aware plan; onnxruntime-node and onnxruntime-web the exported vanilla graph,
 * one thread each.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModelDir } from '../node.js';
import { randomModel, randomRequest } from '../model/random.js';
import { exportOnnx } from '../onnx/writer/export.js';
import type { ColdBackend, ColdConfig } from './config.js';
import type { ColdTimes } from './cold-probe.js';
import { runInChild } from './fork.js';
import { stat } from './measure.js';
import type { Stat } from './measure.js';
import type { Progress } from './progress.js';

export interface ColdRow {
  readonly model: string;
  readonly backend: ColdBackend;
  readonly plan: 'rank-aware' | 'vanilla';
  readonly n: number;
  readonly import_ms: Stat;
  readonly load_ms: Stat;
  readonly first_score_ms: Stat;
  /** import + load + first score. */
  readonly cold_ms: Stat;
}

export interface ColdResult {
  readonly suite: 'cold';
  readonly rows: readonly ColdRow[];
}

export function coldSteps(c: ColdConfig): number {
  return c.repeats * c.models.length * c.backends.length;
}

export async function runCold(c: ColdConfig, progress: Progress): Promise<ColdResult> {
  const tmp = await mkdtemp(join(tmpdir(), 'rankaware-cold-'));
  try {
    const dirs = new Map<string, { dir: string; onnx: string }>();
    for (const m of c.models) {
      const model = randomModel({ seed: 3, ...m.init });
      const dir = join(tmp, m.name);
      await saveModelDir(model, dir);
      await writeFile(join(dir, 'request.json'), JSON.stringify(randomRequest(model.spec, c.n, 11)));
      await writeFile(join(dir, 'model.onnx'), exportOnnx(model));
      dirs.set(m.name, { dir, onnx: join(dir, 'model.onnx') });
    }
    const samples = new Map<string, ColdTimes[]>();
    // Rounds over every (model, backend), so that a noisy period touches all of them alike.
    for (let r = 0; r < c.repeats; r++)
      for (const m of c.models)
        for (const backend of c.backends) {
          progress.tick(`cold ${m.name} ${backend} (${r + 1}/${c.repeats})`);
          const t = await runInChild<ColdTimes>({ kind: 'cold', probe: { backend, ...dirs.get(m.name)! } });
          if (t.candidates !== c.n) throw new Error(`cold ${backend} on ${m.name}: ${t.candidates} scores for ${c.n} candidates`);
          const key = `${m.name}/${backend}`;
          samples.set(key, [...(samples.get(key) ?? []), t]);
        }
    const rows: ColdRow[] = [];
    for (const m of c.models)
      for (const backend of c.backends) {
        const s = samples.get(`${m.name}/${backend}`)!;
        const of = (k: keyof ColdTimes) => stat(s.map((x) => x[k]));
        rows.push({ model: m.name, backend, plan: backend === 'js' || backend === 'wasm' ? 'rank-aware' : 'vanilla', n: c.n, import_ms: of('import_ms'), load_ms: of('load_ms'), first_score_ms: of('first_score_ms'), cold_ms: of('total_ms') });
      }
    return { suite: 'cold', rows };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
