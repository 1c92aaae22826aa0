/**
 * Human-readable plan listings for `rankaware inspect`: each op with its stage, kind, shapes and FLOPs.
 */
import type { Op, Plan, Slice } from './ir.js';
import { opFlops } from './flops.js';

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
  const n = (s: Slice) => name(plan, s);
  switch (op.kind) {
    case 'gather':
      return `${op.table} (${op.pooling === 'none' ? 'lookup' : op.pooling + ' pooling'}) -> ${n(op.out)}`;
    case 'dense':
      return `dense input #${op.field} -> ${n(op.out)}`;
    case 'copy':
      return `${n(op.src)} -> ${n(op.out)}${plan.buffers[op.src.buf]!.rank === 'ctx' && plan.buffers[op.out.buf]!.rank === 'cand' ? ' (broadcast)' : ''}`;
    case 'linear': {
      const [u, i] = plan.weights.get(op.weight)!.shape;
      const extra = [op.bias ? '+ bias' : '', op.add ? `+ ${n(op.add)}` : '', op.act !== 'none' ? op.act : ''].filter(Boolean).join(' ');
      return `${n(op.x)} x ${op.weight}^T [${u}x${i}]${op.groups > 1 ? ` per ${op.groups} vectors` : ''} ${extra} -> ${n(op.out)}`;
    }
    case 'pairs':
      return `${op.pairs.length / 2} dot pairs of ${op.dim}-vectors in ${n(op.a)} -> ${n(op.out)}`;
    case 'outer':
      return `${n(op.a)} x ${n(op.b)}^T as ${op.a.width / op.dim}x${op.b.width / op.dim} dot products (target-anchored) -> ${n(op.out)}`;
    case 'cross':
      return `${n(op.x0)} * ${n(op.z)} + ${n(op.x)} -> ${n(op.out)}`;
    case 'fmContext':
      return `FM sums of ${op.count} ctx vectors -> ${n(op.outSum)}, ${n(op.outFm)}`;
    case 'fm':
      return `FM second order of ${op.count} vectors${op.context ? ' + ctx terms' : ''} -> ${n(op.out)}`;
    case 'sum':
      return `sum of ${op.terms.map(n).join(', ')}${op.bias ? ' + ' + op.bias : ''}${op.act !== 'none' ? ' ' + op.act : ''} -> ${n(op.out)}`;
    case 'attentionContext':
      return `ctx score block ${op.heads} heads, ${op.queries.count}x${op.keys.count} (max, sum, weighted V) -> ${n(op.out)}`;
    case 'attention': {
      const q = op.queries.reduce((a, s) => a + s.count, 0);
      const k = op.keys.reduce((a, s) => a + s.count, 0);
      return `attention ${op.heads} heads, ${q} queries x ${k} keys${op.block ? ' (ctx block merged by log-sum-exp)' : ''}${op.residual ? ' + residual' : ''} ${op.act} -> ${n(op.out)}`;
    }
  }
}

export function listOps(plan: Plan): OpRow[] {
  const rows: OpRow[] = [];
  for (const { op, component } of plan.contextOps) rows.push({ stage: 'once', component, kind: op.kind, what: describeOp(plan, op), flops: opFlops(op, plan) });
  for (const { op, component } of plan.candidateOps) rows.push({ stage: 'per-candidate', component, kind: op.kind, what: describeOp(plan, op), flops: opFlops(op, plan) });
  return rows;
}
