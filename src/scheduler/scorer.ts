/**
 * createScorer: the request scheduler. The context stage runs once per request on the calling thread;
 * the N candidates are cut into tiles (sized from the plan's per-candidate FLOPs) that run on a pool of
 * workers. Requests interleave tile by tile in round robin, so a small request never waits behind all of
 * a huge one. The queue is bounded; an AbortSignal drops a request's pending tiles; a worker that throws
 * or dies is replaced and its tile retried once elsewhere.
 *
 * Modes: 'inline' (threads = 1: tiles run on the calling thread), 'shared-memory' (wasm weights placed once
 * in a shared WebAssembly.Memory read by every worker), 'copied-weights' (each worker holds its own copy:
 * the js backend, or a browser page without cross-origin isolation).
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import { checkRequestShape, encodeCandidates, encodeContext, sliceInputs } from '../model/request.js';
import type { Inputs } from '../model/request.js';
import { checkScores, getPlan, routePlan } from '../engine.js';
import { loadBackend, preferenceOf } from '../backends/select.js';
import { countFlops } from '../plan/flops.js';
import type { Plan, PlanMode } from '../plan/ir.js';
import { canSplitContext } from '../backends/backend.js';
import type { BackendChoice, BackendName, CompiledPlan, ContextPayload, ContextState } from '../backends/backend.js';
import type { GpuPlanOptions, GpuPlanStats } from '../backends/webgpu/plan.js';
import type { GpuRoute, RoutedContext } from '../backends/webgpu/route.js';
import { jsBackend } from '../backends/js/index.js';
import { compileOnShared, planSkeleton } from '../backends/wasm/index.js';
import { createSharedWasm, createWasmBackend } from '../backends/wasm/load.js';
import { canShareMemory, hardwareThreads, isNode, spawnWorker } from './platform.js';
import type { SpawnedWorker } from './platform.js';
import { MISSING_CONTEXT, WORKER_CONTEXT_CACHE } from './protocol.js';
import type { FaultKind, WorkerConfig } from './protocol.js';

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

export interface ScorerResult {
  readonly scores: number[];
  /** The backend that computed these scores (with WebGPU, WASM when the policy sent the request there). */
  readonly backend: BackendName;
  /** Why that backend. */
  readonly reason: string;
  readonly plan: PlanMode;
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

/** A context computed once and reusable for any number of score calls (a session, a returning user). */
export class ContextHandle {
  /** @internal */
  constructor(
    readonly id: number,
    private readonly owner: Scorer,
  ) {}
  /** Free it now (it is also freed by the scorer's LRU). */
  release(): void {
    this.owner.releaseContext(this.id);
  }
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
}

/** The context handles' LRU: live entries, their bytes, and how keyed lookups fared. */
export interface ContextUsage {
  readonly handles: number;
  readonly bytes: number;
  /** Score calls with a `contextKey` that found it cached, and that computed it. */
  readonly hits: number;
  readonly misses: number;
  /** Entries dropped by the LRU bounds (not by release()). */
  readonly evictions: number;
}

interface ContextEntry {
  readonly state: ContextState;
  readonly payload?: ContextPayload;
  readonly bytes: number;
  /** Set for entries kept under a contextKey. */
  key?: string;
}

interface Tile {
  readonly job: Job;
  readonly start: number;
  readonly end: number;
  attempts: number;
  done: boolean;
}

interface Job {
  readonly contextId: number;
  readonly context: ContextEntry;
  readonly candidates: Inputs;
  readonly scores: Float64Array;
  readonly queue: Tile[];
  readonly created: number;
  readonly contextMs: number;
  readonly contextCache: 'hit' | 'miss' | undefined;
  remaining: number;
  firstDispatch: number;
  tiles: number;
  settled: boolean;
  /** Where a routed (WebGPU) request actually ran, and why. */
  ranOn?: { readonly backend: BackendName; readonly reason: string };
  resolve(result: ScorerResult): void;
  reject(error: unknown): void;
  detach?: () => void;
}

/** Where tiles run: a worker thread, or the calling thread in inline mode. */
interface Runner {
  /** Tiles sent and not yet answered. */
  inflight: number;
  /**
   * Tiles it may hold at once: 2 for a worker, so that its next tile is already queued when it finishes
   * one (the thread that dispatches may be busy scoring a tile of its own); 1 for the calling thread.
   */
  readonly depth: number;
  /** Gone (exited, threw, or terminated); a replacement takes its place. */
  dead: boolean;
  /** Node workers: until when it is surely still polling its channel (it polls for spinMs after each answer). */
  pollingUntil: number;
  /** When it was last woken ahead of a request (wakeIdle). */
  wokenAt: number;
  /** Context ids this runner holds, oldest first (mirrors the worker's cache). */
  readonly contexts: number[];
  run(job: Job, tile: Tile, sendContext: boolean): Promise<Float32Array | Float64Array>;
  /** A worker's share of a split context stage (wasm workers only). */
  columns?(begun: Float32Array, lo: number, hi: number): Promise<Float32Array>;
  terminate(): void;
  readonly worker?: SpawnedWorker;
}

let nextContextId = 1;

export class Scorer {
  private readonly active: Job[] = [];
  private readonly waiting: { start(): void; reject(e: unknown): void }[] = [];
  private readonly contexts = new Map<number, ContextEntry>();
  /** contextKey -> id of its entry in `contexts`. */
  private readonly keyedContexts = new Map<string, number>();
  private contextBytes = 0;
  private readonly contextCounters = { hits: 0, misses: 0, evictions: 0 };
  /** Bytes of one context state (the same for every context of a plan), measured on the first one. */
  private stateBytes: number | undefined;
  private runners: Runner[] = [];
  /** Requests admitted and not finished. */
  private admitted = 0;
  /** Set when every worker is gone and none could be restarted. */
  private broken: RankawareError | undefined;
  /** Replacement workers still starting. */
  private readonly replacing = new Set<Promise<unknown>>();
  /** Shared-memory mode: each worker slot's region for its buffers, reused by its replacements. */
  private readonly arenas: ({ readonly start: number; readonly bytes: number } | undefined)[] = [];
  private turn = 0;
  private disposed = false;
  private readonly counters = { tilesRun: 0, tilesRetried: 0, workersReplaced: 0, duplicateResults: 0, contextsSplit: 0 };

  /** Default tile sizes are balanced over the threads per request; an explicit tileRows is used as is. */
  private readonly balanceTiles: boolean;

  /** @internal use createScorer */
  constructor(
    readonly model: Model,
    readonly info: ScorerInfo,
    private readonly main: CompiledPlan,
    private readonly workerConfig: WorkerConfig | undefined,
    private readonly options: Required<Pick<ScorerOptions, 'maxInFlight' | 'maxQueued' | 'maxContexts' | 'maxContextBytes' | 'tileTimeoutMs' | 'spinMs'>> & { explicitTileRows: boolean; arenaBytes?: number },
    /** WebGPU: requests run through this route (GPU, or the CPU by the fallback policy) on the calling thread. */
    private readonly route?: GpuRoute,
  ) {
    this.balanceTiles = !options.explicitTileRows;
  }

  /** @internal */
  async start(): Promise<void> {
    if (!this.workerConfig) {
      this.runners = [this.inlineRunner()];
      return;
    }
    const started = await Promise.allSettled(Array.from({ length: this.info.workers }, (_, slot) => this.workerRunner(slot)));
    const workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const w of workers) w.terminate();
      throw failed.reason;
    }
    // The calling thread comes last, so that dispatch hands the workers their tiles before it runs its own.
    this.runners = this.info.callingThread ? [...workers, this.inlineRunner()] : workers;
  }

  get stats(): ScorerStats {
    return { ...this.counters, memoryBytes: this.main.allocatedBytes ?? 0 };
  }

  /**
   * Score a request; `request.context` may be a ContextHandle from `context()`, and `options.contextKey`
   * caches a plain context for the calls that follow.
   */
  async score(request: ScoreRequest, options: ScoreCallOptions = {}): Promise<ScorerResult> {
    this.checkOpen();
    checkRequestShape(request);
    const signal = options.signal;
    signal?.throwIfAborted();
    const spec = this.model.spec;
    const candidates = encodeCandidates(spec, request.candidates);
    let contextId: number;
    let context: ContextEntry | undefined;
    let encodedContext: Inputs | undefined;
    let contextCache: 'hit' | 'miss' | undefined;
    const keyedId = options.contextKey === undefined ? undefined : this.keyedContexts.get(options.contextKey);
    if (request.context instanceof ContextHandle) {
      contextId = request.context.id;
      context = this.useContext(contextId);
    } else if (keyedId !== undefined) {
      contextId = keyedId;
      context = this.useContext(keyedId);
      contextCache = 'hit';
      this.contextCounters.hits++;
    } else {
      contextId = nextContextId++;
      encodedContext = encodeContext(spec, request.context);
      if (options.contextKey !== undefined) {
        contextCache = 'miss';
        this.contextCounters.misses++;
      }
    }
    const created = now();
    await this.admit(signal);
    if (this.disposed || signal?.aborted) {
      this.releaseSlot();
      throw this.disposed ? new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable') : (signal!.reason ?? new DOMException('aborted', 'AbortError'));
    }
    // The context stage runs once admitted: it may use idle workers (a split context stage).
    this.wakeIdle();
    let contextMs = 0;
    if (encodedContext) {
      const t0 = now();
      try {
        context = await this.computeContext(encodedContext);
      } catch (e) {
        this.releaseSlot();
        throw e;
      }
      contextMs = now() - t0;
      if (options.contextKey !== undefined) {
        context.key = options.contextKey;
        this.keepContext(contextId, context);
      }
    }
    const entry = context!;
    return new Promise<ScorerResult>((resolve, reject) => {
      const job: Job = {
        contextId, context: entry, candidates, contextMs, contextCache,
        scores: new Float64Array(candidates.rows),
        queue: [],
        created,
        remaining: 0,
        firstDispatch: 0,
        tiles: 0,
        settled: false,
        resolve,
        reject,
      };
      const rows = this.balanceTiles ? tileRowsFor(candidates.rows, this.info.tileRows, this.info.threads) : this.info.tileRows;
      for (let start = 0; start < candidates.rows; start += rows)
        job.queue.push({ job, start, end: Math.min(candidates.rows, start + rows), attempts: 0, done: false });
      job.remaining = job.tiles = job.queue.length;
      if (signal) {
        const onAbort = () => this.fail(job, signal.reason ?? new DOMException('aborted', 'AbortError'));
        signal.addEventListener('abort', onAbort, { once: true });
        job.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.active.push(job);
      this.dispatch();
    });
  }

  /** Run the context stage once and keep it for later score() calls. */
  async context(context: unknown): Promise<ContextHandle> {
    this.checkOpen();
    const entry = await this.computeContext(encodeContext(this.model.spec, context));
    const id = nextContextId++;
    this.keepContext(id, entry);
    return new ContextHandle(id, this);
  }

  /** @internal */
  releaseContext(id: number): void {
    const entry = this.contexts.get(id);
    if (!entry) return;
    this.contexts.delete(id);
    if (entry.key !== undefined && this.keyedContexts.get(entry.key) === id) this.keyedContexts.delete(entry.key);
    this.contextBytes -= entry.bytes;
    this.route?.release(entry.state as RoutedContext);
  }

  /** Context handles (and keyed contexts) alive, their bytes, and the keyed lookups' hits and misses. */
  get contextUsage(): ContextUsage {
    return { handles: this.contexts.size, bytes: this.contextBytes, ...this.contextCounters };
  }

  /** Fault injection for tests and drills: make worker i throw or hang in its next tile, or end its thread. */
  async injectFault(worker: number, kind: FaultKind): Promise<void> {
    await this.ready();
    const workers = this.runners.filter((r) => r.worker);
    const runner = workers[worker];
    if (!runner?.worker) throw new RankawareError('injectFault worker', `a worker index below ${workers.length}`, String(worker));
    if (kind === 'exit') runner.worker.terminate();
    else await runner.worker.api.injectFault(kind);
  }

  /** Resolves when no replacement worker is still starting. */
  async ready(): Promise<void> {
    while (this.replacing.size > 0) await Promise.allSettled([...this.replacing]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const error = new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    for (const job of [...this.active]) this.fail(job, error);
    for (const w of this.waiting.splice(0)) w.reject(error);
    for (const r of this.runners) {
      r.dead = true;
      r.terminate();
    }
    this.contexts.clear();
    this.keyedContexts.clear();
    this.contextBytes = 0;
  }

  // ----- internals --------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.disposed) throw new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    if (this.broken) throw this.broken;
  }

  /** Add an entry to the LRU and evict the least recently used beyond its bounds (the newest always stays). */
  private keepContext(id: number, entry: ContextEntry): void {
    if (entry.key !== undefined) {
      // Two requests with one key that missed together: the later entry replaces the earlier.
      const earlier = this.keyedContexts.get(entry.key);
      if (earlier !== undefined && earlier !== id) this.releaseContext(earlier);
      this.keyedContexts.set(entry.key, id);
    }
    this.contexts.set(id, entry);
    this.contextBytes += entry.bytes;
    while (this.contexts.size > this.options.maxContexts || (this.contextBytes > this.options.maxContextBytes && this.contexts.size > 1)) {
      this.releaseContext(this.contexts.keys().next().value!);
      this.contextCounters.evictions++;
    }
  }

  private useContext(id: number): ContextEntry {
    const entry = this.contexts.get(id);
    if (!entry) throw new RankawareError('request.context', 'a live context handle', 'a released context handle (released, or evicted by the LRU: create it again)');
    // Least recently used order: move to the back.
    this.contexts.delete(id);
    this.contexts.set(id, entry);
    return entry;
  }

  private async computeContext(inputs: Inputs): Promise<ContextEntry> {
    if (this.route) return { state: this.route.runContext(inputs), bytes: 1024 };
    const state = (await this.splitContext(inputs)) ?? this.main.runContext(inputs);
    const payload = this.workerConfig ? this.main.exportContext(state) : undefined;
    // Inline mode exports nothing; its state's size is measured once from an export (it is the same for every context of a plan).
    this.stateBytes ??= payloadBytes(payload ?? this.main.exportContext(state));
    // Workers' payload copy and the state it came from are both held.
    const bytes = this.stateBytes * (payload ? 2 : 1);
    return { state, payload, bytes };
  }

  /**
   * The context stage split by threads: its last layer (a GEMV over the largest weight, e.g. 7.8 MB in
   * DLRM K=27 D=128) is cut by output columns between the calling thread and the idle workers, each of
   * which runs the cheap ops before it too. Undefined (run it whole) when the layer is too small to pay
   * for the messages, no worker is idle, or the plan has no such layer.
   */
  private async splitContext(inputs: Inputs): Promise<ContextState | undefined> {
    const main = this.main;
    if (!canSplitContext(main)) return undefined;
    // Only workers still polling: waking a sleeping thread (0.1-0.3 ms in a VM) costs more than its share saves.
    const t = now();
    const idle = this.runners.filter((r) => r.columns && !r.dead && r.inflight === 0 && r.pollingUntil > t);
    const parts = Math.min(idle.length + 1, Math.floor(main.contextSplitBytes / SPLIT_BYTES_PER_THREAD), Math.ceil(main.contextSplitWidth / 16));
    if (parts < 2) return undefined;
    const width = main.contextSplitWidth;
    const chunk = Math.ceil(width / parts / 16) * 16;
    const ranges: [number, number][] = [];
    for (let lo = 0; lo < width; lo += chunk) ranges.push([lo, Math.min(width, lo + chunk)]);
    const begun = main.beginContext(inputs);
    const calls = ranges.slice(1).map(([lo, hi], i) => ({ lo, hi, runner: idle[i]!, answer: idle[i]!.columns!(begun, lo, hi) }));
    // Settled by the loop below; a rejection is handled there too.
    for (const c of calls) c.answer.catch(() => {});
    const shares = [{ lo: 0, values: main.contextColumns(undefined, ranges[0]![0], ranges[0]![1]) }];
    if (this.options.spinMs > 0) {
      const waiting = new Set(calls.map((c) => c.runner));
      const until = now() + this.options.spinMs;
      while (waiting.size > 0 && now() < until) for (const r of waiting) if (r.worker?.poll?.()) waiting.delete(r);
    }
    for (const c of calls) {
      try {
        shares.push({ lo: c.lo, values: await c.answer });
      } catch {
        // A worker that failed its share: replace it, and the calling thread computes those columns.
        if (this.runners.includes(c.runner)) this.replace(c.runner);
        shares.push({ lo: c.lo, values: main.contextColumns(begun, c.lo, c.hi) });
      }
    }
    this.counters.contextsSplit++;
    return main.finishContext(begun, shares);
  }

  /** Wait for room among the in-flight requests; refuse at once when the waiting queue is full. */
  private admit(signal?: AbortSignal): Promise<void> {
    // Counted at once (not when the job starts) so that calls in the same tick see each other.
    if (this.admitted < this.options.maxInFlight && this.waiting.length === 0) {
      this.admitted++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.options.maxQueued)
      return Promise.reject(new RankawareError('scorer queue', `at most ${this.options.maxQueued} waiting requests (maxQueued)`, `request ${this.waiting.length + 1} (overloaded: retry later)`, 'overloaded'));
    return new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.admitted++;
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason ?? new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Give idle runners the next tile of the next request in turn. */
  private dispatch(): void {
    // Level by level: every idle thread gets a tile before any worker gets its queued second one.
    for (let level = 1; level <= 2; level++)
      for (const runner of this.runners) {
        if (runner.dead || runner.inflight >= Math.min(level, runner.depth)) continue;
        const tile = this.nextTile();
        if (!tile) return;
        this.runTile(runner, tile);
      }
  }

  private nextTile(): Tile | undefined {
    for (let i = 0; i < this.active.length; i++) {
      const job = this.active[(this.turn + i) % this.active.length]!;
      const tile = job.queue.shift();
      if (tile) {
        this.turn = (this.turn + i + 1) % this.active.length;
        return tile;
      }
    }
    return undefined;
  }

  private runTile(runner: Runner, tile: Tile): void {
    const job = tile.job;
    if (!job.firstDispatch) job.firstDispatch = now();
    runner.inflight++;
    tile.attempts++;
    const send = !runner.contexts.includes(job.contextId);
    if (send && runner.worker) {
      runner.contexts.push(job.contextId);
      if (runner.contexts.length > WORKER_CONTEXT_CACHE) runner.contexts.shift();
    }
    runner.run(job, tile, send).then(
      (scores) => {
        runner.inflight--;
        this.counters.tilesRun++;
        this.complete(tile, scores);
        this.dispatch();
        if (!runner.worker && runner.inflight === 0) this.pollWorkers();
      },
      (error: unknown) => {
        runner.inflight--;
        this.tileFailed(runner, tile, error);
        this.dispatch();
      },
    );
  }

  /**
   * Node: a worker asleep (its polling window over) is woken as a request starts, so that it is polling
   * by the time the context stage ends and its first tile comes: the wake-up overlaps the context stage
   * instead of following it.
   */
  private wakeIdle(): void {
    if (this.options.spinMs <= 0) return;
    const t = now();
    for (const r of this.runners)
      if (r.worker?.wake && !r.dead && r.inflight === 0 && r.pollingUntil <= t && t - r.wokenAt > this.options.spinMs) {
        r.worker.wake();
        r.wokenAt = t;
      }
  }

  /**
   * The calling thread has no tile left and waits for the workers' last ones: poll their channels for up
   * to spinMs rather than sleep, so the answer is taken the moment it is sent (Node; a no-op elsewhere).
   */
  private pollWorkers(): void {
    const busy = this.runners.filter((r) => r.inflight > 0 && r.worker?.poll);
    if (this.options.spinMs <= 0 || busy.length === 0) return;
    const until = now() + this.options.spinMs;
    while (now() < until) for (const r of busy) if (r.worker!.poll!()) return;
  }

  private complete(tile: Tile, scores: Float32Array | Float64Array): void {
    const job = tile.job;
    if (tile.done) {
      this.counters.duplicateResults++;
      return;
    }
    tile.done = true;
    if (job.settled) return;
    job.scores.set(scores, tile.start);
    if (--job.remaining > 0) return;
    let result: number[];
    try {
      result = checkScores(job.scores);
    } catch (e) {
      this.fail(job, e);
      return;
    }
    this.finish(job);
    job.resolve({
      scores: result,
      backend: job.ranOn?.backend ?? this.info.backend,
      reason: job.ranOn?.reason ?? this.info.backendReason,
      plan: this.info.plan,
      threads: this.info.threads,
      timing: { contextMs: job.contextMs, candidatesMs: now() - job.firstDispatch, queuedMs: job.firstDispatch - job.created, tiles: job.tiles, ...(job.contextCache && { contextCache: job.contextCache }) },
    });
  }

  private tileFailed(runner: Runner, tile: Tile, error: unknown): void {
    const job = tile.job;
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes(MISSING_CONTEXT)) {
      // The worker's context cache disagreed with our mirror: forget it there and resend.
      runner.contexts.splice(0);
      tile.attempts--;
      job.queue.unshift(tile);
      return;
    }
    // A tile queued behind the failing one on a worker already replaced is not at fault: its try is not counted.
    const collateral = runner.worker !== undefined && !this.runners.includes(runner);
    if (collateral) tile.attempts--;
    else if (runner.worker) this.replace(runner);
    if (job.settled) return;
    if (tile.attempts >= 2) {
      this.fail(job, new RankawareError(`candidates [${tile.start}, ${tile.end})`, 'a tile that scores on a retry', `a second failure (${message})`));
      return;
    }
    this.counters.tilesRetried++;
    job.queue.unshift(tile);
  }

  private fail(job: Job, error: unknown): void {
    if (job.settled) return;
    this.finish(job);
    job.reject(error);
  }

  private finish(job: Job): void {
    job.settled = true;
    job.queue.splice(0);
    job.detach?.();
    const i = this.active.indexOf(job);
    if (i >= 0) this.active.splice(i, 1);
    if (this.turn > i && i >= 0) this.turn--;
    // A request's own context (not a handle) is done with: free what it holds on the device.
    if (this.route && !this.contexts.has(job.contextId)) this.route.release(job.context.state as RoutedContext);
    this.releaseSlot();
  }

  /** A request leaves the in-flight set: let the next waiting one in. */
  private releaseSlot(): void {
    this.admitted--;
    while (this.waiting.length > 0 && this.admitted < this.options.maxInFlight) this.waiting.shift()!.start();
  }

  /** Put a fresh worker in place of one that threw or died (once per runner). */
  private replace(runner: Runner): void {
    const index = this.runners.indexOf(runner);
    runner.dead = true;
    runner.terminate();
    if (this.disposed || index < 0) return;
    // Out of the list at once, so that a second report of the same death replaces nothing.
    this.runners[index] = { ...runner, dead: true };
    this.counters.workersReplaced++;
    // The replacement reuses the slot's arena once the old thread is surely gone (it could still write
    // there until then); one that does not end within 5 s leaves its arena behind and the slot gets a new one.
    const gone = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.arenas[index] = undefined;
        resolve();
      }, 5000);
      void runner.worker?.exited.then(() => {
        clearTimeout(timer);
        resolve();
      });
      if (!runner.worker) {
        clearTimeout(timer);
        resolve();
      }
    });
    const starting = gone.then(() => this.workerRunner(index)).then(
      (fresh) => {
        if (this.disposed) return fresh.terminate();
        this.runners[index] = fresh;
        this.dispatch();
      },
      (e: unknown) => {
        // No replacement could start. With no thread left, fail what is pending and refuse what comes.
        if (this.runners.every((r) => r.dead)) {
          this.broken = new RankawareError('scorer', 'a live worker thread', `none: a replacement worker failed to start (${e instanceof Error ? e.message : String(e)})`, 'unavailable');
          for (const job of [...this.active]) this.fail(job, this.broken);
        }
      },
    );
    this.replacing.add(starting);
    void starting.finally(() => this.replacing.delete(starting));
  }

  private inlineRunner(): Runner {
    const main = this.main;
    const route = this.route;
    const base = { inflight: 0, depth: 1, dead: false, pollingUntil: 0, wokenAt: 0, contexts: [], terminate: () => {} };
    if (route)
      return {
        ...base,
        run: async (job, tile) => {
          const result = await route.runCandidates(job.context.state as RoutedContext, sliceInputs(job.candidates, tile.start, tile.end));
          job.ranOn = { backend: result.backend, reason: result.reason };
          return result.scores;
        },
      };
    return {
      ...base,
      // A macrotask between tiles lets other requests, aborts and I/O in between.
      run: (job, tile) =>
        new Promise((resolve, reject) =>
          nextMacrotask(() => {
            try {
              resolve(main.runCandidates(job.context.state, sliceInputs(job.candidates, tile.start, tile.end)));
            } catch (e) {
              reject(e);
            }
          }),
        ),
    };
  }

  /** Worker slot i's config: on a shared memory, with the slot's arena (reserved on first use). */
  private configFor(slot: number): WorkerConfig {
    const config = this.workerConfig!;
    const bytes = this.options.arenaBytes;
    const main = this.main;
    if (!config.shared || !bytes || !main.reserve) return config;
    const arena = (this.arenas[slot] ??= { start: main.reserve(bytes), bytes });
    return { ...config, shared: { ...config.shared, arena } };
  }

  private async workerRunner(slot: number): Promise<Runner> {
    const worker = await spawnWorker();
    // Calls the worker has not answered; its death rejects them (the worker itself never will).
    const pending = new Set<(e: Error) => void>();
    let death: Error | undefined;
    const answered = <T>(call: Promise<T>) =>
      death
        ? Promise.reject(death)
        : new Promise<T>((resolve, reject) => {
            pending.add(reject);
            call.then(resolve, reject).finally(() => pending.delete(reject));
          });
    void worker.exited.then((e) => {
      death = e;
      runner.dead = true;
      for (const reject of pending) reject(e);
      pending.clear();
      // A worker that dies idle is replaced here; one that dies mid-tile, by tileFailed.
      if (runner.inflight === 0) this.replace(runner);
    });
    // It polls for spinMs after each answer; counting a little less covers the answer's trip here.
    const answeredNow = () => (runner.pollingUntil = now() + 0.7 * this.options.spinMs);
    const runner: Runner = {
      inflight: 0,
      depth: 2,
      dead: false,
      pollingUntil: 0,
      wokenAt: 0,
      contexts: [],
      worker,
      run: async (job, tile, sendContext) => {
        const inputs = sliceInputs(job.candidates, tile.start, tile.end);
        // The watchdog: a worker silent for tileTimeoutMs is ended, which rejects this call through `exited`.
        const watchdog = setTimeout(() => worker.terminate(), this.options.tileTimeoutMs);
        try {
          const { scores } = await answered(worker.api.runTile({ contextId: job.contextId, context: sendContext ? job.context.payload : undefined, inputs }));
          answeredNow();
          return scores;
        } finally {
          clearTimeout(watchdog);
        }
      },
      columns: this.workerConfig!.backend === 'wasm' ? async (begun, lo, hi) => {
        runner.inflight++;
        const watchdog = setTimeout(() => worker.terminate(), this.options.tileTimeoutMs);
        try {
          const { values } = await answered(worker.api.contextColumns({ begun, lo, hi }));
          answeredNow();
          return values;
        } finally {
          clearTimeout(watchdog);
          runner.inflight--;
        }
      } : undefined,
      terminate: () => worker.terminate(),
    };
    try {
      await answered(worker.api.init(this.configFor(slot)));
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return runner;
  }
}

const now = () => performance.now();

/** A context split gives each thread at least this much of the last layer's weight (smaller shares cost more in messages than they save). */
const SPLIT_BYTES_PER_THREAD = 1 << 20;
const payloadBytes = (payload: ContextPayload) => payload.arrays.reduce((a, x) => a + (x?.byteLength ?? 0), 0);

/** Run `fn` after pending I/O and timers: setImmediate in Node, a MessageChannel hop in browsers (setTimeout clamps to >= 1 ms). */
const nextMacrotask: (fn: () => void) => void =
  typeof setImmediate === 'function'
    ? (fn) => void setImmediate(fn)
    : (fn) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => {
          channel.port1.close();
          fn();
        };
        channel.port2.postMessage(0);
      };

/**
 * A scorer for a model: `await createScorer(model, {backend, threads})`, then `score(request, {signal})`
 * any number of times, `context(ctx)` for reusable contexts, `dispose()` at the end.
 */
export async function createScorer(model: Model, options: ScorerOptions = {}): Promise<Scorer> {
  const mode = options.plan ?? 'rank-aware';
  const loaded = await loadBackend(preferenceOf(options));
  const plan = getPlan(model, mode);
  const hardware = await hardwareThreads();
  const threads = options.threads ?? hardware;
  const checkInt = (name: keyof ScorerOptions, value: unknown, min: number) => {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min))
      throw new RankawareError(`options.${name}`, `an integer >= ${min}`, show(value));
  };
  checkInt('threads', threads, 1);
  checkInt('tileRows', options.tileRows, 1);
  checkInt('maxInFlight', options.maxInFlight, 1);
  checkInt('maxQueued', options.maxQueued, 0);
  checkInt('maxContexts', options.maxContexts, 1);
  checkInt('maxContextBytes', options.maxContextBytes, 1);
  checkInt('tileTimeoutMs', options.tileTimeoutMs, 1);
  if (options.spinMs !== undefined && !(typeof options.spinMs === 'number' && options.spinMs >= 0 && options.spinMs <= 1000))
    throw new RankawareError('options.spinMs', 'a number of milliseconds in [0, 1000]', show(options.spinMs));
  const spinMs = isNode ? (options.spinMs ?? (threads <= hardware ? 0.3 : 0)) : 0;
  const limits = {
    maxInFlight: options.maxInFlight ?? 64,
    maxQueued: options.maxQueued ?? 1024,
    maxContexts: options.maxContexts ?? 1024,
    maxContextBytes: options.maxContextBytes ?? 64 * 1024 * 1024,
    tileTimeoutMs: options.tileTimeoutMs ?? 30_000,
    spinMs,
    explicitTileRows: options.tileRows !== undefined,
  };
  if (loaded.name === 'webgpu') {
    const route = await routePlan(plan, loaded, { minGpuFlops: options.minGpuFlops, gpu: options.gpu });
    const gpu = route.gpuPlan;
    const info: ScorerInfo = {
      backend: 'webgpu', backendReason: loaded.reason, plan: mode, threads: 1, workers: 0, callingThread: true, mode: 'gpu',
      modeReason: 'WebGPU: each request runs on the device from the calling thread (the device tiles it; no worker threads)',
      // One scorer tile per request (up to 16M candidates): the GPU plan cuts its own tiles.
      tileRows: options.tileRows ?? 1 << 24,
      ...(gpu ? { gpu: gpu.stats } : {}),
    };
    const scorer = new Scorer(model, info, route.cpuPlan, undefined, limits, route);
    await scorer.start();
    return scorer;
  }
  const backend = loaded.name;

  let main: CompiledPlan;
  let config: WorkerConfig | undefined;
  let arenaBytes: number | undefined;
  let scorerMode: ScorerMode;
  let modeReason: string;
  const callingThread = threads === 1 || (options.callingThread ?? isNode);
  const workers = threads - (callingThread ? 1 : 0);
  if (workers === 0) {
    main = backend === 'wasm' ? (await createWasmBackend()).compile(plan) : jsBackend.compile(plan);
    scorerMode = 'inline';
    modeReason = 'threads = 1: tiles run on the calling thread';
  } else if (backend === 'wasm' && canShareMemory()) {
    const shared = await createSharedWasm();
    const compiled = compileOnShared(plan, shared);
    main = compiled;
    config = { backend, plan: planSkeleton(plan), shared: { wasm: shared, image: compiled.weightImage() }, spinMs };
    // A worker allocates what the calling thread's plan did beside the weights, plus input slots that grow.
    arenaBytes = 2 * compiled.scratchBytes + (256 << 10);
    scorerMode = 'shared-memory';
    modeReason = 'weights placed once in a shared WebAssembly.Memory read by every worker';
  } else {
    const wasm = backend === 'wasm' ? await createWasmBackend() : undefined;
    main = wasm ? wasm.compile(plan) : jsBackend.compile(plan);
    config = { backend, plan, wasm: wasm ? { module: wasm.module, variant: wasm.variant } : undefined, spinMs };
    scorerMode = 'copied-weights';
    modeReason = backend === 'js' ? 'the js backend keeps its weights per thread' : 'no SharedArrayBuffer (the page is not cross-origin isolated): each worker holds a copy of the weights';
  }
  const tileRows = options.tileRows ?? defaultTileRows(plan, backend);
  const info: ScorerInfo = { backend, backendReason: loaded.reason, plan: mode, threads, workers, callingThread, mode: scorerMode, modeReason, tileRows };
  const scorer = new Scorer(model, info, main, config, { ...limits, arenaBytes });
  try {
    await scorer.start();
  } catch (e) {
    scorer.dispose();
    throw e;
  }
  return scorer;
}

/** About 2 ms of work per tile at the backend's typical speed (fewer messages; still interleavable). */
function defaultTileRows(plan: Plan, backend: 'js' | 'wasm'): number {
  const perCandidate = Math.max(1, countFlops(plan).perCandidate);
  const flopsPerMs = backend === 'wasm' ? 40e6 : 1e6;
  return Math.max(4, Math.min(1024, Math.ceil((2 * flopsPerMs) / perCandidate)));
}

/** Rows per tile for a request of n: near the target, in a multiple of `threads` equal tiles so no thread idles at the end. */
function tileRowsFor(n: number, target: number, threads: number): number {
  if (threads === 1) return target;
  const tiles = threads * Math.max(1, Math.round(n / (threads * target)));
  return Math.max(1, Math.ceil(n / tiles));
}
