/**
 * FLOPs counted from a plan, op by op: 2 per multiply-accumulate of a matmul, pair product, FM term or
 * attention score/value product. Elementwise adds, bias, activations, exp and copies are not counted,
 * like the paper's counts (Eq. 7-15), so that the closed forms can be checked exactly.
 */
import type { Component, Op, Plan, PlannedOp } from './ir.js';
import { opDef } from './ops.js';

/** FLOPs of one op for one row of its output (a ctx op runs on one row, a cand op on each candidate). */
export function opFlops(op: Op, plan: Plan): number {
  return opDef(op).flops(op, plan);
}

export interface FlopCount {
  /** FLOPs that run once per request (the context stage). */
  readonly once: number;
  /** FLOPs that run for each candidate. */
  readonly perCandidate: number;
  readonly byComponent: Readonly<Record<Component, { readonly once: number; readonly perCandidate: number }>>;
}

export function countFlops(plan: Plan): FlopCount {
  const byComponent = {} as Record<Component, { once: number; perCandidate: number }>;
  for (const c of ['embedding', 'bottom', 'interaction', 'cross', 'attention', 'fc'] as Component[]) byComponent[c] = { once: 0, perCandidate: 0 };
  const add = (ops: readonly PlannedOp[], key: 'once' | 'perCandidate') => {
    let total = 0;
    for (const { op, component } of ops) {
      const f = opFlops(op, plan);
      byComponent[component][key] += f;
      total += f;
    }
    return total;
  };
  return { once: add(plan.contextOps, 'once'), perCandidate: add(plan.candidateOps, 'perCandidate'), byComponent };
}

/** Total FLOPs of a request with n candidates. */
export function flopsFor(count: FlopCount, n: number, component?: Component): number {
  const c = component ? count.byComponent[component] : count;
  return c.once + n * c.perCandidate;
}
