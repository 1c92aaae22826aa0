/**
 * Context handles and the scorer's context LRU: entries kept by id (handles, and contexts cached under a
 * contextKey), bounded in count and bytes, least recently used evicted first.
 */
import { RankawareError } from '../errors.js';
import type { ContextPayload, ContextState } from '../backends/backend.js';

/** A context computed once and reusable for any number of score calls (a session, a returning user). */
export class ContextHandle {
  /** @internal */
  constructor(
    readonly id: number,
    private readonly owner: { releaseContext(id: number): void },
  ) {}
  /** Free it now (it is also freed by the scorer's LRU). */
  release(): void {
    this.owner.releaseContext(this.id);
  }
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

export interface ContextEntry {
  readonly state: ContextState;
  readonly payload?: ContextPayload;
  readonly bytes: number;
  /** Set for entries kept under a contextKey. */
  key?: string;
}

let nextContextId = 1;

/** A fresh context id (unique in this process: a request's own context, or a kept one). */
export const newContextId = (): number => nextContextId++;

/** The LRU of kept contexts; `onRelease` frees what an entry holds elsewhere (a device context). */
export class ContextStore {
  private readonly contexts = new Map<number, ContextEntry>();
  /** contextKey -> id of its entry in `contexts`. */
  private readonly keyed = new Map<string, number>();
  private bytes = 0;
  private readonly counters = { hits: 0, misses: 0, evictions: 0 };

  constructor(
    private readonly bounds: { readonly maxContexts: number; readonly maxContextBytes: number },
    private readonly onRelease: (entry: ContextEntry) => void,
  ) {}

  get usage(): ContextUsage {
    return { handles: this.contexts.size, bytes: this.bytes, ...this.counters };
  }

  has(id: number): boolean {
    return this.contexts.has(id);
  }

  /** The id kept under a contextKey, counted as a hit; undefined (not counted) when none is. */
  hit(key: string): number | undefined {
    const id = this.keyed.get(key);
    if (id !== undefined) this.counters.hits++;
    return id;
  }

  /** Whether a context is kept under `key` now (counts nothing). */
  keyedNow(key: string): boolean {
    return this.keyed.has(key);
  }

  /** Count a keyed lookup that found nothing (its context is computed, then kept). */
  miss(): void {
    this.counters.misses++;
  }

  /** Add an entry and evict the least recently used beyond the bounds (the newest always stays). */
  keep(id: number, entry: ContextEntry): void {
    if (entry.key !== undefined) {
      // Two requests with one key that missed together: the later entry replaces the earlier.
      const earlier = this.keyed.get(entry.key);
      if (earlier !== undefined && earlier !== id) this.release(earlier);
      this.keyed.set(entry.key, id);
    }
    this.contexts.set(id, entry);
    this.bytes += entry.bytes;
    while (this.contexts.size > this.bounds.maxContexts || (this.bytes > this.bounds.maxContextBytes && this.contexts.size > 1)) {
      this.release(this.contexts.keys().next().value!);
      this.counters.evictions++;
    }
  }

  /** A live entry, made the most recently used; a released or evicted one is refused. */
  use(id: number): ContextEntry {
    const entry = this.contexts.get(id);
    if (!entry) throw new RankawareError('request.context', 'a live context handle', 'a released context handle (released, or evicted by the LRU: create it again)');
    // Least recently used order: move to the back.
    this.contexts.delete(id);
    this.contexts.set(id, entry);
    return entry;
  }

  release(id: number): void {
    const entry = this.contexts.get(id);
    if (!entry) return;
    this.contexts.delete(id);
    if (entry.key !== undefined && this.keyed.get(entry.key) === id) this.keyed.delete(entry.key);
    this.bytes -= entry.bytes;
    this.onRelease(entry);
  }

  /** Forget every entry (a disposed scorer), without onRelease. */
  clear(): void {
    this.contexts.clear();
    this.keyed.clear();
    this.bytes = 0;
  }
}
