/**
 * An imported graph compiled onto float32 kernels: the staged program of the rank analysis (a context
 * stage once per request, a candidate stage per request's N candidates) or the plain graph (vanilla), each
 * lowered node by node at the shapes of the request and cached by those shapes (N, list lengths). The
 * rank-aware rewrites lower as ./lower-rewrites.ts says (split-linear, pair-products, fm-split,
 * row-projection, attention-lse), on every engine.
 * MatMul/Gemm by a constant runs on the engine's GEMM with the Add of a bias and a Relu/Sigmoid after it
 * fused in; a hand-written LayerNorm is one kernel (./fuse-layer-norm.ts), and so is scaled dot-product
 * attention (./fuse-attention.ts).
 */
import { RankawareError, show } from '../../errors.js';
import type { Activation } from '../../plan/ir.js';
import type { Kernels } from '../../backends/wasm/index.js';
import type { GraphNode, OnnxGraph } from '../reader/onnx-graph.js';
import { StagedProgram } from '../interpreter/program.js';
import { BROADCASTING_OPS } from '../interpreter/ops.js';
import type { RankAnalysis } from '../interpreter/rank.js';
import { candidateAxes } from '../interpreter/rank.js';
import type { Rewrite } from '../interpreter/rewrite-parts.js';
import type { Value } from '../interpreter/tensor.js';
import { size } from '../interpreter/tensor.js';
import { Arena } from './arena.js';
import { CompiledStore, ProgramBuilder, storage } from './builder.js';
import type { CValue, RTensor, Step } from './builder.js';
import { jsGemm, wasmGemm } from './gemm.js';
import { simdKernels } from './simd-kernels.js';
import { gpuGemm } from './gpu.js';
import type { GpuEngine } from './gpu.js';
import type { WasmVariant } from '../../backends/wasm/module.js';
import type { Epilogue } from './lower-linear.js';
import { lowerGemm, lowerMatMul, lowerMatMulT } from './lower-linear.js';
import { materialize } from './lower-movement.js';
import { lowerRewriteCand, lowerRewriteOnce, lowersRewrite, storedNames } from './lower-rewrites.js';
import { lowerNode } from './lower.js';
import { decomposedLayerNorm } from './fuse-layer-norm.js';
import { fusedAttention } from './fuse-attention.js';

export type CompiledEngine = 'js' | 'wasm' | 'webgpu';

/**
 * A context stage's value as the candidate stage reads it: a copy of its elements (small: one row each), or,
 * for shape arithmetic on a list length (computed from Shape nodes alone), a Value the candidate program
 * is compiled with.
 */
export interface StoredValue {
  readonly dtype: Value['dtype'];
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Float64Array;
}

/** The context stage's values that the candidate stage reads, and the shape key they give its programs. */
export interface CompiledContext {
  readonly compiled: CompiledGraph;
  readonly values: ReadonlyMap<string, StoredValue>;
  readonly key: string;
}

/** A stored value the candidate program takes as a compile-time constant (its data is in the program key). */
const compileTime = (v: StoredValue): v is Value => v.data instanceof Float64Array;

interface Program {
  readonly steps: readonly Step[];
  readonly inputs: readonly { readonly name: string; readonly t: RTensor }[];
  readonly outputs: readonly { readonly name: string; readonly v: CValue }[];
}

/** A program's cache key part for its feeds: each name and shape. */
const shapesKey = (feeds: ReadonlyMap<string, Value>) => [...feeds].map(([k, v]) => `${k}:${v.shape.join('x')}`).join(';');

/** One program input per feed, in order. */
const feedInputs = (b: ProgramBuilder, feeds: ReadonlyMap<string, Value>) => [...feeds].map(([name, v]) => ({ name, t: b.input(v.dtype, v.shape) }));

/** Compiled programs kept per stage (a request shape not seen before compiles, once). */
const PROGRAMS_PER_STAGE = 8;

const ACTIVATIONS: Readonly<Record<string, Activation>> = { Relu: 'relu', Sigmoid: 'sigmoid' };

export class CompiledGraph {
  private store!: CompiledStore;
  private readonly programs = { once: new Map<string, Program>(), cand: new Map<string, Program>(), vanilla: new Map<string, Program>() };
  private readonly last: Record<keyof CompiledGraph['programs'], string> = { once: '', cand: '', vanilla: '' };
  /** The staged program restricted to the rewrites the compiler lowers. */
  readonly staged: StagedProgram;
  private readonly onceNeeded: readonly string[];
  private readonly fromShapes: ReadonlySet<string>;
  /** Values the lowered rewrites read: never fused away. */
  private readonly parts: ReadonlySet<string>;

  private readonly graph: OnnxGraph;
  private readonly rank: RankAnalysis;

  /**
   * @param vanilla the graph as exported (the vanilla plan); `staged` the graph after the rank-aware passes
   *   (the rank-aware plan), each with its rank analysis; `rewrites` the staged graph's
   */
  constructor(
    private readonly vanilla: { readonly graph: OnnxGraph; readonly rank: RankAnalysis },
    staged: { readonly graph: OnnxGraph; readonly rank: RankAnalysis },
    rewrites: ReadonlyMap<GraphNode, Rewrite>,
    readonly engine: CompiledEngine,
    private readonly wasm?: () => { kernels: Kernels; memory: WebAssembly.Memory; variant: WasmVariant },
    private readonly gpu?: GpuEngine,
  ) {
    if (engine === 'webgpu' && !gpu) throw new Error('import bug: a webgpu compiled graph without its engine');
    this.graph = staged.graph;
    this.rank = staged.rank;
    const { graph, rank } = staged;
    const lowered = new Map([...rewrites].filter(([, rw]) => lowersRewrite(rw)));
    this.staged = new StagedProgram(graph, rank, lowered);
    const needed = new Set<string>(this.staged.rewrites.flatMap(storedNames));
    for (const node of this.staged.candNodes) {
      const rw = lowered.get(node);
      if (rw && this.staged.rewrites.includes(rw)) continue;
      for (const i of node.inputs) if (rank.classes.get(i) === 'once') needed.add(i);
    }
    for (const o of graph.outputs) if (rank.classes.get(o) === 'once') needed.add(o);
    this.onceNeeded = [...needed];
    this.parts = new Set(this.staged.rewrites.flatMap((rw) => rw.parts.map((p) => p.name)));
    // Values computed from dims alone (Shape, then arithmetic on constants): known when a program compiles.
    const fromShapes = new Set<string>();
    for (const node of graph.nodes)
      if (node.op === 'Shape' || node.inputs.every((i) => i === '' || rank.classes.get(i) === 'const' || fromShapes.has(i))) for (const o of node.outputs) fromShapes.add(o);
    this.fromShapes = fromShapes;
    this.reset();
  }

  /** A fresh arena (and, on wasm, kernel instance): every cached program is dropped. */
  private reset(): void {
    if (this.engine === 'wasm') {
      const { kernels, memory, variant } = this.wasm!();
      this.store = new CompiledStore(new Arena(memory), wasmGemm(kernels), simdKernels(memory, variant));
    } else if (this.gpu) {
      this.gpu.ensure(0);
      this.store = new CompiledStore(new Arena(), gpuGemm(this.gpu), undefined, this.gpu);
    } else {
      this.store = new CompiledStore(new Arena(), jsGemm);
    }
    this.uploaded = 0;
    for (const m of Object.values(this.programs)) m.clear();
  }

  /** Whether this graph's WebGPU device is gone (webgpu). */
  get lostDevice(): boolean {
    return this.gpu?.runtime.lost !== undefined;
  }

  /** Arena elements already on the GPU (webgpu). */
  private uploaded = 0;

  private classOf(name: string) {
    return this.rank.classes.get(name) ?? 'const';
  }

  private program(stage: keyof CompiledGraph['programs'], key: string, build: (b: ProgramBuilder) => Omit<Program, 'steps'> & { readonly finish: readonly RTensor[] }): Program {
    const cache = this.programs[stage];
    const hit = cache.get(key);
    if (hit) {
      // Least recently used first: a hit moves to the end (unless it is there already, the common case).
      if (this.last[stage] !== key) {
        cache.delete(key);
        cache.set(key, hit);
        this.last[stage] = key;
      }
      return hit;
    }
    this.last[stage] = key;
    if (cache.size >= PROGRAMS_PER_STAGE) this.reset();
    const b = new ProgramBuilder(this.store);
    const built = build(b);
    const program: Program = { inputs: built.inputs, outputs: built.outputs, steps: b.finish(built.finish) };
    if (this.gpu) {
      // A larger arena than the GPU buffer holds: a new buffer, and every program (their bind groups name the old one) again.
      if (this.gpu.ensure(this.store.arena.used)) {
        this.reset();
        return this.program(stage, key, build);
      }
      this.gpu.upload(this.store.arena, this.uploaded, this.store.arena.used);
      this.uploaded = this.store.arena.used;
    }
    this.programs[stage].set(key, program);
    return program;
  }

  /** Lower nodes in order; MatMul/Gemm by a constant absorb a following bias Add and Relu/Sigmoid. */
  private lowerNodes(b: ProgramBuilder, nodes: readonly GraphNode[], read: (name: string, node: GraphNode) => CValue | undefined, values: Map<string, CValue>, keep: ReadonlySet<string>, rewriteOf: (node: GraphNode) => RewriteLowering | undefined): void {
    const uses = new Map<string, number>();
    for (const node of nodes) for (const i of node.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
    const users = new Map<string, GraphNode[]>();
    for (const node of nodes) for (const i of node.inputs) (users.get(i) ?? users.set(i, []).get(i)!).push(node);
    const internal = (name: string) => !keep.has(name) && !this.parts.has(name);
    const sole = (name: string) => (uses.get(name) === 1 && internal(name) ? users.get(name)![0] : undefined);
    const skip = new Set<GraphNode>();
    // Transposes of the last two axes read in place by the one MatMul after them (as its second operand).
    const transposed = new Map<string, string>();
    for (const node of nodes) {
      if (skip.has(node)) continue;
      if (node.op === 'Transpose' && !this.store.gpu) {
        const perm = node.attrs.get('perm') as number[] | undefined;
        const user = sole(node.outputs[0]!);
        const r = perm?.length ?? 0;
        const swapsLast = !!perm && r >= 2 && perm.every((p, i) => (i < r - 2 ? p === i : p === (i === r - 2 ? r - 1 : r - 2)));
        if (swapsLast && user?.op === 'MatMul' && user.inputs[1] === node.outputs[0] && user.inputs[0] !== node.outputs[0]) {
          transposed.set(node.outputs[0]!, node.inputs[0]!);
          continue;
        }
      }
      if (node.op === 'MatMul' && transposed.has(node.inputs[1]!)) {
        b.node = node;
        const [x, bt] = [read(node.inputs[0]!, node), read(transposed.get(node.inputs[1]!)!, node)];
        if (!x || !bt) throw new Error(`import bug: the operands of ${node.name} were not lowered`);
        const attention = fusedAttention(node, x, bt, { sole, users: (name) => (internal(name) ? (users.get(name) ?? []) : []), read }, b);
        if (attention) {
          for (const n of attention.absorbed) skip.add(n);
          values.set(attention.output, attention.value);
          continue;
        }
        values.set(node.outputs[0]!, lowerMatMulT(node, x, bt, b));
        continue;
      }
      const rewrite = rewriteOf(node);
      if (rewrite) {
        b.node = node;
        // A split layer's bias Add and activation after it (MatMul + Add + Relu exports): in its GEMM's epilogue.
        const after = rewrite.outDim !== undefined ? rewriteEpilogue(node, rewrite.outDim, sole, read) : undefined;
        for (const n of after?.absorbed ?? []) skip.add(n);
        values.set(after?.output ?? node.outputs[0]!, rewrite.lower(b, after?.epilogue));
        continue;
      }
      b.node = node;
      const ins = node.inputs.map((name) => (name === '' ? undefined : read(name, node)));
      const fused = node.op === 'ReduceMean' ? decomposedLayerNorm(node, ins, { sole, users: (name) => (internal(name) ? (users.get(name) ?? []) : []), read }, b) : this.fuse(node, ins, sole, read, b);
      if (fused) {
        for (const n of fused.absorbed) skip.add(n);
        values.set(fused.output, fused.value);
        continue;
      }
      const outs = lowerNode(node, ins, b);
      node.outputs.forEach((o, i) => outs[i] && o !== '' && values.set(o, outs[i]!));
    }
  }

  private fuse(node: GraphNode, ins: readonly (CValue | undefined)[], sole: (name: string) => GraphNode | undefined, ready: (name: string, node: GraphNode) => CValue | undefined, b: ProgramBuilder) {
    const w = ins[1]?.kind === 'known' ? ins[1].value : undefined;
    const x = ins[0];
    if (!w || w.shape.length !== 2 || x?.kind !== 'tensor') return undefined;
    if (node.op === 'MatMul' && x.shape[x.shape.length - 1] !== w.shape[0]) return undefined;
    if (node.op === 'Gemm' && (node.attrs.get('transA') || x.shape.length !== 2)) return undefined;
    const outDim = node.op === 'Gemm' && node.attrs.get('transB') ? w.shape[0]! : w.shape[1]!;
    const absorbed: GraphNode[] = [];
    let output = node.outputs[0]!;
    let bias: Float64Array | undefined;
    let add: RTensor | undefined;
    const outShape = node.op === 'Gemm' ? [x.shape[0]!, outDim] : [...x.shape.slice(0, -1), outDim];
    const rowShaped = (shape: readonly number[]) => shape[shape.length - 1] === outDim && size(shape) === outDim && shape.length <= x.shape.length;
    // Up to two Adds: a constant row (the bias) and a runtime tensor, a row or the output's own shape.
    for (let k = 0; k < 2; k++) {
      const addNode = sole(output);
      if (!addNode || addNode.op !== 'Add') break;
      const otherName = addNode.inputs[0] === output ? addNode.inputs[1]! : addNode.inputs[0]!;
      const other = ready(otherName, addNode);
      if (!bias && other?.kind === 'known' && other.value.dtype === 'float' && rowShaped(other.value.shape)) bias = other.value.data;
      else if (!add && other?.kind === 'tensor' && other.dtype === 'float' && (rowShaped(other.shape) || other.shape.join() === outShape.join()) && !(node.op === 'Gemm' && ins[2] && ins[2].kind !== 'known')) add = other;
      else break;
      absorbed.push(addNode);
      output = addNode.outputs[0]!;
    }
    const after = activationAfter(output, sole, absorbed);
    output = after.output;
    if (absorbed.length === 0) return undefined;
    const epi: Epilogue = { bias, add, act: after.act };
    const value = (node.op === 'Gemm' ? lowerGemm : lowerMatMul)(node, ins, b, epi)[0]!;
    return { absorbed, output, value };
  }

  // ----- the staged (rank-aware) plan ----------------------------------------------------------

  /** The context stage on one request's context feeds. */
  runContext(feeds: ReadonlyMap<string, Value>): CompiledContext {
    const program = this.contextProgram(feeds);
    this.execute(program, feeds);
    return this.contextOf(program);
  }

  /** The same on any engine (webgpu runs asynchronously). */
  async runContextAsync(feeds: ReadonlyMap<string, Value>): Promise<CompiledContext> {
    const program = this.contextProgram(feeds);
    await this.executeAsync(program, feeds);
    return this.contextOf(program);
  }

  private contextProgram(feeds: ReadonlyMap<string, Value>): Program {
    const key = shapesKey(feeds);
    return this.program('once', key, (b) => {
      const values = new Map<string, CValue>();
      const inputs = feedInputs(b, feeds);
      for (const { name, t } of inputs) values.set(name, t);
      const read = (name: string): CValue | undefined => {
        const v = values.get(name);
        if (v) return v;
        const folded = this.rank.folded.get(name);
        if (folded) return { kind: 'known', value: folded };
        // A Shape of a per-candidate value reads its dims at N = 1 (the probes' template).
        if (this.classOf(name) === 'cand') {
          const t = this.rank.templates.get(name)!;
          return { kind: 'known', value: { dtype: 'float', shape: t.at2.map((d, i) => d + (t.at3[i]! - d) * -1), data: new Float64Array(0) } };
        }
        return undefined;
      };
      this.lowerNodes(b, this.staged.onceNodes, read, values, new Set(this.onceNeeded), () => undefined);
      for (const rw of this.staged.rewrites) for (const [name, t] of lowerRewriteOnce(b, rw, read)) values.set(name, t);
      const outputs = this.onceNeeded.map((name) => {
        const v = values.get(name);
        if (!v) throw new Error(`import bug: once value ${name} was not lowered`);
        return { name, v };
      });
      return { inputs, outputs, finish: outputs.flatMap((o) => (o.v.kind === 'tensor' ? [o.v] : [])) };
    });
  }

  private contextOf(program: Program): CompiledContext {
    const values = new Map<string, StoredValue>();
    for (const { name, v } of program.outputs) values.set(name, v.kind === 'known' ? v.value : this.readTensor(v, this.fromShapes.has(name)));
    return this.contextFrom(values);
  }

  /**
   * A context of this compiled graph from the values of another's context stage (another thread's compiled
   * copy of the same graph and engine: CompiledContext.values, structured-cloned).
   */
  contextFrom(values: ReadonlyMap<string, StoredValue>): CompiledContext {
    for (const name of this.onceNeeded)
      if (!values.has(name)) throw new RankawareError('context', `the context values of this graph (${name} among them)`, 'values without it', 'invalid');
    const onceKey = [...values].map(([k, v]) => `${k}:${v.shape.join('x')}${compileTime(v) ? `=${v.data.join(',')}` : ''}`).join(';');
    return { compiled: this, values, key: onceKey };
  }

  /** Scores of n candidates (feeds [n, ...]) against a context from runContext: one array per graph output. */
  runCandidates(context: CompiledContext, feeds: ReadonlyMap<string, Value>, n: number): Float32Array[] {
    const program = this.candidateProgram(context, feeds, n);
    this.execute(program, feeds, context.values);
    return this.scores(program, n);
  }

  async runCandidatesAsync(context: CompiledContext, feeds: ReadonlyMap<string, Value>, n: number): Promise<Float32Array[]> {
    const program = this.candidateProgram(context, feeds, n);
    await this.executeAsync(program, feeds, context.values);
    return this.scores(program, n);
  }

  private candidateProgram(context: CompiledContext, feeds: ReadonlyMap<string, Value>, n: number): Program {
    if (context.compiled !== this) throw new RankawareError('context', 'a context from this compiled model', 'a context from another model', 'invalid');
    const key = `${n}|${context.key}|${shapesKey(feeds)}`;
    return this.program('cand', key, (b) => {
      const values = new Map<string, CValue>();
      const inputs = feedInputs(b, feeds);
      const once = new Map<string, CValue>();
      for (const [name, v] of context.values) {
        if (compileTime(v)) once.set(name, { kind: 'known', value: v });
        else {
          const t = b.input(v.dtype, v.shape);
          inputs.push({ name, t });
          once.set(name, t);
        }
      }
      for (const { name, t } of inputs) if (!once.has(name)) values.set(name, t);
      const materialized = new Map<string, RTensor>();
      const shapeOnly = (name: string, shape: readonly number[]) => {
        const s = [...shape];
        for (const axis of candidateAxes(this.rank.templates.get(name)!)) s[axis] = n;
        return s;
      };
      const read = (name: string, node?: GraphNode): CValue | undefined => {
        const v = values.get(name);
        if (v) return v;
        const folded = this.rank.folded.get(name);
        if (folded) return { kind: 'known', value: folded };
        const o = once.get(name);
        if (!o) return undefined;
        const shape = o.kind === 'known' ? o.value.shape : o.shape;
        if (node && node.op === 'Shape') return { kind: 'known', value: { dtype: 'float', shape: shapeOnly(name, shape), data: new Float64Array(0) } };
        if (o.kind === 'known' || (node && BROADCASTING_OPS.has(node.op))) return o;
        // MatMul broadcasts its batch axes: a once operand whose candidate axis is one of them is read as is.
        if (node && node.op === 'MatMul' && shape.length >= 3 && candidateAxes(this.rank.templates.get(name)!).every((a) => a < shape.length - 2)) return o;
        let m = materialized.get(name);
        if (!m) materialized.set(name, (m = materialize(b, o, shapeOnly(name, shape))));
        return m;
      };
      const rewrites = new Map(this.staged.rewrites.map((rw) => [rw.node, rw]));
      this.lowerNodes(b, this.staged.candNodes, read, values, new Set(this.graph.outputs), (node) => {
        const rw = rewrites.get(node);
        return rw ? { lower: (bb, epi) => lowerRewriteCand(bb, rw, read, (name) => once.get(name)!, n, epi), outDim: rw.kind === 'split-linear' ? rw.linear?.outDim : undefined } : undefined;
      });
      const outputs = this.graph.outputs.map((name) => {
        const out = read(name);
        if (!out) throw new Error(`import bug: the output ${name} was not lowered`);
        return { name, v: b.operand(out) };
      });
      return { inputs, outputs, finish: outputs.map((o) => o.v) };
    });
  }

  /** The graph as exported (context inputs at [1, ...], broadcast by the graph itself): one array per output. */
  runVanilla(feeds: ReadonlyMap<string, Value>, n: number): Float32Array[] {
    const program = this.vanillaProgram(feeds);
    this.execute(program, feeds);
    return this.scores(program, n);
  }

  async runVanillaAsync(feeds: ReadonlyMap<string, Value>, n: number): Promise<Float32Array[]> {
    const program = this.vanillaProgram(feeds);
    await this.executeAsync(program, feeds);
    return this.scores(program, n);
  }

  private vanillaProgram(feeds: ReadonlyMap<string, Value>): Program {
    const key = shapesKey(feeds);
    return this.program('vanilla', key, (b) => {
      const values = new Map<string, CValue>();
      const inputs = feedInputs(b, feeds);
      for (const { name, t } of inputs) values.set(name, t);
      const { graph, rank } = this.vanilla;
      const read = (name: string): CValue | undefined => {
        const v = values.get(name);
        if (v) return v;
        const c = rank.folded.get(name);
        return c ? { kind: 'known', value: c } : undefined;
      };
      const nodes = graph.nodes.filter((node) => !node.outputs.every((o) => rank.folded.has(o)));
      this.lowerNodes(b, nodes, read, values, new Set(graph.outputs), () => undefined);
      const outputs = graph.outputs.map((name) => ({ name, v: b.operand(read(name)!) }));
      return { inputs, outputs, finish: outputs.map((o) => o.v) };
    });
  }

  /** Write the inputs and run the steps, here (js, wasm). */
  private execute(program: Program, feeds: ReadonlyMap<string, Value>, once?: ReadonlyMap<string, StoredValue>): void {
    if (this.gpu) throw new RankawareError('engine', '"wasm" or "js" for a synchronous score (webgpu runs with scoreAsync)', '"webgpu"');
    this.write(program, feeds, once);
    const views = this.store.arena.current;
    for (const s of program.steps) s(views);
  }

  /** The same on any engine: on webgpu the inputs go up, the steps run as one pass, the outputs come back. */
  private async executeAsync(program: Program, feeds: ReadonlyMap<string, Value>, once?: ReadonlyMap<string, StoredValue>): Promise<void> {
    if (!this.gpu) return this.execute(program, feeds, once);
    this.write(program, feeds, once);
    const range = (t: RTensor) => [t.slot.at, t.slot.at + size(t.shape)] as const;
    await this.gpu.run(this.store.arena, program.inputs.map(({ t }) => range(t)), program.steps as unknown as (() => void)[], program.outputs.flatMap(({ v }) => (v.kind === 'tensor' ? [range(v)] : [])));
  }

  // ----- feeds and results -----------------------------------------------------------------------

  private write(program: Program, feeds: ReadonlyMap<string, Value>, once?: ReadonlyMap<string, StoredValue>): void {
    const views = this.store.arena.current;
    for (const { name, t } of program.inputs) {
      const v = feeds.get(name) ?? once?.get(name);
      if (!v) throw new Error(`import bug: no value for program input ${name}`);
      if (storage(t.dtype) === 'f32') views.f32.set(v.data, t.slot.at);
      else if (v.data instanceof Int32Array) views.i32.set(v.data, t.slot.at);
      else {
        for (let i = 0; i < v.data.length; i++) {
          const x = v.data[i]!;
          if (!(x >= -2147483648 && x <= 2147483647)) throw new RankawareError(`input "${name}"`, 'integers within int32 (what the compiled kernels index with)', show(x));
        }
        views.i32.set(v.data, t.slot.at);
      }
    }
  }

  /** A copy of a context stage's tensor; shape arithmetic as a Value (the candidate program folds it). */
  private readTensor(t: RTensor, fromShapes: boolean): StoredValue {
    const views = this.store.arena.current;
    const n = size(t.shape);
    const src = storage(t.dtype) === 'f32' ? views.f32 : views.i32;
    const data = src.slice(t.slot.at, t.slot.at + n);
    return fromShapes ? { dtype: t.dtype, shape: t.shape, data: Float64Array.from(data) } : { dtype: t.dtype, shape: t.shape, data };
  }

  private scores(program: Program, n: number): Float32Array[] {
    const f32 = this.store.arena.current.f32;
    return program.outputs.map(({ name, v }) => {
      const out = v as RTensor;
      if (size(out.shape) !== n) throw new Error(`import bug: ${size(out.shape)} values of output ${name} for ${n} candidates`);
      return f32.slice(out.slot.at, out.slot.at + n);
    });
  }
}

/** How lowerNodes lowers a rewrite's node; `outDim`: a split layer's width, whose bias and activation after it may join its epilogue. */
interface RewriteLowering {
  readonly lower: (b: ProgramBuilder, epilogue?: Pick<Epilogue, 'bias' | 'act'>) => CValue;
  readonly outDim?: number;
}

/** A constant-row Add (the bias) and then an activation, each the sole reader of the value before it. */
function rewriteEpilogue(node: GraphNode, outDim: number, sole: (name: string) => GraphNode | undefined, read: (name: string, node: GraphNode) => CValue | undefined) {
  const absorbed: GraphNode[] = [];
  let output = node.outputs[0]!;
  let bias: Float64Array | undefined;
  const addNode = sole(output);
  if (addNode?.op === 'Add') {
    const other = read(addNode.inputs[0] === output ? addNode.inputs[1]! : addNode.inputs[0]!, addNode);
    // Only a row that does not add axes: [outDim] or [1, outDim].
    if (other?.kind === 'known' && other.value.dtype === 'float' && other.value.data.length === outDim && other.value.shape[other.value.shape.length - 1] === outDim && other.value.shape.length <= 2) {
      bias = other.value.data;
      absorbed.push(addNode);
      output = addNode.outputs[0]!;
    }
  }
  const after = activationAfter(output, sole, absorbed);
  return absorbed.length ? { absorbed, output: after.output, epilogue: { bias, act: after.act } } : undefined;
}

/** The activation that is the sole reader of `output` (appended to `absorbed`), or none. */
function activationAfter(output: string, sole: (name: string) => GraphNode | undefined, absorbed: GraphNode[]): { act: Activation; output: string } {
  const actNode = sole(output);
  if (!actNode || !ACTIVATIONS[actNode.op]) return { act: 'none', output };
  absorbed.push(actNode);
  return { act: ACTIVATIONS[actNode.op]!, output: actNode.outputs[0]! };
}
