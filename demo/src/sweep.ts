/**
 * The paper's Fig. 2 (reference/002, section 5.2) live in the browser: DLRM-style models (FM pairs, then
 * FC layers) with K context and M target fields, each built vanilla and rank-aware and timed on WASM on
 * the page's thread; throughput normalized to the (K = 8, M = 4) vanilla model. Panel a varies K with
 * M = 4, panel b varies M with K = 8. Seeded random weights: the timing does not depend on their values.
 */
import { countFlops, flopsFor, getPlan, loadBackend, randomModel, randomRequest, score } from '../../src/index.js';
import type { Model, PlanMode } from '../../src/index.js';
import { median } from './ranking.js';

export const SWEEP = {
  dim: 32,
  mlp: [256, 128],
  candidates: 256,
  /** Panel a: K with M = 4; panel b: M with K = 8 (the paper's ranges). */
  kValues: [8, 12, 16, 20, 24],
  mValues: [4, 8, 12, 16, 20, 24],
  fixedM: 4,
  fixedK: 8,
  /** Alternating rounds per configuration; each round times at least `roundMs` of requests per plan. */
  rounds: 7,
  roundMs: 30,
} as const;

export interface SweepPoint {
  readonly panel: 'K' | 'M';
  readonly K: number;
  readonly M: number;
  readonly vanillaMs: number;
  readonly rankAwareMs: number;
  /** Requests per second normalized to the (K = 8, M = 4) vanilla model. */
  readonly vanillaRps: number;
  readonly rankAwareRps: number;
  readonly flopRatio: number;
  readonly maxScoreDiff: number;
}

export interface SweepResult {
  readonly backend: string;
  readonly points: SweepPoint[];
}

const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Median ms per request of each plan, measured in alternating rounds. */
function timePlans(model: Model, request: ReturnType<typeof randomRequest>): { ms: Record<PlanMode, number>; maxScoreDiff: number } {
  const times: Record<PlanMode, number[]> = { vanilla: [], 'rank-aware': [] };
  const run = (plan: PlanMode) => score(model, request, { backend: 'wasm', plan }).scores;
  // Warm-up: compile both plans, let the engine tier up.
  const a = run('vanilla');
  const b = run('rank-aware');
  const maxScoreDiff = a.reduce((m, s, i) => Math.max(m, Math.abs(s - b[i]!)), 0);
  for (let r = 0; r < SWEEP.rounds; r++)
    for (const plan of ['vanilla', 'rank-aware'] as const) {
      let count = 0;
      const t0 = performance.now();
      do {
        run(plan);
        count++;
      } while (performance.now() - t0 < SWEEP.roundMs);
      times[plan].push((performance.now() - t0) / count);
    }
  return { ms: { vanilla: median(times.vanilla), 'rank-aware': median(times['rank-aware']) }, maxScoreDiff };
}

/** Run the sweep, calling `onPoint` after each configuration (the page redraws its chart). */
export async function runSweep(onPoint: (points: readonly SweepPoint[]) => void): Promise<SweepResult> {
  const wasm = await loadBackend('wasm');
  if (wasm.name !== 'wasm') throw new Error(`the sweep times the WASM backend, which this browser cannot run (${wasm.reason})`);
  const configs = [
    ...SWEEP.kValues.map((K) => ({ panel: 'K' as const, K, M: SWEEP.fixedM })),
    ...SWEEP.mValues.map((M) => ({ panel: 'M' as const, K: SWEEP.fixedK, M })),
  ];
  const points: SweepPoint[] = [];
  const measured = new Map<string, { ms: Record<PlanMode, number>; maxScoreDiff: number; flopRatio: number }>();
  let baselineMs = 0;
  for (const { panel, K, M } of configs) {
    const key = `${K},${M}`;
    let m = measured.get(key);
    if (!m) {
      await nextFrame();
      const model = randomModel({ arch: 'dlrm', context: K, target: M, dim: SWEEP.dim, mlp: SWEEP.mlp, vocab: 100, seed: K * 100 + M });
      const request = randomRequest(model.spec, SWEEP.candidates, 1);
      const flops = (plan: PlanMode) => flopsFor(countFlops(getPlan(model, plan)), SWEEP.candidates);
      m = { ...timePlans(model, request), flopRatio: flops('vanilla') / flops('rank-aware') };
      measured.set(key, m);
    }
    if (K === SWEEP.fixedK && M === SWEEP.fixedM) baselineMs = m.ms.vanilla;
    points.push({
      panel,
      K,
      M,
      vanillaMs: m.ms.vanilla,
      rankAwareMs: m.ms['rank-aware'],
      vanillaRps: baselineMs / m.ms.vanilla,
      rankAwareRps: baselineMs / m.ms['rank-aware'],
      flopRatio: m.flopRatio,
      maxScoreDiff: m.maxScoreDiff,
    });
    onPoint(points);
  }
  return { backend: 'wasm', points };
}
