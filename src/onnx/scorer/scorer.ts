/**
 * createScorer for an imported graph: the compiled stages behind the scheduler's contract (admission,
 * the context cache by key, abort signals, the ScorerResult shape), on the calling thread (threads: 1) or on
 * worker threads that each import and compile their own copy of the graph.
 *
 * With T threads, T - 1 workers start and the calling thread is the T-th. A request is encoded on the
 * calling thread (a bad one is refused there, before any thread sees it) and scored whole: a keyed request
 * by the worker that holds its key (the cache is split between the workers by key); any other by the least
 * loaded worker while it has fewer than PIPELINE requests, else on the calling thread. A request of at least
 * `splitRows` candidates without a key is split instead: its context stage runs on the calling thread, the
 * candidates in one tile per thread. A worker that dies or hangs is replaced; the requests it held are
 * refused with the reason and the others go on.
 */
import { RankawareError, show } from '../../errors.js';
import { checkScores } from '../../engine.js';
import type { PlanMode } from '../../plan/ir.js';
import { Admission } from '../../scheduler/admission.js';
import type { ContextUsage } from '../../scheduler/contexts.js';
import type { ScoreRequest, ScorerInfo, ScorerResult, ScorerStats } from '../../scheduler/types.js';
import type { CompiledEngine } from '../compiler/compiled.js';
import type { Value } from '../interpreter/tensor.js';
import type { ImportedModel } from '../model.js';
import { encodeCandidateInputs } from '../request.js';
import { ScoringCore } from './core.js';
import { WorkerThread } from './pool.js';
import type { Fault, ScoreReply, ScoreTask } from './protocol.js';

export interface ImportedScorerOptions {
  readonly plan?: PlanMode;
  readonly engine?: Exclude<CompiledEngine, 'webgpu'>;
  /** Threads that score (default 1: the calling thread). More start that many workers. */
  readonly threads?: number;
  /** The context cache's bound in bytes (default 0: off), split evenly between the workers. */
  readonly maxContextBytes?: number;
  readonly maxInFlight?: number;
  readonly maxQueued?: number;
  /** A worker that does not answer a call within this is terminated and replaced (default 30 s). */
  readonly timeoutMs?: number;
  /** A request of at least this many candidates (and no context key) is split across the workers (default 2048). */
  readonly splitRows?: number;
}

export interface ScoreOptions {
  readonly signal?: AbortSignal;
  /** Cache the context stage under this key (it must identify the context: the server uses a hash of it). */
  readonly contextKey?: string;
  /** The request's context already encoded (encodeContextInputs), to skip encoding it again. */
  readonly encodedContext?: unknown;
}

/**
 * A request expected to take less than this on the calling thread stays there: posting it to a worker and
 * taking its answer back costs about as much (measured: a 0.13 ms DCNv2 request, 64 in flight, was slower
 * on two threads).
 */
const WORTH_A_MESSAGE_MS = 0.25;

/** A worker's start (importing and compiling the graph) may take this long whatever timeoutMs says. */
const INIT_TIMEOUT_MS = 120_000;

/** Requests a worker holds at most (one running, one waiting in its port): more wait in the scorer's queue. */
const PIPELINE = 2;

const checkInt = (name: string, value: unknown, min: number) => {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min)) throw new RankawareError(`options.${name}`, `an integer >= ${min}`, show(value));
};

export async function createImportedScorer(model: ImportedModel, options: ImportedScorerOptions = {}): Promise<ImportedScorer> {
  for (const [name, min] of [['threads', 1], ['maxContextBytes', 0], ['maxInFlight', 1], ['maxQueued', 0], ['timeoutMs', 1], ['splitRows', 1]] as const) checkInt(name, options[name], min);
  if (options.engine !== undefined && options.engine !== 'wasm' && options.engine !== 'js') throw new RankawareError('options.engine', '"wasm" or "js"', show(options.engine));
  if (options.plan !== undefined && options.plan !== 'rank-aware' && options.plan !== 'vanilla') throw new RankawareError('options.plan', '"rank-aware" or "vanilla"', show(options.plan));
  const threads = options.threads ?? 1;
  if (threads > 1 && !model.source) throw new RankawareError('options.threads', '1 for a model built without importOnnx (workers import the graph from its bytes)', show(threads));
  const scorer = new ImportedScorer(model, options);
  await scorer.start();
  return scorer;
}

export class ImportedScorer {
  readonly info: ScorerInfo;
  private readonly plan: PlanMode;
  private readonly engine: Exclude<CompiledEngine, 'webgpu'>;
  /** The calling thread's compiled graph: every request with threads 1, the split requests' context stages. */
  private readonly main: ScoringCore;
  private readonly workers: (WorkerThread | undefined)[];
  private starting: Promise<void>[] = [];
  /** Whether each worker slot's thread finished its init (one that dies before is not restarted: it would again). */
  private readonly ready: boolean[] = [];
  private readonly admission: Admission;
  private readonly timeoutMs: number;
  private readonly splitRows: number;
  private readonly capacity: number;
  /** Which worker holds each cached key; each worker's last reported cache state. */
  private readonly keys = new Map<string, number>();
  private readonly cacheStates: { entries: number; bytes: number; evictions: number }[];
  private readonly counters = { hits: 0, misses: 0, replaced: 0, tiles: 0 };
  private disposed = false;
  /** Requests between encoding and their answer (queued ones included). */
  private inFlight = 0;
  /** The calling thread's running milliseconds per candidate (0 until it has scored one). */
  private msPerCandidate = 0;

  /** @internal use createImportedScorer */
  constructor(
    readonly model: ImportedModel,
    options: ImportedScorerOptions,
  ) {
    this.plan = options.plan ?? 'rank-aware';
    this.engine = options.engine ?? 'wasm';
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.splitRows = options.splitRows ?? 2048;
    const threads = options.threads ?? 1;
    this.workers = new Array<WorkerThread | undefined>(threads - 1).fill(undefined);
    this.capacity = options.maxContextBytes ?? 0;
    this.cacheStates = this.workers.map(() => ({ entries: 0, bytes: 0, evictions: 0 }));
    // Keyed requests go to the workers (their cache); the calling thread caches only when it is alone.
    this.main = new ScoringCore(model, this.engine, threads > 1 ? 0 : this.capacity);
    this.admission = new Admission({ maxInFlight: options.maxInFlight ?? 64, maxQueued: options.maxQueued ?? 1024 });
    const inline = threads === 1;
    this.info = {
      backend: this.engine,
      backendReason: `the graph compiled onto ${this.engine} kernels`,
      plan: this.plan,
      threads,
      workers: this.workers.length,
      callingThread: inline,
      mode: inline ? 'inline' : 'copied-weights',
      modeReason: inline ? 'threads: 1: requests score on the calling thread' : `${threads - 1} worker threads and the calling thread, each with its own copy of the compiled graph; a request scores whole on one (split across all from ${this.splitRows} candidates)`,
      tileRows: inline ? 0 : this.splitRows,
    };
  }

  /** @internal */
  async start(): Promise<void> {
    await Promise.all(this.workers.map((_, i) => this.startWorker(i)));
  }

  private startWorker(i: number): Promise<void> {
    const source = this.model.source!;
    const worker = new WorkerThread(this.timeoutMs, (thread, error) => this.replace(i, thread, error));
    this.workers[i] = worker;
    this.ready[i] = false;
    const init = { bytes: source.bytes, options: source.options, engine: this.engine, maxContextBytes: Math.floor(this.capacity / this.workers.length) };
    const started = worker.call<'init', null>('init', init, [], Math.max(this.timeoutMs, INIT_TIMEOUT_MS)).then(() => {
      this.ready[i] = true;
      this.pump();
    });
    this.starting[i] = started;
    return started;
  }

  /** A worker that died: its keys are gone with it; another starts in its place (unless disposed). */
  private replace(i: number, thread: WorkerThread, error: Error): void {
    void error;
    if (this.workers[i] !== thread) return;
    for (const [k, w] of this.keys) if (w === i) this.keys.delete(k);
    this.cacheStates[i] = { entries: 0, bytes: 0, evictions: this.cacheStates[i]!.evictions };
    if (this.disposed || !this.ready[i]) return;
    this.counters.replaced++;
    // A replacement that cannot start leaves the slot dead: requests go to the others.
    this.startWorker(i).catch(() => {});
  }

  get stats(): ScorerStats {
    return { tilesRun: this.counters.tiles, tilesRetried: 0, workersReplaced: this.counters.replaced, duplicateResults: 0, contextsSplit: 0, memoryBytes: 0 };
  }

  get contextUsage(): ContextUsage {
    const { hits, misses } = this.counters;
    if (this.workers.length === 0) {
      const u = this.main.usage;
      return { handles: u.entries, bytes: u.bytes, hits, misses, evictions: u.evictions };
    }
    const sum = (f: (s: { entries: number; bytes: number; evictions: number }) => number) => this.cacheStates.reduce((a, s) => a + f(s), 0);
    return { handles: sum((s) => s.entries), bytes: sum((s) => s.bytes), hits, misses, evictions: sum((s) => s.evictions) };
  }

  hasContextKey(key: string): boolean {
    return this.workers.length === 0 ? this.main.has(key) : this.keys.has(key);
  }

  async score(request: ScoreRequest, options: ScoreOptions = {}): Promise<ScorerResult> {
    if (this.disposed) throw new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    const { signal, contextKey } = options;
    signal?.throwIfAborted();
    if (typeof request !== 'object' || request === null) throw new RankawareError('request', 'an object {"context": {...}, "candidates": [...]}', show(request));
    // Encoded here: a bad request is refused before it is queued or reaches a thread.
    const { feeds, n } = encodeCandidateInputs(this.model.inputs, request.candidates);
    const context = (options.encodedContext as Map<string, Value> | undefined) ?? this.model.encodeContext(request.context);
    const queued = performance.now();
    this.inFlight++;
    try {
      await this.admission.admit(signal);
    } catch (e) {
      this.inFlight--;
      throw e;
    }
    const queuedMs = performance.now() - queued;
    try {
      const task: ScoreTask = { plan: this.plan, context, candidates: feeds, n, ...(contextKey !== undefined ? { contextKey } : {}) };
      let reply: ScoreReply;
      let tiles = 1;
      if (this.workers.length > 0 && n >= this.splitRows && contextKey === undefined && this.plan === 'rank-aware' && this.live().length > 0) {
        const split = await this.split(task, signal);
        reply = split.reply;
        tiles = split.tiles;
      } else if (this.workers.length === 0 || (contextKey === undefined && (this.inFlight <= 1 || this.msPerCandidate * n < WORTH_A_MESSAGE_MS))) reply = this.scoreHere(task);
      else if (contextKey !== undefined) reply = await this.whole(this.holder(contextKey), task, signal);
      else reply = await abortable(this.enqueue(task), signal);
      if (reply.cache === 'hit') this.counters.hits++;
      else if (reply.cache === 'miss') this.counters.misses++;
      const scores = reply.outputs.map((o) => checkScores(o));
      const outputs = this.model.graph.outputs.length > 1 ? { outputs: Object.fromEntries(this.model.graph.outputs.map((o, i) => [o, scores[i]!])) } : {};
      return {
        scores: scores[0]!,
        ...outputs,
        backend: this.engine,
        plan: this.plan,
        reason: this.info.backendReason,
        threads: this.info.threads,
        timing: { contextMs: reply.contextMs, candidatesMs: reply.candidatesMs, queuedMs, tiles, ...(reply.cache ? { contextCache: reply.cache } : {}) },
      };
    } finally {
      this.inFlight--;
      this.admission.release();
    }
  }

  /** Workers that are up (or starting). */
  private live(): number[] {
    return this.workers.flatMap((w, i) => (w && !w.dead ? [i] : []));
  }

  /** Score on the calling thread, keeping the running cost per candidate (what decides a request is worth a worker). */
  private scoreHere(task: ScoreTask): ScoreReply {
    const started = performance.now();
    const reply = this.main.score(task);
    const per = (performance.now() - started) / task.n;
    this.msPerCandidate = this.msPerCandidate === 0 ? per : 0.9 * this.msPerCandidate + 0.1 * per;
    return reply;
  }

  /** The worker that holds (or will hold) a context key: the one it was cached on, else one by its hash. */
  private holder(contextKey: string): number {
    const live = this.live();
    if (live.length === 0) throw new RankawareError('imported graph scorer', 'a live worker thread (keyed requests score on the workers)', 'none (every worker is gone and none could be restarted)', 'unavailable');
    const held = this.keys.get(contextKey);
    if (held !== undefined && live.includes(held)) return held;
    let h = 0;
    for (let i = 0; i < contextKey.length; i++) h = (h * 31 + contextKey.charCodeAt(i)) | 0;
    return live[Math.abs(h) % live.length]!;
  }

  /** Requests waiting for a thread: a worker takes one when it holds fewer than PIPELINE, the calling thread one per macrotask. */
  private readonly queue: { readonly task: ScoreTask; resolve(r: ScoreReply): void; reject(e: unknown): void }[] = [];
  private mainScheduled = false;

  private enqueue(task: ScoreTask): Promise<ScoreReply> {
    return new Promise<ScoreReply>((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const i of this.live()) {
      const w = this.workers[i]!;
      while (this.ready[i] && !w.dead && w.load < PIPELINE && this.queue.length > 0) {
        const job = this.queue.shift()!;
        this.whole(i, job.task, undefined).then(job.resolve, job.reject).finally(() => this.pump());
      }
    }
    if (this.queue.length > 0 && !this.mainScheduled) {
      this.mainScheduled = true;
      // A macrotask of its own: the workers' answers (and their next requests) come in between.
      void nextTask().then(() => {
        this.mainScheduled = false;
        const job = this.queue.shift();
        if (job) {
          try {
            job.resolve(this.scoreHere(job.task));
          } catch (e) {
            job.reject(e);
          }
        }
        this.pump();
      });
    }
  }

  private async whole(i: number, task: ScoreTask, signal: AbortSignal | undefined): Promise<ScoreReply> {
    // Posted at once when the worker is up (its load counts the call before the next request picks).
    if (!this.ready[i]) await this.starting[i];
    const reply = await abortable(this.workers[i]!.call<'score', ScoreReply>('score', task, buffersOf(task.candidates)), signal);
    this.counters.tiles++;
    if (task.contextKey !== undefined && reply.cacheState) {
      const { entries, bytes, evictions, dropped } = reply.cacheState;
      this.cacheStates[i] = { entries, bytes, evictions };
      this.keys.set(task.contextKey, i);
      for (const k of dropped) if (this.keys.get(k) === i) this.keys.delete(k);
    }
    return reply;
  }

  /** The context stage here, the candidates in one tile per live worker. */
  private async split(task: ScoreTask, signal: AbortSignal | undefined): Promise<{ reply: ScoreReply; tiles: number }> {
    const started = performance.now();
    const values = this.main.context(task).values;
    const contextMs = performance.now() - started;
    // One tile per live worker and one for the calling thread (the last: it runs while the others do).
    const threads: (number | undefined)[] = [...this.live(), undefined];
    const per = Math.ceil(task.n / threads.length);
    const parts = threads.map((w, k) => ({ w, from: k * per, to: Math.min(task.n, (k + 1) * per) })).filter((p) => p.to > p.from);
    // The workers' tiles are posted first, then the calling thread scores its own.
    const posted = parts.map(({ w, from, to }) => {
      if (w === undefined) return undefined;
      const candidates = sliceRows(task.candidates, from, to, task.n);
      const tile = () => this.workers[w]!.call<'tile', Float32Array[]>('tile', { values, candidates, n: to - from }, buffersOf(candidates));
      return this.ready[w] ? tile() : this.starting[w]!.then(tile);
    });
    const own = parts.map(({ w, from, to }) => (w === undefined ? this.main.tile({ values, candidates: sliceRows(task.candidates, from, to, task.n), n: to - from }) : undefined));
    const results = await abortable(Promise.all(posted.map((p, k) => p ?? Promise.resolve(own[k]!))), signal);
    this.counters.tiles += parts.length;
    const outputs = results[0]!.map((_, o) => {
      const all = new Float32Array(task.n);
      results.forEach((r, k) => all.set(r[o]!, parts[k]!.from));
      return all;
    });
    return { reply: { outputs, contextMs, candidatesMs: performance.now() - started - contextMs }, tiles: parts.length };
  }

  /** @internal (tests): make worker `i` throw, hang or exit on its next call. */
  injectFault(i: number, kind: Fault): Promise<void> {
    const w = this.workers[i];
    if (!w) throw new RankawareError('injectFault', `a worker index below ${this.workers.length}`, show(i));
    return w.call<'fault', null>('fault', kind).then(() => {});
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const gone = new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    this.admission.rejectWaiting(gone);
    for (const job of this.queue.splice(0)) job.reject(gone);
    for (const w of this.workers) w?.kill(new Error('the scorer was disposed'));
    this.main.clear();
    this.keys.clear();
  }
}

/** After the events already waiting (worker answers among them): setImmediate in Node, a message elsewhere. */
function nextTask(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/** The request's promise, or the signal's reason as soon as it aborts (the work itself is not recalled). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new DOMException('aborted', 'AbortError'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Rows [from, to) of every candidate feed ([n, ...] values), as copies of their own. */
function sliceRows(feeds: ReadonlyMap<string, Value>, from: number, to: number, n: number): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const [name, v] of feeds) {
    const width = v.data.length / n;
    out.set(name, { dtype: v.dtype, shape: [to - from, ...v.shape.slice(1)], data: v.data.slice(from * width, to * width) });
  }
  return out;
}

/** The feeds' buffers, transferred to the worker (the calling thread does not read them again). */
function buffersOf(feeds: ReadonlyMap<string, Value>): ArrayBuffer[] {
  return [...feeds.values()].map((v) => v.data.buffer as ArrayBuffer);
}
