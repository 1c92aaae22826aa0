/**
 * The paper's Fig. 2 (section 5.2) live in the browser: DLRM-style models (FM pairs, then
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
  /** Rounds over all configurations; each times at least `roundMs` of requests per plan and configuration. */
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

interface Config {
  readonly panel: 'K' | 'M';
  readonly K: number;
  readonly M: number;
}

interface Measured {
  readonly model: Model;
  readonly request: ReturnType<typeof randomRequest>;
  readonly flopRatio: number;
  readonly maxScoreDiff: number;
  readonly times: Record<PlanMode, number[]>;
}

const run = (m: Measured, plan: PlanMode) => score(m.model, m.request, { backend: 'wasm', plan }).scores;

/** One model per (K, M), both plans compiled and run once (the warm-up), their scores compared. */
function prepare(K: number, M: number): Measured {
  const model = randomModel({ arch: 'dlrm', context: K, target: M, dim: SWEEP.dim, mlp: SWEEP.mlp, vocab: 100, seed: K * 100 + M });
  const request = randomRequest(model.spec, SWEEP.candidates, 1);
  const flops = (plan: PlanMode) => flopsFor(countFlops(getPlan(model, plan)), SWEEP.candidates);
  const m: Measured = { model, request, flopRatio: flops('vanilla') / flops('rank-aware'), maxScoreDiff: 0, times: { vanilla: [], 'rank-aware': [] } };
  const a = run(m, 'vanilla');
  const b = run(m, 'rank-aware');
  return { ...m, maxScoreDiff: a.reduce((x, s, i) => Math.max(x, Math.abs(s - b[i]!)), 0) };
}

/** Time one plan for at least roundMs; ms per request. */
function timeRound(m: Measured, plan: PlanMode): number {
  let count = 0;
  const t0 = performance.now();
  do {
    run(m, plan);
    count++;
  } while (performance.now() - t0 < SWEEP.roundMs);
  return (performance.now() - t0) / count;
}

function pointsOf(configs: readonly Config[], measured: ReadonlyMap<string, Measured>): SweepPoint[] {
  const ms = (m: Measured, plan: PlanMode) => median(m.times[plan]);
  const baseline = ms(measured.get(`${SWEEP.fixedK},${SWEEP.fixedM}`)!, 'vanilla');
  return configs.map(({ panel, K, M }) => {
    const m = measured.get(`${K},${M}`)!;
    const vanillaMs = ms(m, 'vanilla');
    const rankAwareMs = ms(m, 'rank-aware');
    return { panel, K, M, vanillaMs, rankAwareMs, vanillaRps: baseline / vanillaMs, rankAwareRps: baseline / rankAwareMs, flopRatio: m.flopRatio, maxScoreDiff: m.maxScoreDiff };
  });
}

/**
 * Run the sweep: every configuration is measured once per round, round after round, so that a busy moment
 * of the machine slows all configurations alike instead of bending one point of the curve. `onRound`
 * gets the medians so far after each round (the page redraws its chart).
 */
export async function runSweep(onRound: (points: readonly SweepPoint[], round: number) => void): Promise<SweepResult> {
  const wasm = await loadBackend('wasm');
  if (wasm.name !== 'wasm') throw new Error(`the sweep times the WASM backend, which this browser cannot run (${wasm.reason})`);
  const configs: Config[] = [
    ...SWEEP.kValues.map((K) => ({ panel: 'K' as const, K, M: SWEEP.fixedM })),
    ...SWEEP.mValues.map((M) => ({ panel: 'M' as const, K: SWEEP.fixedK, M })),
  ];
  const measured = new Map<string, Measured>();
  for (const { K, M } of configs) {
    if (measured.has(`${K},${M}`)) continue;
    await nextFrame();
    measured.set(`${K},${M}`, prepare(K, M));
  }
  let points: SweepPoint[] = [];
  for (let round = 0; round < SWEEP.rounds; round++) {
    for (const m of measured.values()) {
      await nextFrame();
      for (const plan of ['vanilla', 'rank-aware'] as const) m.times[plan].push(timeRound(m, plan));
    }
    points = pointsOf(configs, measured);
    onRound(points, round + 1);
  }
  return { backend: 'wasm', points };
}
