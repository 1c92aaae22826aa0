/**
 * What the server reads from a scorer, native (src/scheduler) or an imported graph's (src/onnx/scorer), and
 * the context cache key of an imported graph's request: a SHA-256 of the model version and the encoded
 * context, as a native model's.
 */
import { createHash } from 'node:crypto';
import type { ImportedModel } from '../onnx/model.js';
import type { Value } from '../onnx/interpreter/tensor.js';
import type { ContextUsage } from '../scheduler/contexts.js';
import type { BackendName } from '../backends/backend.js';
import type { PlanMode } from '../plan/ir.js';
import type { ScoreRequest, ScorerStats, ScoreTiming } from '../scheduler/types.js';

/** How a served model is scored: rankaware's own backends, or the rank-aware plan on onnxruntime (ort). */
export interface ServingInfo {
  readonly backend: BackendName | 'ort';
  readonly plan: PlanMode;
  readonly threads: number;
  readonly mode: string;
}

export interface ServingResult {
  readonly scores: number[];
  readonly backend: BackendName | 'ort';
  readonly plan: PlanMode;
  readonly timing: ScoreTiming;
}

export interface ServingScorer {
  readonly info: ServingInfo;
  readonly stats: Pick<ScorerStats, 'tilesRetried' | 'workersReplaced'>;
  readonly contextUsage: ContextUsage;
  hasContextKey(key: string): boolean;
  score(request: ScoreRequest, options?: { readonly signal?: AbortSignal; readonly contextKey?: string; readonly encodedContext?: unknown }): Promise<ServingResult>;
  dispose(): void;
}

const bytesOf = (d: Float64Array) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** The context cache key of a request's context and its encoding (the request's own error when it does not encode). */
export function importedContextKey(model: ImportedModel, modelVersion: string, context: unknown): { readonly contextKey: string; readonly encodedContext: Map<string, Value> } {
  const encoded = model.encodeContext(context);
  const hash = createHash('sha256');
  hash.update(modelVersion);
  for (const [name, v] of encoded) {
    hash.update(`|${name}:${v.shape.join('x')}:`);
    hash.update(bytesOf(v.data));
  }
  return { contextKey: hash.digest('hex'), encodedContext: encoded };
}
