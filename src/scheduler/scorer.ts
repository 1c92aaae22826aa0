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
 *
 * Its parts: types.ts (the public types), admission.ts (the bounded queue), contexts.ts (context handles
 * and their LRU), context-stage.ts (the context stage, split by threads), jobs.ts (jobs, tiles, the round
 * robin), pool.ts (the runners and their replacement).
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import { checkRequestShape, contextSpecOf, encodeCandidates, encodeContext } from '../model/request.js';
import type { Inputs } from '../model/request.js';
import { checkScores, getPlan, routePlan } from '../engine.js';
import { loadBackend, preferenceOf } from '../backends/select.js';
import type { CompiledPlan } from '../backends/backend.js';
import type { GpuRoute, RoutedContext } from '../backends/webgpu/route.js';
import { jsBackend } from '../backends/js/index.js';
import { compileOnShared, planSkeleton } from '../backends/wasm/index.js';
import { createSharedWasm, createWasmBackend } from '../backends/wasm/load.js';
import { Admission } from './admission.js';
import { ContextStage } from './context-stage.js';
import { ContextHandle, ContextStore, newContextId } from './contexts.js';
import type { ContextEntry, ContextUsage } from './contexts.js';
import { cutTiles, defaultTileRows, RoundRobin, tileRowsFor } from './jobs.js';
import type { Job, Tile } from './jobs.js';
import { canShareMemory, hardwareThreads, isNode } from './platform.js';
import { now, WorkerPool } from './pool.js';
import type { Runner } from './pool.js';
import { MISSING_CONTEXT, WORKER_CONTEXT_CACHE } from './protocol.js';
import type { FaultKind, WorkerConfig } from './protocol.js';
import type { ScoreCallOptions, ScoreRequest, ScorerInfo, ScorerMode, ScorerOptions, ScorerResult, ScorerStats } from './types.js';

const disposedError = () => new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');

export class Scorer {
  private readonly jobs = new RoundRobin();
  private readonly admission: Admission;
  private readonly contexts: ContextStore;
  private readonly pool: WorkerPool;
  private readonly contextStage: ContextStage;
  /** Set when every worker is gone and none could be restarted. */
  private broken: RankawareError | undefined;
  private disposed = false;
  private readonly counters = { tilesRun: 0, tilesRetried: 0, duplicateResults: 0 };
  /** A candidate row's time on the calling thread (ms, a moving average of its tiles): tileRowsFor's small-request rule. */
  private msPerRow: number | undefined;

  /** Default tile sizes are balanced over the threads per request; an explicit tileRows is used as is. */
  private readonly balanceTiles: boolean;

  /** @internal use createScorer */
  constructor(
    readonly model: Model,
    readonly info: ScorerInfo,
    private readonly main: CompiledPlan,
    workerConfig: WorkerConfig | undefined,
    options: Required<Pick<ScorerOptions, 'maxInFlight' | 'maxQueued' | 'maxContexts' | 'maxContextBytes' | 'tileTimeoutMs' | 'spinMs'>> & { explicitTileRows: boolean; arenaBytes?: number },
    /** WebGPU: requests run through this route (GPU, or the CPU by the fallback policy) on the calling thread. */
    private readonly route?: GpuRoute,
  ) {
    this.balanceTiles = !options.explicitTileRows;
    this.admission = new Admission(options);
    this.contexts = new ContextStore(options, (entry) => this.route?.release(entry.state as RoutedContext));
    const events = {
      disposed: () => this.disposed,
      replaced: () => this.dispatch(),
      broken: (error: RankawareError) => {
        this.broken = error;
        for (const job of [...this.jobs.jobs]) this.fail(job, error);
      },
    };
    const poolOptions = { workers: info.workers, callingThread: info.callingThread, tileTimeoutMs: options.tileTimeoutMs, spinMs: options.spinMs, arenaBytes: options.arenaBytes };
    this.pool = new WorkerPool(main, workerConfig, poolOptions, events, route);
    this.contextStage = new ContextStage(main, this.pool, workerConfig !== undefined, options.spinMs, route);
  }

  /** @internal */
  start(): Promise<void> {
    return this.pool.start();
  }

  get stats(): ScorerStats {
    const { tilesRun, tilesRetried, duplicateResults } = this.counters;
    return { tilesRun, tilesRetried, workersReplaced: this.pool.workersReplaced, duplicateResults, contextsSplit: this.contextStage.splits, memoryBytes: this.main.allocatedBytes ?? 0 };
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
    if (options.encodedContext !== undefined && contextSpecOf(options.encodedContext) !== spec)
      throw new RankawareError('options.encodedContext', "encodeContext(model.spec, request.context) with this scorer's model", 'inputs that encodeContext did not make for this model');
    const candidates = encodeCandidates(spec, request.candidates);
    let contextId: number;
    let context: ContextEntry | undefined;
    let encodedContext: Inputs | undefined;
    let contextCache: 'hit' | 'miss' | undefined;
    const keyedId = request.context instanceof ContextHandle || options.contextKey === undefined ? undefined : this.contexts.hit(options.contextKey);
    if (request.context instanceof ContextHandle) {
      contextId = request.context.id;
      context = this.contexts.use(contextId);
    } else if (keyedId !== undefined) {
      contextId = keyedId;
      context = this.contexts.use(keyedId);
      contextCache = 'hit';
    } else {
      contextId = newContextId();
      encodedContext = options.encodedContext ?? encodeContext(spec, request.context);
      if (options.contextKey !== undefined) {
        contextCache = 'miss';
        this.contexts.miss();
      }
    }
    const created = now();
    await this.admission.admit(signal);
    if (this.disposed || signal?.aborted) {
      this.admission.release();
      throw this.disposed ? disposedError() : (signal!.reason ?? new DOMException('aborted', 'AbortError'));
    }
    // The context stage runs once admitted: it may use idle workers (a split context stage). A request of
    // one tile wakes none: a worker polling beside it takes the calling thread's core sibling for nothing
    // (2 threads scored a 16-candidate request 10-28% slower than 1 while they polled).
    const tileRows = this.balanceTiles ? tileRowsFor(candidates.rows, this.info.tileRows, this.info.threads, this.msPerRow) : this.info.tileRows;
    if (tileRows < candidates.rows) this.pool.wakeIdle();
    let contextMs = 0;
    if (encodedContext) {
      const t0 = now();
      try {
        context = await this.contextStage.compute(encodedContext);
      } catch (e) {
        this.admission.release();
        throw e;
      }
      contextMs = now() - t0;
      if (options.contextKey !== undefined) {
        context.key = options.contextKey;
        this.contexts.keep(contextId, context);
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
      cutTiles(job, tileRows);
      if (signal) {
        const onAbort = () => this.fail(job, signal.reason ?? new DOMException('aborted', 'AbortError'));
        signal.addEventListener('abort', onAbort, { once: true });
        job.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.jobs.add(job);
      this.dispatch();
    });
  }

  /** Run the context stage once and keep it for later score() calls. */
  async context(context: unknown): Promise<ContextHandle> {
    this.checkOpen();
    const entry = await this.contextStage.compute(encodeContext(this.model.spec, context));
    const id = newContextId();
    this.contexts.keep(id, entry);
    return new ContextHandle(id, this);
  }

  /** @internal */
  releaseContext(id: number): void {
    this.contexts.release(id);
  }

  /** Whether a context is cached under this contextKey now (a peek: no hit or miss is counted). */
  hasContextKey(key: string): boolean {
    return this.contexts.keyedNow(key);
  }

  /** Context handles (and keyed contexts) alive, their bytes, and the keyed lookups' hits and misses. */
  get contextUsage(): ContextUsage {
    return this.contexts.usage;
  }

  /** Fault injection for tests and drills: make worker i throw or hang in its next tile, or end its thread. */
  injectFault(worker: number, kind: FaultKind): Promise<void> {
    return this.pool.injectFault(worker, kind);
  }

  /** Resolves when no replacement worker is still starting. */
  ready(): Promise<void> {
    return this.pool.ready();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const error = disposedError();
    for (const job of [...this.jobs.jobs]) this.fail(job, error);
    this.admission.rejectWaiting(error);
    this.pool.terminateAll();
    this.contexts.clear();
  }

  // ----- internals --------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.disposed) throw disposedError();
    if (this.broken) throw this.broken;
  }

  /** Give idle runners the next tile of the next request in turn. */
  private dispatch(): void {
    // A request of one tile runs on the calling thread when it is free: no message to a worker and back.
    const inline = this.pool.runners.find((r) => !r.worker && !r.dead);
    while (inline && inline.inflight === 0 && this.pool.runners.length > 1 && this.jobs.peek()?.job.tiles === 1) this.runTile(inline, this.jobs.next()!);
    // Level by level: every idle thread gets a tile before any worker gets its queued second one.
    for (let level = 1; level <= 2; level++)
      for (const runner of this.pool.runners) {
        if (runner.dead || runner.inflight >= Math.min(level, runner.depth)) continue;
        const tile = this.jobs.next();
        if (!tile) return;
        this.runTile(runner, tile);
      }
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
    const started = runner.worker ? 0 : now();
    runner.run(job, tile, send).then(
      (scores) => {
        // The calling thread's tiles of 8 rows or more measure a row's time (no message in it; smaller ones are
        // mostly fixed cost): small requests stay one tile by it. Down at once, up slowly: a first run's
        // compilation, a GC pause or a busy core must not cut the next small requests.
        const rows = tile.end - tile.start;
        if (!runner.worker && rows >= 8) {
          const ms = (now() - started) / rows;
          this.msPerRow = this.msPerRow === undefined ? ms : Math.min(ms, 0.9 * this.msPerRow + 0.1 * ms);
        }
        runner.inflight--;
        this.counters.tilesRun++;
        this.complete(tile, scores);
        this.dispatch();
        if (!runner.worker && runner.inflight === 0) this.pool.pollWorkers();
      },
      (error: unknown) => {
        runner.inflight--;
        this.tileFailed(runner, tile, error);
        this.dispatch();
      },
    );
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
    const collateral = runner.worker !== undefined && !this.pool.runners.includes(runner);
    if (collateral) tile.attempts--;
    else if (runner.worker) this.pool.replace(runner);
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
    this.jobs.remove(job);
    // A request's own context (not a handle) is done with: free what it holds on the device.
    if (this.route && !this.contexts.has(job.contextId)) this.route.release(job.context.state as RoutedContext);
    this.admission.release();
  }
}

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
