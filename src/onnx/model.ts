/**
 * An imported ONNX model: the graph, which inputs are context and which candidate, the rank of every
 * value, the rank-aware rewrites, and the staged program that scores requests. The request JSON names
 * the graph's inputs (./request.ts).
 */
import { RankawareError, show } from '../errors.js';
import { checkScores } from '../engine.js';
import type { ScoreResult } from '../scheduler/types.js';
import type { PlanMode } from '../plan/ir.js';
import type { ModelSpec } from '../model/spec.js';
import { evaluateGraph } from './interpreter/evaluate.js';
import { size } from './interpreter/tensor.js';
import type { OnnxGraph } from './reader/onnx-graph.js';
import { readOnnx } from './reader/onnx-graph.js';
import { StagedProgram } from './interpreter/program.js';
import type { ContextValues } from './interpreter/program.js';
import type { RankAnalysis } from './interpreter/rank.js';
import { analyzeRanks, inputRoles } from './interpreter/rank.js';
import type { ImportedInput } from './request.js';
import { describeInputs, encodeCandidateInputs, encodeContextInputs, encodeImportRequest } from './request.js';
import type { EncodedImportRequest } from './request.js';
import { randomImportedRequest } from './request.js';
import { mulberry32 } from '../model/random.js';
import type { Value } from './interpreter/tensor.js';
import type { Rewrite } from './interpreter/rewrite-parts.js';
import { findRewrites } from './interpreter/rewrites.js';
import type { GraphNode } from './reader/onnx-graph.js';
import { CompiledGraph } from './compiler/compiled.js';
import type { CompiledEngine } from './compiler/compiled.js';
import { kernelInstanceSync } from '../backends/wasm/load.js';
import { acquireGpu } from '../backends/webgpu/device.js';
import { GpuEngine } from './compiler/gpu.js';
import { foldLinearTerms } from './passes/linear-terms.js';
import { splitConcatPieces } from './passes/concat-pieces.js';
import { splitOuterBlocks } from './passes/outer-blocks.js';
import { splitPairRuns } from './passes/pair-runs.js';
import type { GraphFold } from './passes/fold.js';

export interface ImportOptions {
  /** Context input names, or one prefix that selects them (e.g. "ctx_"). Every other input is a candidate input. */
  readonly context: readonly string[] | string;
  /** Names the source in error messages. */
  readonly file?: string;
  /**
   * The graph output whose scores are `scores`, for a graph with several (a multi-task model's `score`,
   * `score2`); default the first. Every output that is one value per candidate is also answered by name in
   * `outputs`; the others (and the nodes only they need) are dropped.
   */
  readonly output?: string;
}

/**
 * An imported graph's scores: the ScoreResult of every scoring entry. The interpreter computes them, in
 * float64, so the backend is js.
 */
export type ImportedScores = ScoreResult;

const INTERPRETER = 'the float64 graph interpreter of src/onnx/interpreter (--plan interpret)';
const COMPILED = 'the graph compiled onto float32 kernels (src/onnx/compiler)';

/** The graph after the rank-aware graph passes (./passes), its rank analysis and what the passes did. */
export interface StagedGraph {
  readonly graph: OnnxGraph;
  readonly rank: RankAnalysis;
  readonly folds: readonly GraphFold[];
}

/** The rank-aware graph passes (./passes), in order: the rank-aware plans run the graph they leave. */
const GRAPH_PASSES = [splitConcatPieces, splitOuterBlocks, splitPairRuns, foldLinearTerms] as const;

/** What compileModel puts in front of a native model's graph (src/onnx/native-graph.ts). */
export interface NativeRequests {
  /** The native model's spec: its request fields (the server's Open Inference tensors). */
  readonly spec: ModelSpec;
  prepare(request: unknown): unknown;
  prepareContext(context: unknown): unknown;
  /** A random request of the model's format (bench, tests): n candidates, a history of `historyLength`. */
  random(n: number, seed: number, historyLength?: number): { context: Record<string, unknown>; candidates: Record<string, unknown>[] };
}

/** How an imported graph is scored: compiled (rank-aware, vanilla) or on the float64 interpreter. */
export type ImportedPlan = PlanMode | 'interpret' | 'interpret-vanilla';

export class ImportedModel {
  readonly inputs: readonly ImportedInput[];
  readonly rewrites: ReadonlyMap<GraphNode, Rewrite>;
  readonly program: StagedProgram;

  /**
   * @param outputs every output of the graph as given; `graph` keeps the one scored first (outputs[0] by
   *   default, or ImportOptions.output), then the others that are one score per candidate
   */
  /** The graph the rank-aware plans run: `graph` after the rank-aware graph passes, with its own rank analysis. */
  readonly staged: StagedGraph;

  constructor(
    readonly graph: OnnxGraph,
    readonly rank: RankAnalysis,
    readonly outputs: readonly string[] = graph.outputs,
    staged?: StagedGraph,
    /** The bytes and options it was imported from: a worker thread imports its own copy from them. */
    readonly source?: { readonly bytes: Uint8Array; readonly options: ImportOptions },
  ) {
    this.staged = staged ?? { graph, rank, folds: [] };
    this.rewrites = findRewrites(this.staged.graph, this.staged.rank, this.staged.rank.folded);
    this.program = new StagedProgram(this.staged.graph, this.staged.rank, this.rewrites);
    this.inputs = describeInputs(rank.roles, tableRows(graph, rank));
  }

  /**
   * A native model's request rules in front of the graph's (set by compileModel for din and bst): the
   * request checked as the model format says, its histories laid out as the graph's padded inputs.
   */
  native?: NativeRequests;

  /** A request's tensors: checked by the model's rules (native) and the graph's inputs. */
  encode(request: unknown): EncodedImportRequest {
    return encodeImportRequest(this.inputs, this.native ? this.native.prepare(request) : request);
  }

  /** A seeded random request of n candidates (the model's format when native; lists `listLength` long). */
  randomRequest(n: number, seed: number, listLength: number): { context: Record<string, unknown>; candidates: Record<string, unknown>[] } {
    return this.native ? this.native.random(n, seed, listLength) : randomImportedRequest(this.inputs, n, mulberry32(seed), listLength);
  }

  /** A request's `context` as the graph's context inputs. */
  encodeContext(context: unknown): Map<string, Value> {
    return encodeContextInputs(this.inputs, this.native ? this.native.prepareContext(context) : context);
  }

  private readonly compiledBy = new Map<CompiledEngine, CompiledGraph>();

  /** The graph compiled onto float32 kernels of `engine` (once per engine, on first use; webgpu: compiledAsync). */
  compiled(engine: CompiledEngine = 'wasm'): CompiledGraph {
    let c = this.compiledBy.get(engine);
    if (!c) {
      if (engine === 'webgpu') throw new RankawareError('engine', '"wasm" or "js" here (webgpu: scoreAsync)', '"webgpu"');
      this.compiledBy.set(engine, (c = new CompiledGraph({ graph: this.graph, rank: this.rank }, this.staged, this.rewrites, engine, () => kernelInstanceSync())));
    }
    return c;
  }

  private gpuCompiled: Promise<{ compiled: CompiledGraph } | { reason: string }> | undefined;

  /** The graph compiled for the process's WebGPU device, or why there is none. */
  private compiledGpu(): Promise<{ compiled: CompiledGraph } | { reason: string }> {
    this.gpuCompiled ??= (async () => {
      const acquired = await acquireGpu();
      if ('reason' in acquired) return { reason: acquired.reason };
      const engine = await GpuEngine.create(acquired.runtime);
      return { compiled: new CompiledGraph({ graph: this.graph, rank: this.rank }, this.staged, this.rewrites, 'webgpu', undefined, engine) };
    })();
    const attempt = this.gpuCompiled;
    // A device that could not be had is asked for again next time.
    void attempt.then((r) => 'reason' in r && this.gpuCompiled === attempt && (this.gpuCompiled = undefined));
    return attempt;
  }

  /**
   * score() on any engine, webgpu included (Dawn in Node, navigator.gpu in browsers). Without a WebGPU
   * device the request is scored on wasm and `reason` says why.
   */
  async scoreAsync(request: unknown, plan: ImportedPlan = 'rank-aware', engine: CompiledEngine = 'wasm'): Promise<ImportedScores> {
    if (engine !== 'webgpu' || (plan !== 'rank-aware' && plan !== 'vanilla')) return this.score(request, plan, engine === 'webgpu' ? 'wasm' : engine);
    let gpu = await this.compiledGpu();
    // A lost device: compile again for the next one.
    if (!('reason' in gpu) && gpu.compiled.lostDevice) {
      this.gpuCompiled = undefined;
      gpu = await this.compiledGpu();
    }
    if ('reason' in gpu) return { ...this.score(request, plan, 'wasm'), reason: `${gpu.reason}; the graph compiled onto wasm answered` };
    const c = gpu.compiled;
    const encoded = this.encode(request);
    const data = plan === 'vanilla' ? await c.runVanillaAsync(new Map([...encoded.context, ...encoded.candidates]), encoded.n) : await c.runCandidatesAsync(await c.runContextAsync(encoded.context), encoded.candidates, encoded.n);
    return this.result(data, encoded.n, 'webgpu', plan, COMPILED);
  }

  get name(): string {
    return this.graph.name || 'imported';
  }

  /** The context stage of a request's `context` object. */
  runContext(context: unknown): ContextValues {
    return this.program.runContext(this.encodeContext(context));
  }

  /** Scores of `candidates` against a context from runContext (the first output's). */
  runCandidates(context: ContextValues, candidates: unknown): number[] {
    const { feeds, n } = encodeCandidateInputs(this.inputs, candidates);
    return this.scoresOf(this.program.runCandidates(context, feeds, n)[0]!.data, n);
  }

  /**
   * Score one request: rank-aware (staged) or vanilla (the graph as exported, broadcast first), compiled
   * onto the float32 kernels of `engine`; or `interpret`: the staged program on the float64 interpreter
   * (the oracle, every rewrite), and `interpret-vanilla` the graph as exported there.
   */
  score(request: unknown, plan: ImportedPlan = 'rank-aware', engine: CompiledEngine = 'wasm'): ImportedScores {
    const encoded = this.encode(request);
    if (plan === 'rank-aware' || plan === 'vanilla') {
      const c = this.compiled(engine);
      const data = plan === 'vanilla' ? c.runVanilla(new Map([...encoded.context, ...encoded.candidates]), encoded.n) : c.runCandidates(c.runContext(encoded.context), encoded.candidates, encoded.n);
      return this.result(data, encoded.n, engine, plan, COMPILED);
    }
    if (plan === 'interpret-vanilla') {
      const feeds = new Map([...encoded.context, ...encoded.candidates]);
      const values = evaluateGraph(this.graph, feeds).values;
      return this.result(this.graph.outputs.map((o) => values.get(o)!.data), encoded.n, 'js', 'vanilla', INTERPRETER);
    }
    const context = this.program.runContext(encoded.context);
    return this.result(this.program.runCandidates(context, encoded.candidates, encoded.n).map((v) => v.data), encoded.n, 'js', 'rank-aware', INTERPRETER);
  }

  /** The result: the first output's scores, and every output's by name when the graph has several. */
  private result(data: readonly (Float64Array | Float32Array)[], n: number, backend: ImportedScores['backend'], plan: PlanMode, reason: string): ImportedScores {
    const scores = data.map((d) => this.scoresOf(d, n));
    const base = { scores: scores[0]!, backend, plan, reason };
    return this.graph.outputs.length > 1 ? { ...base, outputs: Object.fromEntries(this.graph.outputs.map((o, i) => [o, scores[i]!])) } : base;
  }

  private scoresOf(data: Float64Array | Float32Array, n: number): number[] {
    if (data.length !== n) throw new Error(`import bug: ${data.length} scores for ${n} candidates`);
    return checkScores(data);
  }
}

/** Rows of the embedding table an input indexes directly (Gather(table, input), axis 0). */
function tableRows(graph: OnnxGraph, rank: RankAnalysis): Map<string, number> {
  const rows = new Map<string, number>();
  for (const node of graph.nodes) {
    if (node.op !== 'Gather' || ((node.attrs.get('axis') as number | undefined) ?? 0) !== 0) continue;
    const table = rank.folded.get(node.inputs[0]!);
    const input = node.inputs[1]!;
    if (!table || !rank.roles.some((r) => r.input.name === input)) continue;
    rows.set(input, Math.min(rows.get(input) ?? Infinity, table.shape[0]!));
  }
  return rows;
}

/** Import ONNX bytes: read, check ops, mark context and candidate inputs, propagate rank, plan the rewrites. */
export function importOnnx(bytes: Uint8Array, options: ImportOptions): ImportedModel {
  const file = options.file ?? 'model.onnx';
  let graph = readOnnx(bytes, file);
  const context = typeof options.context === 'string' ? options.context.split(',').map((s) => s.trim()).filter(Boolean) : options.context;
  if (context.length === 0) throw new RankawareError('--context', 'context input names or a prefix', show(options.context), 'missing');
  if (graph.outputs.length === 0) throw new RankawareError(file, 'a graph with an output (the scores)', 'no outputs', 'format');
  const output = options.output ?? graph.outputs[0]!;
  if (!graph.outputs.includes(output)) throw new RankawareError('--output', `one of the graph's outputs (${graph.outputs.join(', ')})`, show(output), 'missing');
  const outputs = graph.outputs;
  // The scored output first; every other output that is one value per candidate is answered by name too.
  graph = withOutputs(graph, [output, ...outputs.filter((o) => o !== output)]);
  const roles = inputRoles(graph, context);
  let rank = analyzeRanks(graph, roles);
  const perCandidate = (name: string) => {
    const t = rank.templates.get(name)!;
    return size(t.at2) === 2 && size(t.at3) === 3;
  };
  if (!perCandidate(output)) {
    const out = rank.templates.get(output)!;
    throw new RankawareError(`${file} output "${output}"`, 'one score per candidate ([N, 1] or [N])', `a value of shape [${out.at2.join(', ')}] at N = 2`, 'format');
  }
  const answered = graph.outputs.filter(perCandidate);
  if (answered.length < graph.outputs.length) {
    // Outputs that are not scores (an embedding, a per-request value) are dropped with the nodes only they need.
    graph = withOutputs(graph, answered);
    rank = analyzeRanks(graph, roles);
  }
  // The rank-aware graph passes, then the rank analysis of the graph they leave.
  // Each pass sees the rank analysis of the graph the one before left.
  let [passed, passedRank] = [graph, rank];
  const folds: GraphFold[] = [];
  for (const pass of GRAPH_PASSES) {
    const result = pass(passed, passedRank);
    if (result.folds.length === 0) continue;
    [passed, passedRank] = [result.graph, analyzeRanks(result.graph, roles)];
    folds.push(...result.folds);
  }
  const staged = folds.length > 0 ? { graph: passed, rank: passedRank, folds } : undefined;
  return new ImportedModel(graph, rank, outputs, staged, { bytes, options: { context, file, ...(options.output !== undefined ? { output: options.output } : {}) } });
}

/**
 * The graph with these outputs, in this order, and only the nodes they depend on (every input stays an
 * input). Reordering alone keeps the nodes as well: the outputs need the same ones.
 */
function withOutputs(graph: OnnxGraph, outputs: readonly string[]): OnnxGraph {
  if (outputs.length === graph.outputs.length && outputs.every((o) => graph.outputs.includes(o))) return { ...graph, outputs: [...outputs] };
  const needed = new Set(outputs);
  const kept: GraphNode[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!node.outputs.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const name of node.inputs) if (name !== '') needed.add(name);
  }
  return { ...graph, outputs: [...outputs], nodes: kept.reverse() };
}
