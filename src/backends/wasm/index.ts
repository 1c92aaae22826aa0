/**
 * The AssemblyScript SIMD backend. A plan compiles to a list of kernel calls on fixed offsets of one
 * linear memory: weights placed (and GEMM-packed) once at load as one block (the weight image), ctx
 * buffers once per compiled plan, candidate buffers for one tile of `tileRows` candidates, input scratch
 * grown only when a request is larger than any before. The candidate stage runs tile by tile; nothing is
 * allocated per tile.
 *
 * Threads share weights through one shared memory (createSharedWasm): the first compiled plan places the
 * weight image, every other one (on any thread) is compiled with that image and allocates only its own
 * buffers, from the allocator that lives in the shared memory.
 */
import { RankawareError } from '../../errors.js';
import type { Inputs } from '../../model/request.js';
import type { Tensor } from '../../model/safetensors.js';
import type { Op, Plan, Slice } from '../../plan/ir.js';
import { byKind, opDef } from '../../plan/ops.js';
import type { Backend, CompiledPlan, ContextPayload, ContextState } from '../backend.js';
import { LinearMemory } from './memory.js';
import type { LinearMemoryOptions } from './memory.js';
import type { WasmVariant } from './module.js';
import { call, linearKernel, STEPS } from './steps.js';
import type { DenseSlot, InputSlot, Kernels, Step, StepEnv } from './steps.js';

export type { Kernels } from './steps.js';

export interface WasmOptions {
  /** Candidates per tile (default: sized so a tile's buffers stay around 1 MB, the L2 share of a core). */
  readonly tileRows?: number;
  /** Force a variant (tests); default: relaxed SIMD when the engine has it. */
  readonly variant?: WasmVariant;
}

interface Instance {
  readonly kernels: Kernels;
  readonly mem: LinearMemory;
  readonly variant: WasmVariant;
}

/** A fresh instance of the compiled kernel module, on its own memory unless one is given. */
function instantiate(module: WebAssembly.Module, variant: WasmVariant, memory = new WebAssembly.Memory({ initial: 16 }), options: LinearMemoryOptions = {}): Instance {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('wasm kernel abort');
      },
    },
  });
  return { kernels: instance.exports as unknown as Kernels, mem: new LinearMemory(memory, options), variant };
}

/**
 * Where a plan's weights lie in linear memory, as plain data (structured-cloneable, so it can be posted to
 * a worker along with the shared memory). Offsets are bytes.
 */
export interface WeightImageRef {
  /** Weights placed as they are: embedding tables and biases. */
  readonly raw: readonly (readonly [name: string, offset: number])[];
  /** Linear weights, packed for the GEMM. */
  readonly packed: readonly (readonly [name: string, offset: number])[];
  /** The byte range [start, end) that holds all of them; nothing writes there after placement. */
  readonly start: number;
  readonly end: number;
}

/** The weights the plan's ops read: raw (tables, biases) and packed for the GEMM (linear weights). */
function weightUses(plan: Plan): { raw: Set<string>; packed: Set<string> } {
  const raw = new Set<string>();
  const packed = new Set<string>();
  for (const { op } of [...plan.contextOps, ...plan.candidateOps]) for (const w of opDef(op).weights(op)) (w.use === 'gemm' ? packed : raw).add(w.name);
  return { raw, packed };
}

/** Whole 16-byte units, so that every weight in the block starts aligned for v128 loads. */
const align4 = (floats: number): number => (floats + 3) & ~3;

/** The placed weights of a plan, by name. */
class WeightImage {
  private constructor(
    private readonly raw: ReadonlyMap<string, number>,
    private readonly packed: ReadonlyMap<string, number>,
    readonly start: number,
    readonly end: number,
  ) {}

  /**
   * Place every weight the plan reads as one block: raw weights as they are, linear weights packed. A
   * linear weight goes through one scratch area (the size of the largest) on its way to being packed, so
   * its unpacked copy costs no memory of its own.
   */
  static place(plan: Plan, mem: LinearMemory, k: Kernels): WeightImage {
    const uses = weightUses(plan);
    const tensor = (name: string): Tensor => {
      const t = plan.weights.get(name);
      if (!t) throw new RankawareError(`weight "${name}"`, 'a weight of the plan', 'nothing', 'weights');
      const size = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== size)
        throw new RankawareError(`weight "${name}"`, `${size} floats (a plan from planSkeleton is compiled with the image of its weights)`, `${t.data.length}`, 'weights');
      return t;
    };
    const dims = (name: string): [outDim: number, inDim: number] => tensor(name).shape as [number, number];
    // Lay the block out (float offsets from its start), then allocate it at once.
    let floats = 0;
    const layout = (names: Set<string>, size: (name: string) => number): [string, number][] =>
      [...names].map((name) => {
        const at = floats;
        floats += align4(size(name));
        return [name, at];
      });
    const raw = layout(uses.raw, (name) => tensor(name).data.length);
    const packed = layout(uses.packed, (name) => call(k, 'packedLength', { inDim: dims(name)[1], outDim: dims(name)[0] }));
    const scratch = Math.max(0, ...[...uses.packed].map((name) => align4(tensor(name).data.length)));
    const start = mem.alloc(floats + scratch);
    const scratchAt = start + floats * 4;
    const rawAt = new Map(raw.map(([name, at]) => [name, start + at * 4]));
    const packedAt = new Map(packed.map(([name, at]) => [name, start + at * 4]));
    for (const [name, at] of rawAt) mem.writeF32(at, tensor(name).data);
    for (const [name, at] of packedAt) {
      const [outDim, inDim] = dims(name);
      mem.writeF32(scratchAt, tensor(name).data);
      call(k, 'packWeight', { src: scratchAt, inDim, outDim, dst: at });
    }
    return new WeightImage(rawAt, packedAt, start, scratchAt + scratch * 4);
  }

  static from(ref: WeightImageRef): WeightImage {
    return new WeightImage(new Map(ref.raw), new Map(ref.packed), ref.start, ref.end);
  }

  rawAt(name: string): number {
    return this.find(this.raw, name, 'raw');
  }

  packedAt(name: string): number {
    return this.find(this.packed, name, 'packed');
  }

  private find(map: ReadonlyMap<string, number>, name: string, kind: string): number {
    const at = map.get(name);
    if (at === undefined) throw new RankawareError(`weight "${name}"`, `a ${kind} weight in the weight image (an image of this plan)`, 'nothing', 'weights');
    return at;
  }

  ref(): WeightImageRef {
    return { raw: [...this.raw], packed: [...this.packed], start: this.start, end: this.end };
  }
}

interface WasmContext extends ContextState {
  readonly generation: number;
  readonly snapshot: Float32Array;
}

export class WasmCompiledPlan implements CompiledPlan {
  private readonly k: Kernels;
  private readonly mem: LinearMemory;
  private readonly weights: WeightImage;
  private readonly ptr: number[] = [];
  private readonly stride: number[] = [];
  private readonly sparseSlots = new Map<number, InputSlot>();
  private readonly denseSlots = new Map<number, DenseSlot>();
  private readonly env: StepEnv;
  private readonly contextSteps: Step[];
  private readonly candidateSteps: Step[];
  private readonly ctxStart: number;
  private readonly ctxFloats: number;
  private current = -1;
  private static generations = 0;
  readonly tileRows: number;
  /** Bytes this plan allocated beside its weights (buffers, op descriptors; input slots grow later). */
  readonly scratchBytes: number;
  /**
   * Output columns of the context stage's last op when it is a one-group linear layer (the ctx part of the
   * first MLP layer in every architecture: a GEMV over the largest weight), which threads can split by
   * columns; 0 when there is none.
   */
  readonly contextSplitWidth: number = 0;
  /** Bytes of that layer's weight (what a split divides). */
  readonly contextSplitBytes: number = 0;
  private contextColumns_?: (lo: number, hi: number) => void;
  /** Where the last context layer writes its output. */
  private contextSplitOut = 0;

  /** With `image`, the weights are already in this instance's (shared) memory: nothing is placed. */
  constructor(
    readonly plan: Plan,
    instance: Instance,
    options: WasmOptions,
    image?: WeightImageRef,
  ) {
    this.k = instance.kernels;
    this.mem = instance.mem;
    this.weights = image ? WeightImage.from(image) : WeightImage.place(plan, this.mem, this.k);
    const scratchStart = this.mem.used;
    const candWidth = plan.buffers.filter((b) => b.rank === 'cand').reduce((a, b) => a + b.width, 0);
    this.tileRows = options.tileRows ?? Math.max(8, Math.min(256, Math.floor(262144 / Math.max(1, candWidth) / 8) * 8));
    // ctx buffers are one allocation, so that a context state is one snapshot (and other threads'
    // allocations on a shared memory cannot land between them).
    const ctx = plan.buffers.filter((b) => b.rank === 'ctx');
    this.ctxFloats = ctx.reduce((n, b) => n + align4(b.width + 4), 0);
    this.ctxStart = this.mem.alloc(this.ctxFloats);
    let at = this.ctxStart;
    for (const b of ctx) {
      this.ptr[b.id] = at;
      this.stride[b.id] = 0;
      at += align4(b.width + 4) * 4;
    }
    for (const b of plan.buffers) {
      if (b.rank !== 'cand') continue;
      this.ptr[b.id] = this.mem.alloc(b.width * this.tileRows + 4);
      this.stride[b.id] = b.width;
    }
    this.env = {
      k: this.k,
      mem: this.mem,
      plan,
      at: (s) => this.at(s),
      strideOf: (s) => this.strideOf(s),
      ints: (values) => this.ints(values),
      rawAt: (name) => this.weights.rawAt(name),
      packedAt: (name) => this.weights.packedAt(name),
      sparseSlot: (field) => getOrSet(this.sparseSlots, field, () => ({ offsets: 0, ids: 0, idCapacity: 0, rowCapacity: 0 })),
      denseSlot: (field) => getOrSet(this.denseSlots, field, () => ({ at: 0, capacity: 0 })),
    };
    this.contextSteps = plan.contextOps.map(({ op }) => this.compileOp(op));
    this.candidateSteps = plan.candidateOps.map(({ op }) => this.compileOp(op));
    this.scratchBytes = this.mem.used - scratchStart;
    const last = plan.contextOps.at(-1)?.op;
    if (last?.kind === 'linear' && last.groups === 1) {
      const [outDim, inDim] = plan.weights.get(last.weight)!.shape as [number, number];
      this.contextSplitWidth = outDim;
      this.contextSplitBytes = outDim * inDim * 4;
      this.contextSplitOut = this.at(last.out);
      const gemm = linearKernel(this.env, last);
      this.contextColumns_ = (lo, hi) => gemm(1, lo, hi, 0);
    }
  }

  private at(s: Slice): number {
    return this.ptr[s.buf]! + s.col * 4;
  }
  private strideOf(s: Slice): number {
    return this.stride[s.buf]!;
  }

  private ints(values: ArrayLike<number>): number {
    const at = this.mem.alloc(values.length);
    this.mem.writeI32(at, values);
    return at;
  }

  private compileOp(op: Op): Step {
    return byKind<(e: StepEnv, op: Op) => Step>(STEPS, op)(this.env, op);
  }

  /** Copy rows [start, end) of the inputs into the scratch slots (growing them when too small). */
  private writeInputs(inputs: Inputs, start: number, end: number): void {
    const rows = end - start;
    for (const [field, slot] of this.sparseSlots) {
      const s = inputs.sparse.get(field);
      if (!s) continue;
      const base = s.offsets[start]!;
      const count = s.offsets[end]! - base;
      if (rows + 1 > slot.rowCapacity) {
        slot.rowCapacity = Math.max(rows + 1, this.tileRows + 1);
        slot.offsets = this.mem.alloc(slot.rowCapacity);
      }
      if (count > slot.idCapacity) {
        slot.idCapacity = Math.max(count, 2 * slot.idCapacity, 64);
        slot.ids = this.mem.alloc(slot.idCapacity);
      }
      const i32 = this.mem.i32;
      const o = slot.offsets >>> 2;
      for (let r = 0; r <= rows; r++) i32[o + r] = s.offsets[start + r]! - base;
      i32.set(s.ids.subarray(base, base + count), slot.ids >>> 2);
    }
    for (const [field, slot] of this.denseSlots) {
      const d = inputs.dense.get(field);
      if (!d) continue;
      const dim = d.length / inputs.rows;
      if (rows * dim > slot.capacity) {
        slot.capacity = Math.max(rows, this.tileRows) * dim;
        slot.at = this.mem.alloc(slot.capacity);
      }
      this.mem.f32.set(d.subarray(start * dim, end * dim), slot.at >>> 2);
    }
  }

  runContext(inputs: Inputs): ContextState {
    this.writeInputs(inputs, 0, 1);
    for (const step of this.contextSteps) step(1);
    const generation = ++WasmCompiledPlan.generations;
    this.current = generation;
    const snapshot = this.mem.f32.slice(this.ctxStart >>> 2, (this.ctxStart >>> 2) + this.ctxFloats);
    return { backend: 'wasm', generation, snapshot } as WasmContext;
  }

  /**
   * A context stage split by threads, 1: every context op but the last (cheap: gathers, context pairs).
   * Returns the ctx buffers as they stand, the input of the last layer included: what each thread needs
   * for its share of that layer's columns (one array, so it crosses threads as one copy).
   */
  beginContext(inputs: Inputs): Float32Array {
    this.checkSplit(0, this.contextSplitWidth);
    this.writeInputs(inputs, 0, 1);
    for (let i = 0; i < this.contextSteps.length - 1; i++) this.contextSteps[i]!(1);
    // The ctx buffers now hold part of a context: the next tile puts its own context's snapshot back.
    this.current = -1;
    return this.mem.f32.slice(this.ctxStart >>> 2, (this.ctxStart >>> 2) + this.ctxFloats);
  }

  /**
   * 2: columns [lo, hi) of the last layer (lo a multiple of 16; see contextSplitWidth), on the ctx buffers
   * of `begun` (beginContext's result on any thread), or on this plan's own when it has just run
   * beginContext and nothing since.
   */
  contextColumns(begun: Float32Array | undefined, lo: number, hi: number): Float32Array {
    this.checkSplit(lo, hi);
    if (begun) {
      if (begun.length !== this.ctxFloats) throw new RankawareError('context columns', `a begun context of ${this.ctxFloats} floats`, `${begun.length}`, 'invalid');
      this.mem.f32.set(begun, this.ctxStart >>> 2);
    }
    this.contextColumns_!(lo, hi);
    this.current = -1;
    const at = this.contextSplitOut >>> 2;
    return this.mem.f32.slice(at + lo, at + hi);
  }

  /** 3: the context state: beginContext's snapshot with every share of the last layer's columns in place. */
  finishContext(begun: Float32Array, shares: readonly { readonly lo: number; readonly values: Float32Array }[]): ContextState {
    const snapshot = begun.slice();
    const base = (this.contextSplitOut - this.ctxStart) >>> 2;
    for (const share of shares) snapshot.set(share.values, base + share.lo);
    return { backend: 'wasm', generation: ++WasmCompiledPlan.generations, snapshot } as WasmContext;
  }

  private checkSplit(lo: number, hi: number): void {
    if (!this.contextColumns_ || lo < 0 || hi > this.contextSplitWidth || lo >= hi || lo % 16 !== 0 || (hi % 16 !== 0 && hi !== this.contextSplitWidth))
      throw new RankawareError('context columns', `[lo, hi) within [0, ${this.contextSplitWidth}), lo a multiple of 16`, `[${lo}, ${hi})`, 'invalid');
  }

  exportContext(state: ContextState): ContextPayload {
    return { backend: 'wasm', arrays: [(state as WasmContext).snapshot.slice()] };
  }

  importContext(payload: ContextPayload): ContextState {
    const snapshot = payload.arrays[0];
    if (payload.backend !== 'wasm' || payload.arrays.length !== 1 || !(snapshot instanceof Float32Array) || snapshot.length !== this.ctxFloats)
      throw new RankawareError('context payload', `a wasm context of this plan (one Float32Array of ${this.ctxFloats})`, describePayload(payload));
    // A fresh generation: the first runCandidates on it puts the snapshot into this plan's ctx buffers.
    return { backend: 'wasm', generation: ++WasmCompiledPlan.generations, snapshot } as WasmContext;
  }

  runCandidates(context: ContextState, inputs: Inputs): Float32Array {
    const ctx = context as WasmContext;
    // Another request's context stage ran since: put this request's ctx buffers back.
    if (this.current !== ctx.generation) {
      this.mem.f32.set(ctx.snapshot, this.ctxStart >>> 2);
      this.current = ctx.generation;
    }
    const scores = new Float32Array(inputs.rows);
    const out = this.at(this.plan.output);
    const os = this.strideOf(this.plan.output);
    for (let start = 0; start < inputs.rows; start += this.tileRows) {
      const end = Math.min(inputs.rows, start + this.tileRows);
      this.writeInputs(inputs, start, end);
      for (const step of this.candidateSteps) step(end - start);
      const f32 = this.mem.f32;
      for (let r = 0; r < end - start; r++) scores[start + r] = f32[(out >>> 2) + r * os]!;
    }
    return scores;
  }

  /** Bytes of linear memory in use (weights, buffers, scratch). */
  get memoryBytes(): number {
    return this.mem.memory.buffer.byteLength;
  }

  /** Bytes allocated in the linear memory so far (on a shared memory: by every plan on every thread). */
  get allocatedBytes(): number {
    return this.mem.used;
  }

  /** Reserve a region of this plan's memory (a worker slot's arena on a shared memory); its byte offset. */
  reserve(bytes: number): number {
    return this.mem.alloc(Math.ceil(bytes / 4));
  }

  /** Where this plan's weights lie, for compiling the same plan on the same shared memory elsewhere. */
  weightImage(): WeightImageRef {
    return this.weights.ref();
  }
}

function getOrSet<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

/** A payload as an error message shows it. */
function describePayload(payload: ContextPayload): string {
  const arrays = payload.arrays.map((a) => (a ? `${a.constructor.name}(${a.length})` : 'null'));
  return `a ${payload.backend} context of [${arrays.join(', ')}]`;
}

export interface WasmBackend extends Backend {
  readonly variant: WasmVariant;
  /** The compiled kernel module (postable to workers). */
  readonly module: WebAssembly.Module;
}

/** Compile a plan on its own memory with an already compiled kernel module (a worker gets one posted). */
export function compileWithModule(plan: Plan, module: WebAssembly.Module, variant: WasmVariant, options: WasmOptions = {}): WasmCompiledPlan {
  return new WasmCompiledPlan(plan, instantiate(module, variant), options);
}

/**
 * The kernel module that imports a shared memory, and that memory: everything a worker needs to compile
 * plans on the weights placed by another thread. Both fields are structured-cloneable (postMessage,
 * workerData); a posted memory is the same memory, not a copy.
 */
export interface SharedWasm {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly variant: WasmVariant;
}

/**
 * Compile a plan on a shared memory. The first compiled plan of a plan places its weights there; pass its
 * `weightImage()` as `image` to compile the same plan anywhere else on that memory (another thread, or
 * the same one) without placing anything: such a plan may come from planSkeleton. `attach: true` says the
 * memory was made by another thread, and refuses one whose allocator was never initialized; the
 * allocator is never reset either way.
 */
export function compileOnShared(plan: Plan, shared: SharedWasm, options: WasmOptions & { image?: WeightImageRef; attach?: boolean; arena?: LinearMemoryOptions['arena'] } = {}): WasmCompiledPlan {
  if (options.variant && options.variant !== shared.variant)
    throw new RankawareError('options.variant', `the shared module's variant ${JSON.stringify(shared.variant)}`, JSON.stringify(options.variant));
  const instance = instantiate(shared.module, shared.variant, shared.memory, { attach: options.attach ?? false, arena: options.arena });
  return new WasmCompiledPlan(plan, instance, options, options.image);
}

/** The plan with every weight's data replaced by an empty array (shapes kept): what a worker needs next to a weight image. */
export function planSkeleton(plan: Plan): Plan {
  const weights = new Map<string, Tensor>();
  for (const [name, t] of plan.weights) weights.set(name, { shape: [...t.shape], data: new Float32Array(0) });
  return { ...plan, weights };
}
