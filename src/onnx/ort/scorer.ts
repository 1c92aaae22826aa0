/**
 * The `ort` backend: a model's rank-aware plan (src/onnx/rank-aware-onnx.ts) on onnxruntime, so a Node
 * server gets native GEMM (and any execution provider its onnxruntime build has: CUDA, DirectML, CoreML)
 * times the rank-aware saving, and a page gets onnxruntime-web's WebGPU or WebNN. A request runs the
 * one-graph form (both stages, one run); with a context key and a context cache it runs the context graph
 * on a miss, keeps its handoff tensors, and runs only the candidate graph on a hit. Requests are checked
 * and encoded by the model's own rules (ImportedModel.encode), as on every other backend. Which
 * onnxruntime, and on which thread, is the caller's: ./node.ts (onnxruntime-node, loaded when asked for;
 * worker threads) and ./web.ts (onnxruntime-web, passed in by the page).
 */
import { RankawareError, show } from '../../errors.js';
import { checkScores } from '../../engine.js';
import type { Value } from '../interpreter/tensor.js';
import type { ImportedModel } from '../model.js';
import { exportRankAwareOnnx } from '../rank-aware-onnx.js';
import { encodeCandidateInputs } from '../request.js';
import { Admission } from '../../scheduler/admission.js';
import type { RankAwareManifest } from '../rank-aware-onnx.js';
import { nativeFeeds } from './native-feeds.js';
import type { NativeFeeds } from './native-feeds.js';
import { plainTensor } from './runner.js';
import { ONE_THREAD_MS, ThreadChoice } from './thread-choice.js';
import type { OrtRunner, OrtSessions, PlainTensor } from './runner.js';

export interface OrtScorerOptions {
  /** onnxruntime's intra-op threads per run (default 1). */
  readonly threads?: number;
  /**
   * Worker threads holding the sessions (default 0: the calling thread). A server wants at least 1:
   * onnxruntime-node's run blocks the thread that calls it, and with it the event loop.
   */
  readonly workers?: number;
  /** onnxruntime execution providers, in order of preference (default ["cpu"]). */
  readonly executionProviders?: readonly string[];
  /** Contexts the cache keeps (by the score call's contextKey, least recently used out first; default 0: off). */
  readonly maxContexts?: number;
  /** The cache's bound in bytes of the kept tensors (default: none beyond maxContexts). */
  readonly maxContextBytes?: number;
  /** Requests run at once (default 64), and waiting beyond them (default 1024; more are refused: overloaded). */
  readonly maxInFlight?: number;
  readonly maxQueued?: number;
}

export interface OrtScoreOptions {
  /** Cache the context stage under this key (it must identify the context). */
  readonly contextKey?: string;
  /** `request.context` already encoded by `model.encodeContext` (whoever derived contextKey from it). */
  readonly encodedContext?: Map<string, Value>;
  /** Abort a request still waiting for its turn. */
  readonly signal?: AbortSignal;
}

export interface OrtScorerInfo {
  readonly backend: 'ort';
  readonly plan: 'rank-aware';
  readonly threads: number;
  readonly workers: number;
  readonly executionProviders: readonly string[];
  readonly maxContexts: number;
  /** The cache's byte bound (Infinity: maxContexts alone bounds it). */
  readonly maxContextBytes: number;
  readonly reason: string;
}

export interface OrtScores {
  readonly scores: number[];
  /** threads: the intra-op threads the candidates ran on (1 where one thread has been faster: ./thread-choice.ts). */
  readonly timing: { readonly contextMs: number; readonly candidatesMs: number; readonly queuedMs: number; readonly threads: number; readonly contextCache?: 'hit' | 'miss' };
}

/** The context cache's counters (the shape of the other scorers' contextUsage). */
export interface OrtContextUsage {
  readonly handles: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
}

/** The onnxruntime a scorer runs on: its name (for `reason`), and how its sessions are started. */
export interface OrtRuntime {
  /** "onnxruntime-node", "onnxruntime-web". */
  readonly name: string;
  /** Providers when the options name none. */
  readonly defaultProviders: readonly string[];
  /** The session options for `threads` intra-op threads and these providers. */
  sessionOptions(threads: number, providers: readonly string[]): Record<string, unknown>;
  start(sessions: OrtSessions, workers: number): Promise<OrtRunner>;
  /** What `workers` means here (checked before anything starts): undefined when any count works. */
  readonly workersRefused?: string;
}

const checkInt = (name: string, value: unknown, min: number) => {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min)) throw new RankawareError(`options.${name}`, `an integer >= ${min}`, show(value));
};

const tensorBytes = (tensors: Record<string, PlainTensor>) => Object.values(tensors).reduce((a, t) => a + (t.data as ArrayBufferView).byteLength, 0);

export class OrtScorer {
  /** The context cache, least recently used first: each context's handoff tensors and their bytes. */
  private readonly contexts = new Map<string, { readonly handoff: Record<string, PlainTensor>; readonly bytes: number }>();
  private readonly counters = { bytes: 0, hits: 0, misses: 0, evictions: 0 };
  private readonly admission: Admission;
  private disposed = false;
  /** A model in rankaware's own format: its requests encoded straight into tensors (./native-feeds.ts). */
  private readonly nativeFeeds: NativeFeeds | undefined;
  /** With more than one intra-op thread: which sessions a request runs on (measured, ./thread-choice.ts). */
  private readonly choice: ThreadChoice | undefined;

  private constructor(
    private readonly model: ImportedModel,
    private readonly manifest: RankAwareManifest,
    private readonly runner: OrtRunner,
    readonly info: OrtScorerInfo,
    limits: { readonly maxInFlight: number; readonly maxQueued: number },
  ) {
    this.admission = new Admission(limits);
    this.choice = info.threads > 1 ? new ThreadChoice() : undefined;
    this.nativeFeeds = model.native ? nativeFeeds(model.native.spec, manifest.contextInputs, manifest.candidateInputs) : undefined;
  }

  get contextUsage(): OrtContextUsage {
    return { handles: this.contexts.size, ...this.counters };
  }

  hasContextKey(key: string): boolean {
    return this.contexts.has(key);
  }

  /** With workers: make worker `index` exit, as a crash would (tests of its replacement). */
  injectFault(index: number): void {
    this.runner.injectFault?.(index);
  }

  /** Worker threads alive now (0 without workers). */
  get liveWorkers(): number {
    return this.runner.live ?? 0;
  }

  /** A scorer on `runtime` (./node.ts and ./web.ts call this). */
  static async start(model: ImportedModel, options: OrtScorerOptions, runtime: OrtRuntime): Promise<OrtScorer> {
    checkInt('threads', options.threads, 1);
    checkInt('workers', options.workers, 0);
    checkInt('maxContexts', options.maxContexts, 0);
    checkInt('maxContextBytes', options.maxContextBytes, 0);
    checkInt('maxInFlight', options.maxInFlight, 1);
    checkInt('maxQueued', options.maxQueued, 0);
    if (options.workers && runtime.workersRefused) throw new RankawareError('options.workers', runtime.workersRefused, show(options.workers));
    const providers = options.executionProviders ?? runtime.defaultProviders;
    if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => typeof p !== 'string'))
      throw new RankawareError('options.executionProviders', `a non-empty list of ${runtime.name} execution provider names (${runtime.defaultProviders.map((p) => JSON.stringify(p)).join(', ')}, ...)`, show(providers));
    const graphs = exportRankAwareOnnx(model);
    const threads = options.threads ?? 1;
    const workers = options.workers ?? 0;
    const all = runtime.sessionOptions(threads, providers);
    // The context stage is batch 1: one thread. With more, a small request runs on one-thread sessions.
    const one = threads > 1 ? runtime.sessionOptions(1, providers) : all;
    const sessions: OrtSessions = {
      single: { bytes: graphs.single, options: all },
      context: { bytes: graphs.context, options: one },
      candidates: { bytes: graphs.candidates, options: all },
      ...(threads > 1 ? { 'single-one': { bytes: graphs.single, options: one }, 'candidates-one': { bytes: graphs.candidates, options: one } } : {}),
    };
    let runner: OrtRunner;
    try {
      runner = await runtime.start(sessions, workers);
    } catch (e) {
      if (e instanceof RankawareError) throw e;
      throw new RankawareError('backend "ort"', `onnxruntime sessions of the rank-aware graphs on ${providers.join(', ')}`, `an error (${e instanceof Error ? e.message : String(e)})`, 'unavailable');
    }
    const maxContexts = options.maxContexts ?? (options.maxContextBytes ? Number.MAX_SAFE_INTEGER : 0);
    const info: OrtScorerInfo = {
      backend: 'ort',
      plan: 'rank-aware',
      threads,
      workers,
      executionProviders: providers,
      maxContexts,
      maxContextBytes: options.maxContextBytes ?? Infinity,
      reason: `the rank-aware plan as ONNX (${graphs.manifest.handoff.length} values handed from the context stage to the candidates) on ${runtime.name}, ${providers.join(', ')}, ${threads} intra-op thread${threads === 1 ? '' : 's'}${threads > 1 ? ` (or one, for requests of a size measured faster on one; at first, those under ${ONE_THREAD_MS} ms on one)` : ''}${workers > 0 ? ` on ${workers} worker thread${workers === 1 ? '' : 's'}` : ''}`,
    };
    return new OrtScorer(model, graphs.manifest, runner, info, { maxInFlight: options.maxInFlight ?? 64, maxQueued: options.maxQueued ?? 1024 });
  }

  async score(request: unknown, options: OrtScoreOptions = {}): Promise<OrtScores> {
    if (this.disposed) throw new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    const { contextKey: key, signal } = options;
    if (key !== undefined && typeof key !== 'string') throw new RankawareError('options.contextKey', 'a string', show(key));
    signal?.throwIfAborted();
    const cached = key !== undefined && this.info.maxContexts > 0;
    const feeds = (names: readonly { readonly name: string }[], from: Map<string, Value>, into: Record<string, PlainTensor> = {}) => {
      for (const { name } of names) into[name] = plainTensor(from.get(name)!);
      return into;
    };
    // Encoded before the queue: a bad request is refused at once. A cached context is not encoded again.
    let encoded: { context: () => Record<string, PlainTensor>; candidates: Record<string, PlainTensor>; n: number };
    if (options.encodedContext || (cached && this.contexts.has(key))) {
      if (typeof request !== 'object' || request === null) throw new RankawareError('request', 'an object {"context": {...}, "candidates": [...]}', show(request));
      const { feeds: candidates, n } = encodeCandidateInputs(this.model.inputs, (request as { candidates?: unknown }).candidates);
      const context = options.encodedContext;
      encoded = { context: () => feeds(this.manifest.contextInputs, context ?? this.model.encodeContext((request as { context?: unknown }).context)), candidates: feeds(this.manifest.candidateInputs, candidates), n };
    } else if (this.nativeFeeds) {
      const { context, candidates, n } = this.nativeFeeds.encode(request);
      encoded = { context: () => context, candidates, n };
    } else {
      const { context, candidates, n } = this.model.encode(request);
      encoded = { context: () => feeds(this.manifest.contextInputs, context), candidates: feeds(this.manifest.candidateInputs, candidates), n };
    }
    const queued = performance.now();
    await this.admission.admit(signal);
    const t0 = performance.now();
    try {
      const scores = this.manifest.outputs.slice(0, 1);
      const one = this.choice?.choose(cached ? 'candidates' : 'single', encoded.n) ?? false;
      if (!cached) {
        const inputs = { ...encoded.context(), ...encoded.candidates };
        const ran = performance.now();
        const graph = one ? 'single-one' : 'single';
        const out = await this.runner.run(graph, inputs, scores);
        this.choice?.record('single', encoded.n, graph, one, performance.now() - ran);
        return { scores: this.scoresOf(out, encoded.n), timing: { contextMs: 0, candidatesMs: performance.now() - t0, queuedMs: t0 - queued, threads: one ? 1 : this.info.threads } };
      }
      let entry = this.contexts.get(key);
      const hit = entry !== undefined;
      if (entry) {
        // Most recently used last.
        this.contexts.delete(key);
        this.contexts.set(key, entry);
        this.counters.hits++;
      } else {
        const ctx = await this.runner.run('context', encoded.context(), this.manifest.handoff.map((h) => h.from));
        const handoff = Object.fromEntries(this.manifest.handoff.map((h) => [h.name, ctx[h.from]!]));
        entry = { handoff, bytes: tensorBytes(handoff) };
        this.counters.misses++;
        this.keep(key, entry);
      }
      const inputs = { ...entry.handoff, ...encoded.candidates };
      const t1 = performance.now();
      const graph = one ? 'candidates-one' : 'candidates';
      const out = await this.runner.run(graph, inputs, scores);
      this.choice?.record('candidates', encoded.n, graph, one, performance.now() - t1);
      return { scores: this.scoresOf(out, encoded.n), timing: { contextMs: t1 - t0, candidatesMs: performance.now() - t1, queuedMs: t0 - queued, threads: one ? 1 : this.info.threads, contextCache: hit ? 'hit' : 'miss' } };
    } finally {
      this.admission.release();
    }
  }

  /** Cache a context, dropping the least recently used beyond the count and byte bounds. */
  private keep(key: string, entry: { readonly handoff: Record<string, PlainTensor>; readonly bytes: number }): void {
    const maxBytes = this.info.maxContextBytes;
    if (entry.bytes > maxBytes) return;
    this.contexts.delete(key);
    this.contexts.set(key, entry);
    this.counters.bytes += entry.bytes;
    for (const [k, e] of this.contexts) {
      if (this.contexts.size <= this.info.maxContexts && this.counters.bytes <= maxBytes) break;
      this.contexts.delete(k);
      this.counters.bytes -= e.bytes;
      this.counters.evictions++;
    }
  }

  private scoresOf(out: Record<string, PlainTensor>, n: number): number[] {
    const data = out[this.manifest.outputs[0]!]!.data as Float32Array;
    if (data.length !== n) throw new Error(`import bug: ${data.length} scores for ${n} candidates`);
    return checkScores(data);
  }

  /** Drop the context cache and release the sessions. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.admission.rejectWaiting(new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable'));
    this.contexts.clear();
    await this.runner.dispose();
  }
}
