/**
 * Scoring one imported graph's requests on one thread: the compiled stages, and the context cache (context
 * stages by key, least recently used first, bounded in bytes). The scorer runs one on the calling thread
 * (threads: 1) and one in each worker thread (./worker.ts).
 */
import type { CompiledContext, CompiledEngine, CompiledGraph } from '../compiler/compiled.js';
import type { ImportedModel } from '../model.js';
import type { ScoreReply, ScoreTask, TileTask } from './protocol.js';

export class ScoringCore {
  readonly compiled: CompiledGraph;
  private readonly contexts = new Map<string, { readonly context: CompiledContext; readonly bytes: number }>();
  private bytes = 0;
  private evictions = 0;

  constructor(
    readonly model: ImportedModel,
    readonly engine: Exclude<CompiledEngine, 'webgpu'>,
    private readonly capacity: number,
  ) {
    // Compiled now: a graph the compiler cannot lower fails here, not on the first request.
    this.compiled = model.compiled(engine);
  }

  score(task: ScoreTask): ScoreReply {
    const started = performance.now();
    if (task.plan === 'vanilla') {
      const outputs = this.compiled.runVanilla(new Map([...task.context, ...task.candidates]), task.n);
      return { outputs, contextMs: 0, candidatesMs: performance.now() - started };
    }
    let context: CompiledContext | undefined;
    let cache: 'hit' | 'miss' | undefined;
    const dropped: string[] = [];
    if (task.contextKey !== undefined) {
      const entry = this.contexts.get(task.contextKey);
      cache = entry ? 'hit' : 'miss';
      if (entry) {
        this.contexts.delete(task.contextKey);
        this.contexts.set(task.contextKey, entry);
        context = entry.context;
      }
    }
    if (!context) {
      context = this.compiled.runContext(task.context);
      if (task.contextKey !== undefined) this.keep(task.contextKey, context, dropped);
    }
    const contextMs = cache === 'hit' ? 0 : performance.now() - started;
    const outputs = this.compiled.runCandidates(context, task.candidates, task.n);
    const candidatesMs = performance.now() - started - contextMs;
    const cacheState = task.contextKey !== undefined ? { entries: this.contexts.size, bytes: this.bytes, evictions: this.evictions, dropped } : undefined;
    return { outputs, contextMs, candidatesMs, ...(cache ? { cache } : {}), ...(cacheState ? { cacheState } : {}) };
  }

  /** A request's context stage alone (its values travel to the threads that score its tiles). */
  context(task: Pick<ScoreTask, 'context'>): CompiledContext {
    return this.compiled.runContext(task.context);
  }

  tile(task: TileTask): Float32Array[] {
    return this.compiled.runCandidates(this.compiled.contextFrom(task.values), task.candidates, task.n);
  }

  has(key: string): boolean {
    return this.contexts.has(key);
  }

  get usage(): { readonly entries: number; readonly bytes: number; readonly evictions: number } {
    return { entries: this.contexts.size, bytes: this.bytes, evictions: this.evictions };
  }

  clear(): void {
    this.contexts.clear();
    this.bytes = 0;
  }

  /** Cache a context stage, dropping the least recently used ones beyond the byte bound. */
  private keep(key: string, context: CompiledContext, dropped: string[]): void {
    let bytes = 0;
    for (const v of context.values.values()) bytes += v.data.byteLength;
    // Not kept (the cache is off, or the context alone is over its bound): reported as dropped at once.
    if (bytes > this.capacity) {
      dropped.push(key);
      return;
    }
    this.contexts.set(key, { context, bytes });
    this.bytes += bytes;
    for (const [k, e] of this.contexts) {
      if (this.bytes <= this.capacity) break;
      this.contexts.delete(k);
      this.bytes -= e.bytes;
      this.evictions++;
      dropped.push(k);
    }
  }
}
