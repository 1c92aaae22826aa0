/**
 * Fig. 2 of the paper (Tkach, "Context Features Are Cheap", section 5.2): throughput of DLRM-style models (FM pairs, then FC
 * layers) as K grows at M = 4 and as M grows at K = 8, vanilla and rank-aware, normalized to the
 * (K = 8, M = 4) vanilla model. The paper measured TensorFlow Serving with 64 requests in flight on a
 * 16-vCPU pod; we measure our WASM backend on one thread with one request in flight, so throughput is
 * 1 / latency. Every point is timed side by side with the baseline in one run, and its normalized
 * throughput is the median of per-round ratios (baseline ms / point ms).
 */
import { createScorer } from '../scheduler/scorer.js';
import type { Scorer } from '../scheduler/scorer.js';
import { getPlan } from '../engine.js';
import { randomModel, randomRequest } from '../model/random.js';
import type { Model } from '../model/model.js';
import type { RequestJson } from '../model/request.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { PlanMode } from '../plan/ir.js';
import type { Fig2Config } from './config.js';
import { pairedRatio, sideBySide, stat } from './measure.js';
import type { Stat, Timing } from './measure.js';
import type { Progress } from './progress.js';

export interface Fig2Point {
  readonly sweep: 'K' | 'M';
  readonly K: number;
  readonly M: number;
  readonly plan: PlanMode;
  readonly flops: number;
  readonly ms_per_request: Stat;
  /** Throughput relative to the (K, M) baseline vanilla: baseline ms / this ms, per round. */
  readonly normalized: Stat;
  /** Rank-aware rows: this point's vanilla ms / rank-aware ms, per round (null on vanilla rows). */
  readonly speedup: Stat | null;
}

/** The paper's curves at their ends (its text gives these; the figure has no table). */
export const PAPER_FIG2 = {
  K: { from: 8, to: 24, vanilla: [1.0, 0.34], 'rank-aware': [1.13, 0.69] },
  M: { from: 4, to: 24, vanilla: [1.0, 0.29], 'rank-aware': [1.13, 0.31] },
} as const;

export interface Fig2Result {
  readonly suite: 'fig2';
  readonly n: number;
  readonly dim: number;
  readonly mlp: readonly number[];
  readonly baseline: { readonly K: number; readonly M: number };
  readonly points: readonly Fig2Point[];
  readonly paper: typeof PAPER_FIG2;
}

function sweepPoints(c: Fig2Config): { sweep: 'K' | 'M'; K: number; M: number }[] {
  return [...c.contexts.map((K) => ({ sweep: 'K' as const, K, M: c.fixedTarget })), ...c.targets.map((M) => ({ sweep: 'M' as const, K: c.fixedContext, M }))];
}

export function fig2Steps(c: Fig2Config): number {
  return sweepPoints(c).length;
}

interface Runner {
  readonly model: Model;
  readonly request: RequestJson;
  readonly scorers: Record<PlanMode, Scorer>;
}

async function runner(c: Fig2Config, K: number, M: number): Promise<Runner> {
  // DLRM-style as in the paper's synthetic models: FM pairs, then FC layers on [flatten(E); pairs].
  const model = randomModel({ arch: 'dlrm', context: K, target: M, dim: c.dim, mlp: c.mlp, vocab: 100, seed: 5 });
  const scorers = {
    vanilla: await createScorer(model, { backend: 'wasm', plan: 'vanilla', threads: 1 }),
    'rank-aware': await createScorer(model, { backend: 'wasm', plan: 'rank-aware', threads: 1 }),
  };
  return { model, request: randomRequest(model.spec, c.n, 11), scorers };
}

const dispose = (r: Runner) => Object.values(r.scorers).forEach((s) => s.dispose());

export async function runFig2(c: Fig2Config, timing: Timing, progress: Progress): Promise<Fig2Result> {
  const base = await runner(c, c.fixedContext, c.fixedTarget);
  const baseRun = () => base.scorers.vanilla.score(base.request);
  const points: Fig2Point[] = [];
  try {
    for (const p of sweepPoints(c)) {
      progress.tick(`fig2 ${p.sweep} sweep: K=${p.K} M=${p.M}`);
      const isBase = p.K === c.fixedContext && p.M === c.fixedTarget;
      const r = isBase ? base : await runner(c, p.K, p.M);
      try {
        // [baseline vanilla, this vanilla, this rank-aware]; at the baseline itself its vanilla is the first.
        const fns = isBase ? [baseRun, () => r.scorers['rank-aware'].score(r.request)] : [baseRun, () => r.scorers.vanilla.score(r.request), () => r.scorers['rank-aware'].score(r.request)];
        const times = await sideBySide(fns, timing);
        const own = isBase ? { vanilla: times[0]!, 'rank-aware': times[1]! } : { vanilla: times[1]!, 'rank-aware': times[2]! };
        for (const plan of ['vanilla', 'rank-aware'] as const)
          points.push({ ...p, plan, flops: flopsFor(countFlops(getPlan(r.model, plan)), c.n), ms_per_request: stat(own[plan]), normalized: pairedRatio(times[0]!, own[plan]), speedup: plan === 'vanilla' ? null : pairedRatio(own.vanilla, own[plan]) });
      } finally {
        if (!isBase) dispose(r);
      }
    }
  } finally {
    dispose(base);
  }
  return { suite: 'fig2', n: c.n, dim: c.dim, mlp: c.mlp, baseline: { K: c.fixedContext, M: c.fixedTarget }, points, paper: PAPER_FIG2 };
}
