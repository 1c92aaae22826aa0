/** The scorer's public types: its options and info, a score call's request and options, its results and stats. */
import type { BackendChoice, BackendName } from '../backends/backend.js';
import type { GpuPlanOptions, GpuPlanStats } from '../backends/webgpu/plan.js';
import type { Inputs } from '../model/request.js';
import type { PlanMode } from '../plan/ir.js';

export interface ScorerOptions {
  /**
   * 'auto' (default: WebGPU on a hardware adapter, else WASM, else js), 'wasm' (falls back to js without
   * WebAssembly SIMD), 'js', or 'webgpu' (falls back to WASM; each request runs on the device from the
   * calling thread). docs/backends.md has the fallback policy.
   */
  readonly backend?: BackendChoice;
  /** An ordered preference list instead (e.g. ['webgpu', 'wasm']): the first that runs here, without fallback. */
  readonly backends?: readonly BackendChoice[];
  /** WebGPU: candidate-stage FLOPs below which a request runs on the CPU (default: 0 for 'webgpu', the cost model's for 'auto'). */
  readonly minGpuFlops?: number;
  /** WebGPU: tile and weight-chunk sizes. */
  readonly gpu?: GpuPlanOptions;
  readonly plan?: PlanMode;
  /** Threads scoring candidate tiles; 1 runs them on the calling thread. Default: the hardware's cores. */
  readonly threads?: number;
  /** Candidates per tile (default: about 2 ms of work each from the plan's FLOPs per candidate, balanced over the threads). */
  readonly tileRows?: number;
  /**
   * Whether the calling thread scores tiles too, as one of the `threads` (default: true in Node, false in
   * browsers, where the calling thread is the page's UI thread).
   */
  readonly callingThread?: boolean;
  /** Requests being scheduled at once; more wait in the queue. Default 64. */
  readonly maxInFlight?: number;
  /** Requests allowed to wait beyond those; one more is refused at once. Default 1024. */
  readonly maxQueued?: number;
  /** Context handles kept; the least recently used beyond this is released. Default 1024. */
  readonly maxContexts?: number;
  /** Bytes of context handles kept (LRU). Default 64 MiB. */
  readonly maxContextBytes?: number;
  /**
   * A worker that has not answered a tile after this long is taken for hung (or silently gone, which a
   * browser does not report): it is terminated and replaced, and the tile retried. Default 30 s.
   */
  readonly tileTimeoutMs?: number;
  /**
   * Node: how long (ms) a worker keeps polling for its next tile after one before it sleeps, so that a
   * tile sent right after a context stage starts at once instead of after a thread wake-up. Default 0.3
   * when the threads fit the machine's cores, else 0 (a polling thread would take a core from another).
   */
  readonly spinMs?: number;
}

export type ScorerMode = 'inline' | 'shared-memory' | 'copied-weights' | 'gpu';

export interface ScorerInfo {
  readonly backend: BackendName;
  readonly backendReason: string;
  readonly plan: PlanMode;
  readonly threads: number;
  /** Worker threads (threads minus the calling thread when it scores tiles too). */
  readonly workers: number;
  readonly callingThread: boolean;
  readonly mode: ScorerMode;
  readonly modeReason: string;
  readonly tileRows: number;
  /** WebGPU: the compiled plan's cold start and layout (pipelines, upload, arena, tiles). */
  readonly gpu?: GpuPlanStats;
}

export interface ScoreTiming {
  /** The context stage (0 when a context handle was reused). */
  readonly contextMs: number;
  /** From the first tile dispatched to the last tile done. */
  readonly candidatesMs: number;
  /** Waiting in the queue before any tile ran. */
  readonly queuedMs: number;
  readonly tiles: number;
  /** With a `contextKey`: whether the context came from the context cache ('hit') or was computed ('miss'). */
  readonly contextCache?: 'hit' | 'miss';
}

/**
 * The one result shape of every scoring entry (score, scoreAsync, Scorer.score, ImportedModel.score): the
 * scores and which backend and plan made them, and why that backend.
 */
export interface ScoreResult {
  /** One score per candidate, in request order. */
  readonly scores: number[];
  /** The backend that computed these scores (with WebGPU, WASM when the policy sent the request there). */
  readonly backend: BackendName;
  readonly plan: PlanMode;
  /** Why that backend (after a fallback: why not the one asked for). */
  readonly reason: string;
  /** An imported graph with several outputs (a multi-task model): every output's scores by name, `scores` the first's. */
  readonly outputs?: Readonly<Record<string, number[]>>;
}

/** A Scorer's result: the ScoreResult, plus the threads it ran on and where the time went. */
export interface ScorerResult extends ScoreResult {
  readonly threads: number;
  readonly timing: ScoreTiming;
}

export interface ScorerStats {
  readonly tilesRun: number;
  readonly tilesRetried: number;
  readonly workersReplaced: number;
  /** Tile results that arrived for a tile already filled (must stay 0). */
  readonly duplicateResults: number;
  /** Context stages whose last layer was split between the calling thread and idle workers. */
  readonly contextsSplit: number;
  /** Wasm: bytes allocated in the calling thread's linear memory (the shared one, with every worker's buffers). */
  readonly memoryBytes: number;
}

export interface ScoreRequest {
  readonly context: unknown;
  readonly candidates: unknown;
}

export interface ScoreCallOptions {
  readonly signal?: AbortSignal;
  /**
   * Cache the context stage under this key (a returning user's next request skips it). The key must
   * determine the context's features, e.g. a digest of the model and of the encoded context: a request
   * whose key is cached is scored with the cached context without looking at `request.context` again.
   * Entries share the context handles' LRU (maxContexts, maxContextBytes).
   */
  readonly contextKey?: string;
  /**
   * `request.context` already encoded, by `encodeContext(model.spec, request.context)` with this scorer's
   * model (e.g. by whoever derived `contextKey` from it): the context stage runs on it instead of encoding
   * `request.context` again. Refused when encodeContext did not make it for this model's spec; unused for
   * a ContextHandle or a cached `contextKey`.
   */
  readonly encodedContext?: Inputs;
}
