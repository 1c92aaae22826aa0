/**
 * The `ort` backend: a model's rank-aware plan (src/onnx/rank-aware-onnx.ts) on onnxruntime-node, so a
 * Node server gets native GEMM (and any execution provider its onnxruntime build has: CUDA, DirectML,
 * CoreML) times the rank-aware saving. A request runs the one-graph form (both stages, one run); with a
 * context key and a context cache it runs the context graph on a miss, keeps its handoff tensors, and
 * runs only the candidate graph on a hit. onnxruntime-node is loaded when this backend is asked for, with
 * a clear error when it is not installed. Requests are checked and encoded by the model's own rules
 * (ImportedModel.encode), as on every other backend.
 */
import { RankawareError, show } from '../../errors.js';
import { checkScores } from '../../engine.js';
import type { Value } from '../interpreter/tensor.js';
import type { ImportedModel } from '../model.js';
import { exportRankAwareOnnx } from '../rank-aware-onnx.js';
import type { RankAwareManifest } from '../rank-aware-onnx.js';

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;
type OrtTensor = InstanceType<Ort['Tensor']>;

export interface OrtScorerOptions {
  /** onnxruntime's intra-op threads per run (default 1). */
  readonly threads?: number;
  /** onnxruntime execution providers, in order of preference (default ["cpu"]). */
  readonly executionProviders?: readonly string[];
  /** Contexts the cache keeps (by the score call's contextKey, least recently used out first; default 0: off). */
  readonly maxContexts?: number;
}

export interface OrtScoreOptions {
  /** Cache the context stage under this key (it must identify the context). */
  readonly contextKey?: string;
}

export interface OrtScorerInfo {
  readonly backend: 'ort';
  readonly plan: 'rank-aware';
  readonly threads: number;
  readonly executionProviders: readonly string[];
  readonly maxContexts: number;
  readonly reason: string;
}

export interface OrtScores {
  readonly scores: number[];
  readonly timing: { readonly contextMs: number; readonly candidatesMs: number; readonly contextCache?: 'hit' | 'miss' };
}

/** onnxruntime-node, or a RankawareError saying how to get it. */
export async function loadOrt(): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new RankawareError('backend "ort"', 'the onnxruntime-node package installed beside rankaware (npm install onnxruntime-node)', `it does not load (${e instanceof Error ? e.message : String(e)})`, 'unavailable');
  }
}

function tensorOf(ort: Ort, v: Value): OrtTensor {
  const dims = [...v.shape];
  if (v.dtype === 'float') return new ort.Tensor('float32', Float32Array.from(v.data), dims);
  if (v.dtype === 'int') return new ort.Tensor('int64', BigInt64Array.from(v.data, (x) => BigInt(x)), dims);
  return new ort.Tensor('bool', Uint8Array.from(v.data), dims);
}

const checkInt = (name: string, value: unknown, min: number) => {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min)) throw new RankawareError(`options.${name}`, `an integer >= ${min}`, show(value));
};

export class OrtScorer {
  private readonly contexts = new Map<string, Record<string, OrtTensor>>();
  private disposed = false;

  private constructor(
    private readonly ort: Ort,
    private readonly model: ImportedModel,
    private readonly manifest: RankAwareManifest,
    private readonly single: Session,
    private readonly context: Session,
    private readonly candidates: Session,
    readonly info: OrtScorerInfo,
  ) {}

  static async create(model: ImportedModel, options: OrtScorerOptions = {}): Promise<OrtScorer> {
    checkInt('threads', options.threads, 1);
    checkInt('maxContexts', options.maxContexts, 0);
    const providers = options.executionProviders ?? ['cpu'];
    if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => typeof p !== 'string'))
      throw new RankawareError('options.executionProviders', 'a non-empty list of onnxruntime execution provider names ("cpu", "cuda", "dml", "coreml")', show(providers));
    const ort = await loadOrt();
    const graphs = exportRankAwareOnnx(model);
    const threads = options.threads ?? 1;
    // Spinning intra-op threads would keep burning a core after each run.
    const sessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: [...providers], extra: { session: { intra_op: { allow_spinning: '0' } } } };
    let sessions: Session[];
    try {
      sessions = await Promise.all([graphs.single, graphs.context, graphs.candidates].map((bytes) => ort.InferenceSession.create(bytes, sessionOptions)));
    } catch (e) {
      throw new RankawareError('backend "ort"', `onnxruntime sessions of the rank-aware graphs on ${providers.join(', ')}`, `an error (${e instanceof Error ? e.message : String(e)})`, 'unavailable');
    }
    const maxContexts = options.maxContexts ?? 0;
    const info: OrtScorerInfo = {
      backend: 'ort',
      plan: 'rank-aware',
      threads,
      executionProviders: providers,
      maxContexts,
      reason: `the rank-aware plan as ONNX (${graphs.manifest.handoff.length} values handed from the context stage to the candidates) on onnxruntime-node, ${providers.join(', ')}, ${threads} intra-op thread${threads === 1 ? '' : 's'}`,
    };
    return new OrtScorer(ort, model, graphs.manifest, sessions[0]!, sessions[1]!, sessions[2]!, info);
  }

  async score(request: unknown, options: OrtScoreOptions = {}): Promise<OrtScores> {
    if (this.disposed) throw new RankawareError('scorer', 'a scorer that is not disposed', 'a disposed scorer', 'unavailable');
    const key = options.contextKey;
    if (key !== undefined && typeof key !== 'string') throw new RankawareError('options.contextKey', 'a string', show(key));
    const encoded = this.model.encode(request);
    const feeds = (names: readonly { readonly name: string }[], from: Map<string, Value>, into: Record<string, OrtTensor> = {}) => {
      for (const { name } of names) into[name] = tensorOf(this.ort, from.get(name)!);
      return into;
    };
    const t0 = performance.now();
    if (key === undefined || this.info.maxContexts === 0) {
      const out = await this.single.run(feeds(this.manifest.candidateInputs, encoded.candidates, feeds(this.manifest.contextInputs, encoded.context)));
      return { scores: this.scoresOf(out, encoded.n), timing: { contextMs: 0, candidatesMs: performance.now() - t0 } };
    }
    let handoff = this.contexts.get(key);
    const hit = handoff !== undefined;
    if (handoff) {
      this.contexts.delete(key);
    } else {
      const ctx = await this.context.run(feeds(this.manifest.contextInputs, encoded.context));
      handoff = Object.fromEntries(this.manifest.handoff.map((h) => [h.name, ctx[h.from]!]));
      if (this.contexts.size >= this.info.maxContexts) this.contexts.delete(this.contexts.keys().next().value!);
    }
    this.contexts.set(key, handoff);
    const t1 = performance.now();
    const out = await this.candidates.run(feeds(this.manifest.candidateInputs, encoded.candidates, { ...handoff }));
    return { scores: this.scoresOf(out, encoded.n), timing: { contextMs: t1 - t0, candidatesMs: performance.now() - t1, contextCache: hit ? 'hit' : 'miss' } };
  }

  private scoresOf(out: Record<string, OrtTensor>, n: number): number[] {
    const data = out[this.manifest.outputs[0]!]!.data as Float32Array;
    if (data.length !== n) throw new Error(`import bug: ${data.length} scores for ${n} candidates`);
    return checkScores(data);
  }

  /** Drop the context cache and release the sessions. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.contexts.clear();
    await Promise.all([this.single, this.context, this.candidates].map((s) => s.release()));
  }
}

export function createOrtScorer(model: ImportedModel, options?: OrtScorerOptions): Promise<OrtScorer> {
  return OrtScorer.create(model, options);
}
