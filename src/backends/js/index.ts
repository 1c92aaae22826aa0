/**
 * The JS reference backend: interprets a plan with the float64 kernels of kernels.ts.
 */
import type { Inputs } from '../../model/request.js';
import type { Op, OpKind, Plan } from '../../plan/ir.js';
import { byKind } from '../../plan/ops.js';
import { RankawareError } from '../../errors.js';
import type { Backend, CompiledPlan, ContextPayload, ContextState } from '../backend.js';
import * as k from './kernels.js';
import type { Env, Store } from './kernels.js';

interface JsContext extends ContextState {
  readonly stores: readonly (Store | undefined)[];
}

type Kernel<O extends Op> = (env: Env, op: O) => void;

/** One kernel per op kind: a kind without one does not compile. */
const KERNELS: { readonly [K in OpKind]: Kernel<Extract<Op, { kind: K }>> } = {
  gather: k.gather,
  dense: k.dense,
  copy: k.copy,
  linear: k.linear,
  pairs: k.pairs,
  outer: k.outer,
  cross: k.cross,
  fm: k.fm,
  fmContext: k.fmContext,
  sum: k.sum,
  attention: k.attention,
  attentionContext: k.attentionContext,
};

function run(env: Env, op: Op): void {
  byKind<Kernel<Op>>(KERNELS, op)(env, op);
}

class JsCompiledPlan implements CompiledPlan {
  constructor(readonly plan: Plan) {}

  runContext(inputs: Inputs): ContextState {
    const stores = this.plan.buffers.map((b) => (b.rank === 'ctx' ? { data: new Float64Array(b.width), width: b.width, broadcast: true } : undefined));
    const env: Env = { rows: 1, stores: stores as Store[], weights: this.plan.weights, inputs };
    for (const { op } of this.plan.contextOps) run(env, op);
    return { backend: 'js', stores } as JsContext;
  }

  exportContext(state: ContextState): ContextPayload {
    return { backend: 'js', arrays: (state as JsContext).stores.map((s) => (s ? s.data.slice() : null)) };
  }

  importContext(payload: ContextPayload): ContextState {
    const { buffers } = this.plan;
    const fits = payload.backend === 'js' && payload.arrays.length === buffers.length &&
      buffers.every((b, i) => {
        const a = payload.arrays[i];
        return b.rank === 'ctx' ? a instanceof Float64Array && a.length === b.width : a === null;
      });
    if (!fits) {
      const arrays = payload.arrays.map((a) => (a ? `${a.constructor.name}(${a.length})` : 'null'));
      throw new RankawareError('context payload', `a js context of this plan (a Float64Array per ctx buffer of [${buffers.map((b) => (b.rank === 'ctx' ? b.width : 'null')).join(', ')}])`, `a ${payload.backend} context of [${arrays.join(', ')}]`);
    }
    const stores = payload.arrays.map((data, i) => (data ? { data: data as Float64Array, width: buffers[i]!.width, broadcast: true } : undefined));
    return { backend: 'js', stores } as JsContext;
  }

  runCandidates(context: ContextState, inputs: Inputs): Float64Array {
    const ctx = context as JsContext;
    const rows = inputs.rows;
    const stores = this.plan.buffers.map((b, i) => ctx.stores[i] ?? { data: new Float64Array(rows * b.width), width: b.width, broadcast: false });
    const env: Env = { rows, stores, weights: this.plan.weights, inputs };
    for (const { op } of this.plan.candidateOps) run(env, op);
    const out = this.plan.output;
    const scores = new Float64Array(rows);
    const st = stores[out.buf]!;
    for (let r = 0; r < rows; r++) scores[r] = st.data[r * st.width + out.col]!;
    return scores;
  }
}

export const jsBackend: Backend = {
  name: 'js',
  compile: (plan) => new JsCompiledPlan(plan),
};
