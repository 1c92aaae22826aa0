/**
 * The plan/backend boundary. A backend compiles a plan once (places its weights, prepares kernels) and
 * then runs the context stage once per request and the candidate stage on any tile of candidates.
 */
import type { Inputs } from '../model/request.js';
import type { Plan } from '../plan/ir.js';

export type BackendName = 'js' | 'wasm' | 'webgpu';
/** What a caller may ask for: a backend, or 'auto' (WebGPU where the adapter works and the cost model says so, else WASM, else js). */
export type BackendChoice = BackendName | 'auto';

/** The context stage's output: opaque to callers, consumed by the same compiled plan. */
export interface ContextState {
  readonly backend: BackendName;
}

/**
 * A context state as plain data: structured-cloneable, and its arrays' buffers may be transferred
 * (they are copies, never views of the state they came from).
 */
export interface ContextPayload {
  readonly backend: BackendName;
  readonly arrays: readonly (Float32Array | Float64Array | null)[];
}

export interface CompiledPlan {
  readonly plan: Plan;
  /** Run the context stage on one context row. */
  runContext(inputs: Inputs): ContextState;
  /** Run the candidate stage on `inputs.rows` candidates; returns one score per row. */
  runCandidates(context: ContextState, inputs: Inputs): Float64Array | Float32Array;
  /** A structured-cloneable copy of a context state (for another thread's compiled plan of the same plan). */
  exportContext(state: ContextState): ContextPayload;
  /** A context state of this compiled plan from a payload exported by a compiled plan of the same plan and backend. */
  importContext(payload: ContextPayload): ContextState;
}

/**
 * A compiled plan whose candidate stage finishes asynchronously (WebGPU reads the scores back with
 * mapAsync). The context stage only enqueues work, so it stays synchronous.
 */
export interface AsyncCompiledPlan {
  readonly plan: Plan;
  runContext(inputs: Inputs): ContextState;
  runCandidatesAsync(context: ContextState, inputs: Inputs): Promise<Float64Array | Float32Array>;
  /** Free what a context holds on the device (the state must not be used after). */
  releaseContext(context: ContextState): void;
}

export interface Backend {
  readonly name: BackendName;
  compile(plan: Plan): CompiledPlan;
}
