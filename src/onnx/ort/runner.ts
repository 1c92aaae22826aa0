/**
 * How the ort backend runs its three sessions (the rank-aware graphs): the tensors it hands them, and the
 * runner on the calling thread, for any onnxruntime package with the common API (onnxruntime-node,
 * onnxruntime-web). Node's worker-thread runner is ./workers.ts.
 */
import type { Value } from '../interpreter/tensor.js';

/** A tensor as it crosses threads (an onnxruntime Tensor has this shape too). */
export interface PlainTensor {
  readonly type: 'float32' | 'float64' | 'int64' | 'bool';
  readonly data: Float32Array | Float64Array | BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Integers as int64: through two int32 words each (a BigInt per id costs more than the run at small N). */
export function int64(values: Float64Array | Int32Array): BigInt64Array {
  if (!LITTLE_ENDIAN) return BigInt64Array.from(values, (y) => BigInt(y));
  const out = new BigInt64Array(values.length);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x !== (x | 0)) return BigInt64Array.from(values, (y) => BigInt(y));
    // The low word, then the sign.
    words[2 * i] = x;
    words[2 * i + 1] = x < 0 ? -1 : 0;
  }
  return out;
}

/** A value as onnxruntime's input tensor: floats as float32 (float64 when the graph's input is double), ids as int64. */
export function plainTensor(v: Value, float64 = false): PlainTensor {
  const dims = [...v.shape];
  if (v.dtype === 'float') return float64 ? { type: 'float64', data: Float64Array.from(v.data), dims } : { type: 'float32', data: Float32Array.from(v.data), dims };
  if (v.dtype === 'int') return { type: 'int64', data: int64(v.data), dims };
  return { type: 'bool', data: Uint8Array.from(v.data), dims };
}

/**
 * The sessions: the one-graph form, the two stages, and (with more than one intra-op thread) the one-graph
 * form and the candidate stage again on one thread, for requests too small to pay for a second thread.
 */
export type OrtGraph = 'single' | 'context' | 'candidates' | 'single-one' | 'candidates-one';

/** Each session's graph and options (a graph left out has no session). */
export type OrtSessions = Readonly<Partial<Record<OrtGraph, { readonly bytes: Uint8Array; readonly options: Record<string, unknown> }>>>;

export interface OrtRunner {
  run(graph: OrtGraph, feeds: Record<string, PlainTensor>, outputs: readonly string[]): Promise<Record<string, PlainTensor>>;
  dispose(): Promise<void>;
  /** Worker threads alive now (a runner on worker threads). */
  readonly live?: number;
  /** Make worker `index` exit, as a crash would (tests of its replacement). */
  injectFault?(index: number): void;
}

/** What the ort backend uses of an onnxruntime package (onnxruntime-node and onnxruntime-web both have it). */
export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  readonly Tensor: new (type: PlainTensor['type'], data: PlainTensor['data'], dims: readonly number[]) => PlainTensor;
}

/** The sessions on the calling thread. */
export class InThreadRunner implements OrtRunner {
  private constructor(
    private readonly ort: OrtModule,
    private readonly sessions: Readonly<Partial<Record<OrtGraph, OrtSession>>>,
  ) {}

  static async create(ort: OrtModule, graphs: OrtSessions): Promise<InThreadRunner> {
    const sessions: Partial<Record<OrtGraph, OrtSession>> = {};
    // One at a time: onnxruntime-web's WebGPU provider refuses a session created while another is.
    for (const [graph, g] of Object.entries(graphs) as [OrtGraph, { bytes: Uint8Array; options: Record<string, unknown> }][]) sessions[graph] = await ort.InferenceSession.create(g.bytes, g.options);
    return new InThreadRunner(ort, sessions);
  }

  async run(graph: OrtGraph, feeds: Record<string, PlainTensor>): Promise<Record<string, PlainTensor>> {
    // A cached handoff is the session's own output tensor already; request feeds are plain.
    const Tensor = this.ort.Tensor;
    const tensors = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, (t as object) instanceof Tensor ? t : new Tensor(t.type, t.data, t.dims)]));
    return (await this.sessions[graph]!.run(tensors)) as unknown as Record<string, PlainTensor>;
  }

  async dispose(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }
}
