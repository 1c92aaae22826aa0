/**
 * The plan/backend boundary. A backend compiles a plan once (places its weights, prepares kernels) and
 * then runs the context stage once per request and the candidate stage on any tile of candidates.
 */
import type { Inputs } from '../model/request.js';
import type { Plan } from '../plan/ir.js';

export type BackendName = 'js' | 'wasm' | 'webgpu';

/** The context stage's output: opaque to callers, consumed by the same compiled plan. */
export interface ContextState {
  readonly backend: BackendName;
}

export interface CompiledPlan {
  readonly plan: Plan;
  /** Run the context stage on one context row. */
  runContext(inputs: Inputs): ContextState;
  /** Run the candidate stage on `inputs.rows` candidates; returns one score per row. */
  runCandidates(context: ContextState, inputs: Inputs): Float64Array | Float32Array;
}

export interface Backend {
  readonly name: BackendName;
  compile(plan: Plan): CompiledPlan;
}
