/**
 * Serving an imported graph that is not one of the six: its compiled program (wasm or js) on the calling
 * thread, behind the same HTTP layer as a native model's scorer (limits, errors, metrics, draining). A
 * request scores synchronously (the compiled stages take about a millisecond at N = 256), so requests run
 * one at a time in arrival order and the event loop serves the rest in between. The context cache keeps
 * a returning context's stage (a CompiledContext) in an LRU bounded in bytes, keyed by a SHA-256 of the
 * model version and the encoded context, as a native model's.
 */
import { createHash } from 'node:crypto';
import { RankawareError } from '../errors.js';
import type { ImportedModel } from '../onnx/model.js';
import type { CompiledContext, CompiledEngine } from '../onnx/compiler/compiled.js';
import { encodeCandidateInputs, encodeContextInputs } from '../onnx/request.js';
import type { Value } from '../onnx/interpreter/tensor.js';
import type { ContextUsage } from '../scheduler/contexts.js';
import type { ScoreRequest, ScorerInfo, ScorerResult, ScorerStats } from '../scheduler/types.js';
import type { PlanMode } from '../plan/ir.js';
import { checkScores } from '../engine.js';

export interface ImportedScorerOptions {
  readonly plan?: PlanMode;
  readonly engine?: Exclude<CompiledEngine, 'webgpu'>;
  /** The context cache's bound (0: off). */
  readonly maxContextBytes?: number;
  /** Part of every context cache key. */
  readonly modelVersion: string;
}

/** What the server reads from a scorer, native or imported. */
export interface ServingScorer {
  readonly info: ScorerInfo;
  readonly stats: ScorerStats;
  readonly contextUsage: ContextUsage;
  hasContextKey(key: string): boolean;
  score(request: ScoreRequest, options?: { readonly signal?: AbortSignal; readonly contextKey?: string; readonly encodedContext?: unknown }): Promise<ScorerResult>;
  dispose(): void;
}

const bytesOf = (d: Float64Array) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

export class ImportedScorer implements ServingScorer {
  readonly info: ScorerInfo;
  private readonly plan: PlanMode;
  private readonly engine: Exclude<CompiledEngine, 'webgpu'>;
  private readonly capacity: number;
  /** The context cache: key -> context, least recently used first. */
  private readonly contexts = new Map<string, { readonly context: CompiledContext; readonly bytes: number }>();
  private usage = { handles: 0, bytes: 0, hits: 0, misses: 0, evictions: 0 };
  private scored = 0;
  private disposed = false;

  constructor(
    readonly model: ImportedModel,
    private readonly options: ImportedScorerOptions,
  ) {
    this.plan = options.plan ?? 'rank-aware';
    this.engine = options.engine ?? 'wasm';
    this.capacity = options.maxContextBytes ?? 0;
    const why = 'an imported graph compiled by rankaware scores on the calling thread';
    this.info = { backend: this.engine, backendReason: `the graph compiled onto ${this.engine} kernels`, plan: this.plan, threads: 1, workers: 0, callingThread: true, mode: 'inline', modeReason: why, tileRows: 0 };
    // Compile the engine now: a bad graph fails at startup, not on the first request.
    model.compiled(this.engine);
  }

  /** The context cache key of a request's context and its encoding (the request's own error when it does not encode). */
  keyOf(context: unknown): { readonly contextKey: string; readonly encodedContext: Map<string, Value> } {
    const encoded = encodeContextInputs(this.model.inputs, context);
    const hash = createHash('sha256');
    hash.update(this.options.modelVersion);
    for (const [name, v] of encoded) {
      hash.update(`|${name}:${v.shape.join('x')}:`);
      hash.update(bytesOf(v.data));
    }
    return { contextKey: hash.digest('hex'), encodedContext: encoded };
  }

  hasContextKey(key: string): boolean {
    return this.contexts.has(key);
  }

  get contextUsage(): ContextUsage {
    return { ...this.usage, handles: this.contexts.size };
  }

  get stats(): ScorerStats {
    return { tilesRun: this.scored, tilesRetried: 0, workersReplaced: 0, duplicateResults: 0, contextsSplit: 0, memoryBytes: 0 };
  }

  async score(request: ScoreRequest, options: { readonly signal?: AbortSignal; readonly contextKey?: string; readonly encodedContext?: unknown } = {}): Promise<ScorerResult> {
    if (this.disposed) throw new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    options.signal?.throwIfAborted();
    const started = performance.now();
    const compiled = this.model.compiled(this.engine);
    if (this.plan === 'vanilla') {
      const result = this.model.score(request, 'vanilla', this.engine);
      this.scored++;
      return { ...result, threads: 1, timing: { contextMs: 0, candidatesMs: performance.now() - started, queuedMs: 0, tiles: 1 } };
    }
    const { feeds, n } = encodeCandidateInputs(this.model.inputs, request.candidates);
    let context: CompiledContext | undefined;
    let cache: 'hit' | 'miss' | undefined;
    if (options.contextKey !== undefined) {
      const entry = this.contexts.get(options.contextKey);
      if (entry) {
        this.contexts.delete(options.contextKey);
        this.contexts.set(options.contextKey, entry);
        context = entry.context;
        cache = 'hit';
        this.usage.hits++;
      } else {
        cache = 'miss';
        this.usage.misses++;
      }
    }
    if (!context) {
      const encoded = (options.encodedContext as Map<string, Value> | undefined) ?? encodeContextInputs(this.model.inputs, request.context);
      context = compiled.runContext(encoded);
      if (options.contextKey !== undefined) this.keep(options.contextKey, context);
    }
    const contextMs = performance.now() - started;
    const data = compiled.runCandidates(context, feeds, n);
    const scores = checkScores(data[0]!);
    this.scored++;
    const outputs = this.model.graph.outputs.length > 1 ? { outputs: Object.fromEntries(this.model.graph.outputs.map((o, i) => [o, checkScores(data[i]!)])) } : {};
    return {
      scores,
      ...outputs,
      backend: this.engine,
      plan: 'rank-aware',
      reason: this.info.backendReason,
      threads: 1,
      timing: { contextMs: cache === 'hit' ? 0 : contextMs, candidatesMs: performance.now() - started - contextMs, queuedMs: 0, tiles: 1, ...(cache ? { contextCache: cache } : {}) },
    };
  }

  /** Cache a context stage, dropping the least recently used ones beyond the byte bound. */
  private keep(key: string, context: CompiledContext): void {
    if (this.capacity <= 0) return;
    let bytes = 0;
    for (const v of context.values.values()) bytes += v.data.byteLength;
    if (bytes > this.capacity) return;
    this.contexts.set(key, { context, bytes });
    this.usage.bytes += bytes;
    for (const [k, e] of this.contexts) {
      if (this.usage.bytes <= this.capacity) break;
      this.contexts.delete(k);
      this.usage.bytes -= e.bytes;
      this.usage.evictions++;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.contexts.clear();
    this.usage.bytes = 0;
  }
}
