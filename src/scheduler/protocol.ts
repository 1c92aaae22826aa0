/**
 * What the scheduler and its workers say to each other (through comlink, so each message is a typed
 * method call; typed arrays travel in transfer lists).
 */
import type { BackendName, ContextPayload } from '../backends/backend.js';
import type { SharedWasm, WeightImageRef } from '../backends/wasm/index.js';
import type { WasmVariant } from '../backends/wasm/module.js';
import type { Inputs } from '../model/request.js';
import type { Plan } from '../plan/ir.js';

export interface WorkerConfig {
  readonly backend: Exclude<BackendName, 'webgpu'>;
  /** The full plan (weights copied into the worker), or its skeleton when `shared` carries the weights. */
  readonly plan: Plan;
  /** Shared-memory mode: the compiled module, the memory holding the weights, and where they are. */
  readonly shared?: {
    readonly wasm: SharedWasm;
    readonly image: WeightImageRef;
    /** This worker slot's region of the shared memory for its buffers (reused by a replacement). */
    readonly arena?: { readonly start: number; readonly bytes: number };
  };
  /** Copied-weights mode on wasm: the kernel module the main thread compiled (so workers ship no wasm bytes). */
  readonly wasm?: { readonly module: WebAssembly.Module; readonly variant: WasmVariant };
  /** Node: milliseconds a worker keeps polling for its next tile before it sleeps (0: sleep at once). */
  readonly spinMs?: number;
}

export interface TileTask {
  /** The request's (or context handle's) context, cached by the worker under this id. */
  readonly contextId: number;
  /** Sent when the worker may not have this context yet. */
  readonly context?: ContextPayload;
  readonly inputs: Inputs;
}

export interface TileResult {
  readonly scores: Float32Array | Float64Array;
}

/** A worker's share of a context stage split by threads: columns [lo, hi) of its last layer. */
export interface ColumnsTask {
  /** The ctx buffers up to that layer (WasmCompiledPlan.beginContext on the calling thread). */
  readonly begun: Float32Array;
  readonly lo: number;
  readonly hi: number;
}

/** Thrown by a worker asked to use a context it does not hold (the scheduler resends it). */
export const MISSING_CONTEXT = 'rankaware: worker lacks context';

/** Injected faults: throw in the next tile, hang in it, or end the thread now. */
export type FaultKind = 'throw' | 'hang' | 'exit';

export interface WorkerApi {
  init(config: WorkerConfig): Promise<void>;
  runTile(task: TileTask): Promise<TileResult>;
  contextColumns(task: ColumnsTask): Promise<{ readonly values: Float32Array }>;
  /** Fault injection (tests, drills). */
  injectFault(kind: FaultKind): void;
}

/**
 * The Node channel: calls of WorkerApi as a discriminated union over worker_threads' postMessage.
 * (Browsers use comlink; in Node, comlink's per-call bookkeeping measured 0.26 ms more than a bare
 * message for a call to a worker that had been idle for a few ms, a tenth of a tile.)
 */
export type WorkerCall =
  | { readonly id: number; readonly call: 'init'; readonly config: WorkerConfig }
  | { readonly id: number; readonly call: 'runTile'; readonly task: TileTask }
  | { readonly id: number; readonly call: 'contextColumns'; readonly task: ColumnsTask }
  | { readonly id: number; readonly call: 'injectFault'; readonly kind: FaultKind }
  /** Node: start polling for the next call now (a tile is about to come); not answered. */
  | { readonly id: number; readonly call: 'wake' };

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly message: string };

/** The typed arrays of a tile's inputs, to transfer rather than copy. */
export function inputBuffers(inputs: Inputs): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const s of inputs.sparse.values()) out.push(s.offsets.buffer as ArrayBuffer, s.ids.buffer as ArrayBuffer);
  for (const d of inputs.dense.values()) out.push(d.buffer as ArrayBuffer);
  return out;
}

/** Contexts a worker keeps; the scheduler mirrors this to know when to resend one. */
export const WORKER_CONTEXT_CACHE = 32;
