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

  // Optional: what some backends offer beyond the stages (the WASM one has all of these). The scheduler
  // uses them where present and does without them elsewhere.

  /** Bytes allocated so far in the memory this plan's buffers live in (on a shared memory: by every plan on every thread). */
  readonly allocatedBytes?: number;
  /**
   * Reserve a region of this plan's memory and return its byte offset: on a memory shared between
   * threads, a worker slot's arena for the buffers of the plan it compiles there.
   */
  reserve?(bytes: number): number;

  /**
   * A context stage split by threads (see canSplitContext): output columns of the context stage's last
   * op when threads can split it by columns, 0 (or absent) when they cannot.
   */
  readonly contextSplitWidth?: number;
  /** Bytes of that layer's weight (what a split divides). */
  readonly contextSplitBytes?: number;
  /** Split 1: every context op but the last; returns the ctx buffers each thread needs for its share of the last layer. */
  beginContext?(inputs: Inputs): Float32Array;
  /** Split 2: columns [lo, hi) of the last layer, on `begun` (beginContext's result on any thread) or on this plan's own just-begun buffers. */
  contextColumns?(begun: Float32Array | undefined, lo: number, hi: number): Float32Array;
  /** Split 3: the context state, from beginContext's result with every share of the last layer's columns in place. */
  finishContext?(begun: Float32Array, shares: readonly { readonly lo: number; readonly values: Float32Array }[]): ContextState;
}

/** A compiled plan that has every member of a context split. */
export type ContextSplitPlan = CompiledPlan & Required<Pick<CompiledPlan, 'contextSplitWidth' | 'contextSplitBytes' | 'beginContext' | 'contextColumns' | 'finishContext'>>;

/** Whether threads can split this plan's context stage by columns of its last layer (a split width above 0, and the three steps). */
export function canSplitContext(plan: CompiledPlan): plan is ContextSplitPlan {
  return (plan.contextSplitWidth ?? 0) > 0 && plan.contextSplitBytes !== undefined && plan.beginContext !== undefined && plan.contextColumns !== undefined && plan.finishContext !== undefined;
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
