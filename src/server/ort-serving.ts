/**
 * `rankaware serve --backend ort`: the ort backend's scorer (the rank-aware plan on onnxruntime-node,
 * src/onnx/ort) behind the server's scorer contract, its context cache the server's (bounded by
 * --context-cache-mb), its admission the server's (--max-in-flight, --max-queued).
 */
import type { Value } from '../onnx/interpreter/tensor.js';
import type { OrtScorer } from '../onnx/ort/scorer.js';
import type { ScoreRequest } from '../scheduler/types.js';
import type { ServingInfo, ServingResult, ServingScorer } from './serving-scorer.js';

export class OrtServingScorer implements ServingScorer {
  readonly info: ServingInfo;
  /** No worker threads of ours: nothing is retried or replaced. */
  readonly stats = { tilesRetried: 0, workersReplaced: 0 } as const;

  constructor(readonly ort: OrtScorer) {
    this.info = { backend: 'ort', plan: 'rank-aware', threads: ort.info.threads, mode: `onnxruntime ${ort.info.executionProviders.join(', ')}` };
  }

  get contextUsage() {
    return this.ort.contextUsage;
  }

  hasContextKey(key: string): boolean {
    return this.ort.hasContextKey(key);
  }

  async score(request: ScoreRequest, options: { readonly signal?: AbortSignal; readonly contextKey?: string; readonly encodedContext?: unknown } = {}): Promise<ServingResult> {
    const r = await this.ort.score(request, { signal: options.signal, contextKey: options.contextKey, encodedContext: options.encodedContext as Map<string, Value> | undefined });
    return { scores: r.scores, backend: 'ort', plan: 'rank-aware', timing: { ...r.timing, tiles: 1 } };
  }

  dispose(): void {
    void this.ort.dispose();
  }
}
