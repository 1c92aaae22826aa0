/**
 * Table 3 of the paper (Tkach, "Context Features Are Cheap", section 5.1): the FLOP change of each rank-aware variant per
 * component (interaction, FC, total) against its family's vanilla baseline, counted from our plans and
 * set beside the paper's figures, plus the measured time per request of each variant we can run.
 *
 * Definitions (paper, Table 3 caption): "Int." is the interaction layer (FM pairs for DLRM; the cross
 * network for DCN), "FC" the MLP layers, "Total" the whole forward; each change is relative to the
 * family's vanilla model. In the DCN family the baseline is DCNv2 for every row, rDCN included: rDCN is a
 * different model with fewer weights (no W_ct block), so its change includes that.
 */
import { createScorer } from '../scheduler/scorer.js';
import { getPlan } from '../engine.js';
import { randomModel, randomRequest } from '../model/random.js';
import type { Model } from '../model/model.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { Component, PlanMode } from '../plan/ir.js';
import type { BenchModel, Table3Config } from './config.js';
import { fieldsOfWidth } from './config.js';
import { pairedRatio, sideBySide, stat } from './measure.js';
import type { Stat, Timing } from './measure.js';
import type { Progress } from './progress.js';

/** The three columns of Table 3, as fractions (-0.18 = 18% fewer FLOPs than the baseline). */
export interface PaperChange {
  readonly interaction: number;
  readonly fc: number;
  readonly total: number;
}

interface Variant {
  readonly name: string;
  /** The model and plan that run it; absent when we do not build that model. */
  readonly model?: BenchModel;
  /** Which plan each component's FLOPs come from; `plan` for all unless overridden (the FM-only row). */
  readonly plan?: PlanMode;
  readonly componentPlans?: Partial<Record<Component, PlanMode>>;
  readonly paper: PaperChange;
  readonly note?: string;
}

interface Family {
  readonly family: string;
  /** The shape as the paper states it, then ours. */
  readonly shape: string;
  /** The component that is the paper's "Int." column. */
  readonly interaction: Component;
  readonly baseline: BenchModel;
  readonly variants: readonly Variant[];
}

const DCN_FIELDS = fieldsOfWidth(26, 514, 16, 577);
/** Parallel DCNv2 (a deep MLP on x_0 beside the cross stack): the paper's "+FC" decomposes an FC that reads x_0. */
const DCNV2: BenchModel = { name: 'dcnv2-parallel-K26-M16-L4', init: { arch: 'dcnv2', context: 26, target: 16, dim: 1, fields: DCN_FIELDS, mlp: [], options: { layers: 4, rank: 0, structure: 'parallel', deep: [512, 256] } } };
const RDCN: BenchModel = { name: 'rdcn-K26-M16-L4', init: { arch: 'rdcn', context: 26, target: 16, dim: 1, fields: DCN_FIELDS, mlp: [512, 256], options: { layers: 4 } } };
const DLRM: BenchModel = { name: 'dlrm-K27-M4-D128', init: { arch: 'dlrm', context: 27, target: 4, dim: 128, mlp: [512, 256], vocab: 100 } };

export const TABLE3: readonly Family[] = [
  {
    family: 'DCN-style',
    shape: 'K=26, M=16, d_c=514, d_t=577, L=4; ours: full-rank cross layers, FC = a 512-256 MLP on x_0 (DCNv2, parallel) or on [c_L; T_L] (rDCN)',
    interaction: 'cross',
    baseline: DCNV2,
    variants: [
      { name: 'DCNv2 + FC', model: DCNV2, plan: 'rank-aware', paper: { interaction: -0.18, fc: -0.36, total: -0.2 } },
      { name: 'rDCN + FC', model: RDCN, plan: 'rank-aware', paper: { interaction: -0.72, fc: -0.36, total: -0.67 } },
      { name: 'rDCN** + FC', paper: { interaction: -0.72, fc: -0.36, total: -0.67 }, note: 'rDCN without its context stream is not a model we build' },
    ],
  },
  {
    family: 'DLRM-style',
    shape: 'K=27, M=4, D=128 (d_c=3456, d_t=512); ours: top MLP 512-256 on [flatten(E); pairs]',
    interaction: 'interaction',
    baseline: DLRM,
    variants: [
      { name: 'FM', model: DLRM, plan: 'vanilla', componentPlans: { interaction: 'rank-aware' }, paper: { interaction: -0.87, fc: 0, total: -0.17 }, note: 'FLOPs composed per component (rank-aware pairs, vanilla FC); no plan runs it, so no time' },
      { name: 'FM + FC', model: DLRM, plan: 'rank-aware', paper: { interaction: -0.87, fc: -0.69, total: -0.73 } },
    ],
  },
];

export interface ComponentFlops {
  readonly baseline: number;
  readonly variant: number;
  /** variant / baseline - 1 (negative: fewer FLOPs). */
  readonly change: number;
}

export interface Table3Row {
  readonly family: string;
  readonly shape: string;
  readonly variant: string;
  readonly model: string | null;
  readonly plan: string | null;
  readonly n: number;
  readonly flops: { readonly interaction: ComponentFlops; readonly fc: ComponentFlops; readonly total: ComponentFlops } | null;
  /** The paper's figures (null for the baseline row). */
  readonly paper: PaperChange | null;
  /** WASM, one thread, the whole request as a caller sees it. */
  readonly ms_per_request: Stat | null;
  /** Baseline time / this variant's time, per round of the same run. */
  readonly speedup: Stat | null;
  readonly note?: string;
}

export interface Table3Result {
  readonly suite: 'table3';
  readonly n: number;
  readonly rows: readonly Table3Row[];
}

export function table3Steps(): number {
  return TABLE3.length;
}

/** FLOPs of a model with each component's count taken from the plan chosen for it. */
function flopsOf(model: Model, n: number, plan: PlanMode, overrides: Partial<Record<Component, PlanMode>> = {}) {
  const counts = { vanilla: countFlops(getPlan(model, 'vanilla')), 'rank-aware': countFlops(getPlan(model, 'rank-aware')) };
  const of = (c: Component) => flopsFor(counts[overrides[c] ?? plan], n, c);
  const all: Component[] = ['embedding', 'bottom', 'interaction', 'cross', 'attention', 'fc'];
  return { of, total: all.reduce((a, c) => a + of(c), 0) };
}

/** FLOP counts of every row (no timing): what the test checks exactly. */
export function table3Flops(n: number, models = new Map<string, Model>()): Table3Row[] {
  const modelOf = (m: BenchModel) => {
    let model = models.get(m.name);
    if (!model) models.set(m.name, (model = randomModel({ seed: 3, ...m.init })));
    return model;
  };
  const rows: Table3Row[] = [];
  for (const f of TABLE3) {
    const base = flopsOf(modelOf(f.baseline), n, 'vanilla');
    const change = (variant: number, baseline: number): ComponentFlops => ({ baseline, variant, change: baseline === 0 ? 0 : variant / baseline - 1 });
    const flopsRow = (v: ReturnType<typeof flopsOf>) => ({
      interaction: change(v.of(f.interaction), base.of(f.interaction)),
      fc: change(v.of('fc'), base.of('fc')),
      total: change(v.total, base.total),
    });
    rows.push({ family: f.family, shape: f.shape, variant: 'vanilla (baseline)', model: f.baseline.name, plan: 'vanilla', n, flops: flopsRow(base), paper: null, ms_per_request: null, speedup: null });
    for (const v of f.variants) {
      const counted = v.model ? flopsRow(flopsOf(modelOf(v.model), n, v.plan!, v.componentPlans)) : null;
      const plan = !v.model ? null : v.componentPlans ? `${v.plan} + rank-aware ${Object.keys(v.componentPlans).join(', ')}` : v.plan!;
      rows.push({ family: f.family, shape: f.shape, variant: v.name, model: v.model?.name ?? null, plan, n, flops: counted, paper: v.paper, ms_per_request: null, speedup: null, note: v.note });
    }
  }
  return rows;
}

/** Whether a row is a whole plan we can time (not a composed or missing one). */
const timeable = (r: Table3Row, f: Family) => r.model !== null && (r.variant === 'vanilla (baseline)' || f.variants.find((v) => v.name === r.variant)?.componentPlans === undefined);

export async function runTable3(config: Table3Config, timing: Timing, progress: Progress): Promise<Table3Result> {
  const models = new Map<string, Model>();
  const rows = table3Flops(config.n, models);
  const timed = new Map<Table3Row, { ms: Stat; speedup: Stat }>();
  for (const f of TABLE3) {
    progress.tick(`table3 ${f.family}`);
    const familyRows = rows.filter((r) => r.family === f.family && timeable(r, f));
    // Each family's rows are timed side by side in one run, the baseline first.
    const scorers = await Promise.all(familyRows.map((r) => createScorer(models.get(r.model!)!, { backend: 'wasm', plan: r.plan as PlanMode, threads: 1 })));
    try {
      const requests = familyRows.map((r) => randomRequest(models.get(r.model!)!.spec, config.n, 11));
      const times = await sideBySide(scorers.map((s, i) => () => s.score(requests[i]!)), timing);
      familyRows.forEach((r, i) => timed.set(r, { ms: stat(times[i]!), speedup: pairedRatio(times[0]!, times[i]!) }));
    } finally {
      for (const s of scorers) s.dispose();
    }
  }
  return { suite: 'table3', n: config.n, rows: rows.map((r) => (timed.has(r) ? { ...r, ms_per_request: timed.get(r)!.ms, speedup: timed.get(r)!.speedup } : r)) };
}
