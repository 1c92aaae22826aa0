/**
 * What an imported graph's scorer (./scorer.ts) and its worker threads (./worker.ts) say to each other: one
 * call per message `{ id, call, args }`, one reply `{ id, ok, value | message }`. Tensors travel as their
 * typed arrays (structured clone; the candidate feeds are transferred).
 */
import type { CompiledEngine, StoredValue } from '../compiler/compiled.js';
import type { Value } from '../interpreter/tensor.js';
import type { ImportOptions } from '../model.js';
import type { PlanMode } from '../../plan/ir.js';
import type { ErrorKind } from '../../errors.js';

export interface WorkerInit {
  readonly bytes: Uint8Array;
  readonly options: ImportOptions;
  readonly engine: Exclude<CompiledEngine, 'webgpu'>;
  /** This worker's share of the context cache's bound (0: off). */
  readonly maxContextBytes: number;
}

/** A whole request: the context stage (or a cached one, by key) and the candidates. */
export interface ScoreTask {
  readonly plan: PlanMode;
  readonly context: ReadonlyMap<string, Value>;
  readonly contextKey?: string;
  readonly candidates: ReadonlyMap<string, Value>;
  readonly n: number;
}

export interface ScoreReply {
  readonly outputs: readonly Float32Array[];
  readonly contextMs: number;
  readonly candidatesMs: number;
  readonly cache?: 'hit' | 'miss';
  /** The worker's context cache after the call: its keys' count, bytes, evictions so far; keys it dropped. */
  readonly cacheState?: { readonly entries: number; readonly bytes: number; readonly evictions: number; readonly dropped: readonly string[] };
}

/** A tile of a request split across threads: candidates against a context stage run elsewhere. */
export interface TileTask {
  readonly values: ReadonlyMap<string, StoredValue>;
  readonly candidates: ReadonlyMap<string, Value>;
  readonly n: number;
}

export type Fault = 'throw' | 'hang' | 'exit';

export type WorkerCall =
  | { readonly id: number; readonly call: 'init'; readonly args: WorkerInit }
  | { readonly id: number; readonly call: 'score'; readonly args: ScoreTask }
  | { readonly id: number; readonly call: 'tile'; readonly args: TileTask }
  | { readonly id: number; readonly call: 'fault'; readonly args: Fault };

/** A refusal's parts (a RankawareError is rebuilt as thrown), or a plain error's message. */
export interface WorkerError {
  readonly message: string;
  readonly rankaware?: { readonly where: string; readonly expected: string; readonly received: string; readonly kind: ErrorKind };
}

export type WorkerReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: WorkerError };
