/**
 * Live ranking on the page: a rank-aware scorer and a vanilla one over the same model, backend and
 * threads. The rank-aware one ranks the visitor's request; both are then timed side by side on it.
 * A DLRM runs on its native plan; the DIN (no native plan) on its compiled graph (rankaware/onnx), whose
 * FLOPs are counted at the request's own history length.
 */
import { countFlops, getPlan, hasNativePlan } from '../../src/index.js';
import type { BackendName, Model, PlanMode, Scorer, ScorerInfo, ScorerOptions, ScoreTiming } from '../../src/index.js';
import { compileModel, createScorer, requestFlops } from '../../src/onnx/browser.js';
import type { ImportedScorerOptions } from '../../src/onnx/browser.js';

export interface RankResult {
  /** One score per candidate, request order. */
  readonly scores: number[];
  readonly timing: ScoreTiming;
  /** From the call to the scores, as the page sees it. */
  readonly totalMs: number;
}

export interface PlanMeasure {
  readonly plan: PlanMode;
  /** Median over the rounds of one request's wall time. */
  readonly medianMs: number;
  readonly flops: number;
  /** FLOPs of the context stage (run once) and of each candidate. */
  readonly flopsOnce: number;
  readonly flopsPerCandidate: number;
}

export interface Comparison {
  readonly n: number;
  readonly rankAware: PlanMeasure;
  readonly vanilla: PlanMeasure;
  /** Largest |rank-aware score - vanilla score| over the candidates. */
  readonly maxScoreDiff: number;
  readonly rounds: number;
}

export interface Throughput {
  readonly requests: number;
  readonly candidatesPerSecond: number;
  readonly msPerRequest: number;
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Request {
  readonly context: unknown;
  readonly candidates: unknown;
}

export class Ranker {
  private constructor(
    readonly model: Model,
    private readonly rankAware: Scorer,
    private readonly vanilla: Scorer,
  ) {}

  static async create(model: Model, backend: BackendName, threads: number): Promise<Ranker> {
    const rankAware = await scorerFor(model, backend, threads, 'rank-aware');
    try {
      return new Ranker(model, rankAware, await scorerFor(model, backend, threads, 'vanilla'));
    } catch (e) {
      rankAware.dispose();
      throw e;
    }
  }

  get info(): ScorerInfo {
    return this.rankAware.info;
  }

  async rank(request: Request): Promise<RankResult> {
    const t0 = performance.now();
    const result = await this.rankAware.score(request);
    return { scores: result.scores, timing: result.timing, totalMs: performance.now() - t0 };
  }

  /** Both plans on the same request, in alternating rounds so that both see the same machine. */
  async compare(request: Request, rounds = 15): Promise<Comparison> {
    const times: Record<PlanMode, number[]> = { 'rank-aware': [], vanilla: [] };
    const last: Record<PlanMode, number[]> = { 'rank-aware': [], vanilla: [] };
    // Two warm-up rounds (fresh workers, engine tier-up) are not timed.
    for (let r = -2; r < rounds; r++)
      for (const [plan, scorer] of [['vanilla', this.vanilla], ['rank-aware', this.rankAware]] as const) {
        const t0 = performance.now();
        const { scores } = await scorer.score(request);
        if (r >= 0) times[plan].push(performance.now() - t0);
        last[plan] = scores;
      }
    const n = last['rank-aware'].length;
    const counts = flopCounts(this.model, request);
    const measure = (plan: PlanMode): PlanMeasure => {
      const count = counts[plan];
      return { plan, medianMs: median(times[plan]), flops: count.once + n * count.perCandidate, flopsOnce: count.once, flopsPerCandidate: count.perCandidate };
    };
    const maxScoreDiff = last['rank-aware'].reduce((m, s, i) => Math.max(m, Math.abs(s - last.vanilla[i]!)), 0);
    return { n, rankAware: measure('rank-aware'), vanilla: measure('vanilla'), maxScoreDiff, rounds };
  }

  dispose(): void {
    this.rankAware.dispose();
    this.vanilla.dispose();
  }
}

/**
 * A scorer of the model on the backend: the native worker pool, or for a model without a native plan its
 * compiled graph's scorer, whose engines are wasm and js (WebGPU runs it on wasm, as the page says).
 */
export function scorerFor(model: Model, backend: BackendName, threads: number, plan: PlanMode): Promise<Scorer> {
  // The scorer takes the backends loadBackend accepts; the page offers only those (backends.ts).
  if (hasNativePlan(model.spec)) return createScorer(model, { backend: backend as ScorerOptions['backend'], threads, plan });
  const options: ImportedScorerOptions = { engine: backend === 'js' ? 'js' : 'wasm', threads, plan };
  return createScorer(model, options as ScorerOptions);
}

/** FLOPs once and per candidate of each plan on this request. */
function flopCounts(model: Model, request: Request): Record<PlanMode, { once: number; perCandidate: number }> {
  if (hasNativePlan(model.spec)) return { 'rank-aware': countFlops(getPlan(model, 'rank-aware')), vanilla: countFlops(getPlan(model, 'vanilla')) };
  const f = requestFlops(compileModel(model), request);
  return { 'rank-aware': { once: f.once, perCandidate: f.perCandidate }, vanilla: { once: 0, perCandidate: f.vanillaPerCandidate } };
}

/**
 * Candidates per second of a scorer on one request repeated for about `ms` milliseconds, two requests in
 * flight (so that workers never wait for the page between requests). After `warmup` requests.
 */
export async function measureThroughput(scorer: Scorer, request: Request, ms: number, warmup = 3): Promise<Throughput> {
  for (let i = 0; i < warmup; i++) await scorer.score(request);
  let requests = 0;
  let candidates = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() - t0 < ms) {
      const { scores } = await scorer.score(request);
      requests++;
      candidates += scores.length;
    }
  };
  await Promise.all([worker(), worker()]);
  const elapsed = performance.now() - t0;
  return { requests, candidatesPerSecond: (candidates / elapsed) * 1000, msPerRequest: elapsed / requests };
}
