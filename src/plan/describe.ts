/**
 * Human-readable plan listings for `rankaware inspect`: each op with its stage, kind, shapes and FLOPs.
 */
import type { Op, Plan, Slice } from './ir.js';
import { opFlops } from './flops.js';
import { opDef } from './ops.js';

export interface OpRow {
  readonly stage: 'once' | 'per-candidate';
  readonly component: string;
  readonly kind: Op['kind'];
  readonly what: string;
  /** FLOPs per request (once) or per candidate. */
  readonly flops: number;
}

function name(plan: Plan, s: Slice): string {
  const b = plan.buffers[s.buf]!;
  const shape = b.rank === 'ctx' ? `[${s.width}]` : `[N,${s.width}]`;
  return s.col === 0 && s.width === b.width ? `${b.name}${shape}` : `${b.name}[${s.col}:${s.col + s.width}]${shape}`;
}

export function describeOp(plan: Plan, op: Op): string {
  return opDef(op).describe(plan, op, (s) => name(plan, s));
}

export function listOps(plan: Plan): OpRow[] {
  const rows: OpRow[] = [];
  for (const { op, component } of plan.contextOps) rows.push({ stage: 'once', component, kind: op.kind, what: describeOp(plan, op), flops: opFlops(op, plan) });
  for (const { op, component } of plan.candidateOps) rows.push({ stage: 'per-candidate', component, kind: op.kind, what: describeOp(plan, op), flops: opFlops(op, plan) });
  return rows;
}
