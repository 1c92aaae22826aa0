/**
 * Building one compiled program (a stage of an imported graph at fixed shapes): values are either known
 * at compile time (weights, shape arithmetic: the interpreter folds them) or runtime tensors in arena
 * slots; each lowered node appends kernel steps that read and write slots. Steps are made when the
 * program is finished, after the slots are packed, so that they capture plain offsets.
 */
import type { Value, DType } from '../interpreter/tensor.js';
import { size } from '../interpreter/tensor.js';
import type { Arena, ArenaViews, Lifetime, Slot } from './arena.js';
import { packSlots } from './arena.js';
import type { GemmEngine } from './gemm.js';
import type { SimdKernels } from './simd-kernels.js';
import type { GpuEngine } from './gpu.js';
import type { GraphNode } from '../reader/onnx-graph.js';
import { RankawareError } from '../../errors.js';
import { nodeWhere } from '../interpreter/kernel-parts.js';

/** A value computed at run time: contiguous, row-major, float32 (float) or int32 (int, bool) elements. */
export interface RTensor {
  readonly kind: 'tensor';
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly slot: Slot;
}

/** A value known when the program is compiled. */
export interface Known {
  readonly kind: 'known';
  readonly value: Value;
}

export type CValue = RTensor | Known;

export type Step = (v: ArenaViews) => void;

/** Which view of the arena holds a dtype's elements. */
export const storage = (dtype: DType): 'f32' | 'i32' => (dtype === 'float' ? 'f32' : 'i32');

/** What every program of one compiled model shares: the arena, the GEMM engine and the placed constants. */
export class CompiledStore {
  private readonly constants = new Map<Value, Map<DType, Slot>>();
  private readonly weights = new WeakMap<object, Map<string, number>>();

  /**
   * @param simd the SIMD elementwise kernels (the wasm engine), or none (js loops)
   * @param gpu the WebGPU engine: every step is a dispatch of it (the webgpu engine)
   */
  constructor(
    readonly arena: Arena,
    readonly gemm: GemmEngine,
    readonly simd?: SimdKernels,
    readonly gpu?: GpuEngine,
  ) {}

  /** An int32 table placed once (a broadcast plan's row offsets, for a SIMD kernel): its element offset. */
  ints(data: Int32Array): number {
    const at = this.arena.alloc(data.length);
    this.arena.current.i32.set(data, at);
    return at;
  }

  /** A known value placed in the arena once (as `dtype`'s storage). */
  constant(v: Value, dtype: DType = v.dtype): Slot {
    let byType = this.constants.get(v);
    if (!byType) this.constants.set(v, (byType = new Map()));
    let slot = byType.get(dtype);
    if (!slot) {
      slot = { elements: v.data.length, at: this.arena.alloc(v.data.length) };
      const views = this.arena.current;
      if (storage(dtype) === 'f32') views.f32.set(v.data, slot.at);
      else views.i32.set(v.data, slot.at);
      byType.set(dtype, slot);
    }
    return slot;
  }

  /** A GEMM weight [outDim, inDim] placed (packed by the engine) once per source object and tag. */
  weight(source: object, tag: string, make: () => Float32Array, inDim: number, outDim: number): number {
    let byTag = this.weights.get(source);
    if (!byTag) this.weights.set(source, (byTag = new Map()));
    let at = byTag.get(tag);
    if (at === undefined) byTag.set(tag, (at = this.gemm.place(this.arena, make(), inDim, outDim)));
    return at;
  }
}

/** A tensor that repeats a smaller one (a context value broadcast over the candidates): element j is source[map[j]]. */
export interface Broadcast {
  readonly source: RTensor;
  readonly map: ArrayLike<number>;
}

/** X X^T of stacked rows (the pair-products rewrite), as its step computes it: for a Gather of some products. */
export interface PairSource {
  readonly reads: readonly RTensor[];
  /** Row i of batch t: a byte base and a per-batch byte stride (known once the slots are placed). */
  readonly rows: () => readonly (readonly [number, number])[];
  /** A row's index among the context rows, or -1: two context rows' product is gram[si * kc + sj]. */
  readonly slots: Int32Array;
  readonly gram: RTensor | undefined;
  readonly kc: number;
  readonly batches: number;
  readonly f: number;
  readonly d: number;
}

export class ProgramBuilder {
  private readonly makers: (() => Step)[] = [];
  private readonly lives = new Map<Slot, Lifetime>();
  /** Per step: the slots it writes, and whether it may be dropped when nothing reads them. */
  private readonly writes: { readonly slots: readonly Slot[]; readonly elidable: boolean }[] = [];
  /**
   * Tensors that only repeat another's elements, by slot: a copy (movement) step reads the source in their
   * place, so their own copy is dropped when nothing else reads them.
   */
  readonly broadcasts = new Map<Slot, Broadcast>();
  /** X X^T tensors by slot: a Gather of some of their products computes only those (./pair-products.ts). */
  readonly pairs = new Map<Slot, PairSource>();
  /** The node being lowered (for errors). */
  node: GraphNode | undefined;

  constructor(readonly store: CompiledStore) {}

  /** On the webgpu engine a step must be a dispatch (`gpu`): a js loop there is refused naming the node. */
  private checkEngine(gpu: boolean): void {
    if (this.store.gpu && !gpu)
      throw new RankawareError(this.node ? nodeWhere(this.node) : 'a compiled graph', 'an op with a WebGPU kernel (score it with --backend wasm or js)', 'this node (or this configuration of it) on webgpu', 'unknown');
  }

  /** A fresh runtime tensor; its slot lives from the step that first writes it. */
  tensor(dtype: DType, shape: readonly number[]): RTensor {
    return { kind: 'tensor', dtype, shape: [...shape], slot: { elements: size(shape), at: -1 } };
  }

  /** The same elements under another shape (Reshape, Flatten, Squeeze, Unsqueeze): no copy. */
  view(t: RTensor, shape: readonly number[]): RTensor {
    return { kind: 'tensor', dtype: t.dtype, shape: [...shape], slot: t.slot };
  }

  /** A program input: written before the first step. */
  input(dtype: DType, shape: readonly number[]): RTensor {
    const t = this.tensor(dtype, shape);
    this.lives.set(t.slot, { slot: t.slot, from: -1, to: -1 });
    return t;
  }

  /** A runtime tensor for any value: a known one is placed as a constant. */
  operand(v: CValue, dtype?: DType): RTensor {
    if (v.kind === 'tensor') return v;
    const d = dtype ?? v.value.dtype;
    return { kind: 'tensor', dtype: d, shape: v.value.shape, slot: this.store.constant(v.value, d) };
  }

  /**
   * Append a step that reads `reads` and writes `writes`; `make` runs once the slots have offsets. An
   * `elidable` step (a copy with no other effect) is dropped when no later step or output reads what it writes.
   */
  emit(reads: readonly RTensor[], writes: readonly RTensor[], make: () => Step, gpu = false, elidable = false): void {
    this.checkEngine(gpu);
    const at = this.makers.length;
    this.makers.push(make);
    this.writes.push({ slots: writes.map((w) => w.slot), elidable });
    for (const w of writes) if (!this.lives.has(w.slot) && w.slot.at < 0) this.lives.set(w.slot, { slot: w.slot, from: at, to: at });
    for (const r of reads) {
      const l = this.lives.get(r.slot);
      if (l) l.to = Math.max(l.to, at);
    }
  }

  /** Pack the slots (outputs live to the end), place the region, and make the steps. */
  finish(outputs: readonly RTensor[]): Step[] {
    const end = this.makers.length;
    for (const o of outputs) {
      const l = this.lives.get(o.slot);
      if (l) l.to = end;
    }
    // Elidable steps whose writes nobody reads are dropped, with their slots.
    const dead = new Set<number>();
    for (let at = end - 1; at >= 0; at--) {
      const w = this.writes[at]!;
      if (!w.elidable || !w.slots.every((s) => this.lives.get(s)?.from === at && this.lives.get(s)!.to === at)) continue;
      dead.add(at);
      for (const s of w.slots) this.lives.delete(s);
    }
    const lives = [...this.lives.values()];
    const region = packSlots(lives, end);
    const base = this.store.arena.alloc(Math.max(region, 1));
    for (const l of lives) l.slot.at += base;
    return this.makers.flatMap((m, at) => (dead.has(at) ? [] : [m()]));
  }
}
