/**
 * The server's context cache: a returning user's context stage is skipped. The entries live in the
 * scorer's context LRU (bounded in bytes by maxContextBytes); this module derives their keys: SHA-256 over
 * the model version and the *encoded* context, so that two JSON spellings of one context (key order, an
 * unknown id mapped to the same OOV bucket) share an entry, and no two models or contexts ever do.
 */
import { createHash } from 'node:crypto';
import type { Model } from '../model/model.js';
import { encodeContext } from '../model/request.js';
import type { Inputs } from '../model/request.js';
import type { ContextUsage } from '../scheduler/contexts.js';
import type { ServingScorer } from './serving-scorer.js';

/** The model's version: a SHA-256 of model.json and weights.safetensors as stored (any change is a new version). */
export function modelDigest(modelJson: Uint8Array | string, weights: Uint8Array): string {
  const hash = createHash('sha256');
  const json = typeof modelJson === 'string' ? Buffer.from(modelJson, 'utf8') : modelJson;
  // Lengths first, so that no split of the same bytes between the two files hashes alike.
  hash.update(`${json.byteLength}:${weights.byteLength}:`);
  hash.update(json);
  hash.update(weights);
  return hash.digest('hex');
}

const bytesOf = (a: Int32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The cache key of an encoded context under a model version. */
export function contextKey(modelVersion: string, context: Inputs): string {
  const hash = createHash('sha256');
  hash.update(modelVersion);
  const indices = [...new Set([...context.sparse.keys(), ...context.dense.keys()])].sort((a, b) => a - b);
  for (const index of indices) {
    const sparse = context.sparse.get(index);
    const dense = context.dense.get(index);
    // Field index, kind and lengths delimit each field's bytes.
    if (sparse) {
      hash.update(`|s${index}:${sparse.offsets.length}:${sparse.ids.length}:`);
      hash.update(bytesOf(sparse.offsets));
      hash.update(bytesOf(sparse.ids));
    }
    if (dense) {
      hash.update(`|d${index}:${dense.length}:`);
      hash.update(bytesOf(dense));
    }
  }
  return hash.digest('hex');
}

export interface ContextCacheStats extends ContextUsage {
  readonly enabled: boolean;
  /** The LRU's byte bound. */
  readonly capacityBytes: number;
  /** hits / (hits + misses), 0 before any lookup. */
  readonly hitRatio: number;
}

/** A request context's cache key and its encoding (for the scorer's context stage on a miss). */
export type ContextKeyer = (context: unknown) => { readonly contextKey: string; readonly encodedContext: unknown };

/** The keyer of a native model: encodeContext, then contextKey. */
export function nativeKeyer(model: Model, modelVersion: string): ContextKeyer {
  return (context) => {
    const encodedContext = encodeContext(model.spec, context);
    return { contextKey: contextKey(modelVersion, encodedContext), encodedContext };
  };
}

export class ContextCache {
  private readonly keyer: ContextKeyer;

  /**
   * @param model a native model (its contexts keyed by encodeContext and contextKey), or the keyer of the
   *   scorer's own encoding (an imported graph's)
   * @param capacityBytes the byte bound the scorer was created with (maxContextBytes); 0 disables the cache
   */
  constructor(
    private readonly scorer: Pick<ServingScorer, 'hasContextKey' | 'contextUsage'>,
    model: Model | ContextKeyer,
    readonly modelVersion: string,
    readonly capacityBytes: number,
  ) {
    this.keyer = typeof model === 'function' ? model : nativeKeyer(model, modelVersion);
  }

  get enabled(): boolean {
    return this.capacityBytes > 0;
  }

  /**
   * The key for a request's context, and on a miss the encoding it was derived from, for the scorer to run
   * the context stage on (so that a miss encodes the context once); undefined with the cache off. A hit
   * gives no encoding: the request would hold it for nothing while it waits (1,500 queued requests kept
   * 16 MiB more RSS after a flood). Throws the request's own RankawareError for a context that does not
   * encode (the scorer would refuse it alike).
   */
  lookup(context: unknown): { readonly contextKey: string; readonly encodedContext?: unknown } | undefined {
    if (!this.enabled) return undefined;
    const { contextKey: key, encodedContext } = this.keyer(context);
    return this.scorer.hasContextKey(key) ? { contextKey: key } : { contextKey: key, encodedContext };
  }

  get stats(): ContextCacheStats {
    const usage = this.scorer.contextUsage;
    const lookups = usage.hits + usage.misses;
    return { ...usage, enabled: this.enabled, capacityBytes: this.capacityBytes, hitRatio: lookups === 0 ? 0 : usage.hits / lookups };
  }
}
