/**
 * The JS reference backend: interprets a plan with the float64 kernels of kernels.ts.
 */
import type { Inputs } from '../../model/request.js';
import type { Op, Plan } from '../../plan/ir.js';
import type { Backend, CompiledPlan, ContextState } from '../backend.js';
import * as k from './kernels.js';
import type { Env, Store } from './kernels.js';

interface JsContext extends ContextState {
  readonly stores: readonly (Store | undefined)[];
}

function run(env: Env, op: Op): void {
  switch (op.kind) {
    case 'gather': return k.gather(env, op);
    case 'dense': return k.dense(env, op);
    case 'copy': return k.copy(env, op);
    case 'linear': return k.linear(env, op);
    case 'pairs': return k.pairs(env, op);
    case 'outer': return k.outer(env, op);
    case 'cross': return k.cross(env, op);
    case 'fm': return k.fm(env, op);
    case 'fmContext': return k.fmContext(env, op);
    case 'sum': return k.sum(env, op);
    case 'attention': return k.attention(env, op);
    case 'attentionContext': return k.attentionContext(env, op);
  }
}

class JsCompiledPlan implements CompiledPlan {
  constructor(readonly plan: Plan) {}

  runContext(inputs: Inputs): ContextState {
    const stores = this.plan.buffers.map((b) => (b.rank === 'ctx' ? { data: new Float64Array(b.width), width: b.width, broadcast: true } : undefined));
    const env: Env = { rows: 1, stores: stores as Store[], weights: this.plan.weights, inputs };
    for (const { op } of this.plan.contextOps) run(env, op);
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
