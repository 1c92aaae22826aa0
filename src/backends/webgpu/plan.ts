/**
 * A plan compiled for WebGPU. Like the WASM backend, every activation lives in one storage buffer, the
 * arena: the ctx section (each ctx buffer one row, read by every candidate with stride 0) and the buffers
 * of one candidate tile. At load: the weights are uploaded once (linear weights transposed and padded for
 * the GEMM's vec4 loads; anything larger than maxStorageBufferBindingSize split into chunks), every op's
 * static parameters go into one buffer, and every pipeline is created asynchronously. Per request: the
 * context stage runs once and its section is kept as a snapshot (a GPU-side copy, restored when another
 * request ran in between); candidates run tile by tile, each tile's score column is compacted and copied
 * to a staging buffer, and only the scores are read back, once per request.
 */
import { RankawareError } from '../../errors.js';
import type { Inputs } from '../../model/request.js';
import type { Tensor } from '../../model/safetensors.js';
import type { Op, Plan, Slice } from '../../plan/ir.js';
import { byKind } from '../../plan/ops.js';
import type { AsyncCompiledPlan, ContextPayload, ContextState } from '../backend.js';
import { DeviceLostError } from './device.js';
import type { GpuRuntime } from './device.js';
import { pipelineCache } from './pipelines.js';
import { keyOf } from './pipelines.js';
import { copySpec, SPECS } from './specs.js';
import type { DispatchSpec, SpecEnv } from './specs.js';

export interface GpuPlanOptions {
  /** Candidates per tile (default: as many as keep the arena near 64 MiB, within the binding limit). */
  readonly tileRows?: number;
  /**
   * The largest weight chunk (default: the device's maxStorageBufferBindingSize): weights and tables
   * beyond it are split. Tests lower it to make them split on small models.
   */
  readonly weightChunkBytes?: number;
}

const ARENA_TARGET_BYTES = 64 * 1024 * 1024;

interface Chunk {
  readonly buffer: GPUBuffer;
  /** First unit (linear) or row (table) of the chunk, and how many. */
  readonly start: number;
  readonly count: number;
}

/** One kernel launch of the plan, with everything bound but the row count. */
interface Dispatch {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly stage: 'ctx' | 'cand';
  readonly a: GPUBuffer | undefined;
  readonly b: GPUBuffer | undefined;
  readonly paramsAt: number;
  readonly paramsBytes: number;
  readonly grid: (rows: number) => [number, number, number];
  bindGroup: GPUBindGroup | undefined;
}

interface GpuContext extends ContextState {
  readonly owner: GpuCompiledPlan;
  readonly generation: number;
  snapshot: GPUBuffer | undefined;
  /** GPU errors of the context stage, checked with the first candidates scored on it. */
  readonly errors: Promise<GPUError | null>;
}

/** What the plan put on the device, and how long it took (the cold start). */
export interface GpuPlanStats {
  readonly pipelines: number;
  readonly pipelinesMs: number;
  readonly uploadMs: number;
  readonly weightBytes: number;
  readonly arenaBytes: number;
  readonly tileRows: number;
  /** Weights (linear weights and tables) that were split into chunks to fit maxBindingBytes. */
  readonly splitWeights: number;
}

let generations = 0;

export class GpuCompiledPlan implements AsyncCompiledPlan {
  readonly tileRows: number;
  private readonly device: GPUDevice;
  private readonly maxBinding: number;
  private readonly weightChunk: number;
  private readonly base: number[] = [];
  private readonly stride: number[] = [];
  private readonly ctxFloats: number;
  private readonly scoresAt: number;
  private readonly arena: GPUBuffer;
  private readonly dummy: GPUBuffer;
  private readonly ctxRuntime: GPUBuffer;
  private readonly candRuntime: GPUBuffer;
  private inputs: GPUBuffer;
  private params: GPUBuffer | undefined;
  private readonly specEnv: SpecEnv;
  private readonly slots = new Map<number, number>();
  private readonly chunks = new Map<string, Chunk[]>();
  private readonly biases = new Map<string, GPUBuffer>();
  private readonly ctxDispatches: Dispatch[] = [];
  private readonly candDispatches: Dispatch[] = [];
  private readonly freeSnapshots: GPUBuffer[] = [];
  private readonly freeStaging = new Map<number, GPUBuffer[]>();
  private current = -1;
  /** Tiles the last request was cut into. */
  lastTiles = 0;
  private weightBytes = 0;
  private splitWeights = 0;
  private timing = { pipelinesMs: 0, uploadMs: 0 };

  private constructor(
    readonly plan: Plan,
    readonly runtime: GpuRuntime,
    options: GpuPlanOptions,
  ) {
    this.device = runtime.device;
    this.maxBinding = runtime.maxBindingBytes;
    this.weightChunk = Math.min(options.weightChunkBytes ?? this.maxBinding, this.maxBinding);
    // Arena layout (f32 elements): ctx buffers, each one row; then each cand buffer for tileRows rows; then the scores.
    let at = 0;
    for (const b of plan.buffers)
      if (b.rank === 'ctx') {
        this.base[b.id] = at;
        this.stride[b.id] = 0;
        at += b.width;
      }
    // 256 bytes: the snapshot copy's source range stays aligned to anything.
    this.ctxFloats = Math.max(64, Math.ceil(at / 64) * 64);
    const candWidth = plan.buffers.reduce((n, b) => n + (b.rank === 'cand' ? b.width : 0), 0);
    const budget = Math.floor(Math.min(this.maxBinding, ARENA_TARGET_BYTES) / 4) - this.ctxFloats;
    const fit = Math.floor(budget / (candWidth + 1));
    if (fit < 1)
      throw new RankawareError('WebGPU arena', `the context section (${this.ctxFloats * 4} bytes) and one candidate row (${(candWidth + 1) * 4} bytes) within maxStorageBufferBindingSize (${this.maxBinding} bytes)`, 'a plan too wide for it');
    this.tileRows = Math.max(1, Math.min(options.tileRows ?? 16384, fit));
    at = this.ctxFloats;
    for (const b of plan.buffers)
      if (b.rank === 'cand') {
        this.base[b.id] = at;
        this.stride[b.id] = b.width;
        at += b.width * this.tileRows;
      }
    this.scoresAt = at;
    at += this.tileRows;
    const STORAGE = GPUBufferUsage.STORAGE;
    this.arena = this.buffer('arena', at * 4, STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    this.dummy = this.buffer('unused binding', 16, STORAGE);
    this.ctxRuntime = this.buffer('context stage sizes', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(this.ctxRuntime, 0, Uint32Array.of(1, 0, 0, 0));
    this.candRuntime = this.buffer('candidate tile sizes', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.inputs = this.buffer('inputs', 4096, STORAGE | GPUBufferUsage.COPY_DST);
    this.specEnv = {
      plan,
      at: (s) => this.at(s),
      strideOf: (s) => this.strideOf(s),
      weightShape: (name) => this.tensor(name).shape,
      weightValue: (name) => this.tensor(name).data[0]!,
      linearChunks: (name) => this.linearChunks(name),
      tableChunks: (name, dim) => this.tableChunks(name, dim),
      bias: (name) => this.bias(name),
      slot: (field) => this.slot(field),
    };
  }

  /** Upload the weights, create every pipeline (in parallel) and bind everything. */
  static async compile(plan: Plan, runtime: GpuRuntime, options: GpuPlanOptions = {}): Promise<GpuCompiledPlan> {
    const c = new GpuCompiledPlan(plan, runtime, options);
    const t0 = performance.now();
    runtime.device.pushErrorScope('out-of-memory');
    runtime.device.pushErrorScope('validation');
    const ctxSpecs = plan.contextOps.flatMap(({ op }) => c.specs(op));
    const candSpecs = [...plan.candidateOps.flatMap(({ op }) => c.specs(op)), copySpec(c.specEnv, plan.output, c.scoresAt, 1)];
    c.timing.uploadMs = performance.now() - t0;
    const t1 = performance.now();
    const cache = pipelineCache(runtime);
    const [ctxPipelines, candPipelines] = await Promise.all([Promise.all(ctxSpecs.map((s) => cache.get(s.kernel))), Promise.all(candSpecs.map((s) => cache.get(s.kernel)))]);
    c.timing.pipelinesMs = performance.now() - t1;
    c.place(ctxSpecs, ctxPipelines, 'ctx', c.ctxDispatches);
    c.place(candSpecs, candPipelines, 'cand', c.candDispatches);
    c.writeParams();
    const [validation, oom] = await Promise.all([runtime.device.popErrorScope(), runtime.device.popErrorScope()]);
    const error = validation ?? oom;
    if (error) throw new RankawareError('WebGPU plan', 'weights and bindings the device accepts', error.message, 'invalid');
    return c;
  }

  get stats(): GpuPlanStats {
    return {
      pipelines: new Set([...this.ctxDispatches, ...this.candDispatches].map((d) => d.key)).size,
      ...this.timing,
      weightBytes: this.weightBytes,
      arenaBytes: this.arena.size,
      tileRows: this.tileRows,
      splitWeights: this.splitWeights,
    };
  }

  // ----- load: weights, parameters, bind groups ------------------------------------------------

  private buffer(label: string, bytes: number, usage: number): GPUBuffer {
    return this.device.createBuffer({ label: `rankaware ${label}`, size: Math.max(16, Math.ceil(bytes / 4) * 4), usage });
  }

  private upload(label: string, data: Float32Array): GPUBuffer {
    const buffer = this.device.createBuffer({ label: `rankaware ${label}`, size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
    new Float32Array(buffer.getMappedRange()).set(data);
    buffer.unmap();
    this.weightBytes += data.byteLength;
    return buffer;
  }

  private tensor(name: string): Tensor {
    const t = this.plan.weights.get(name);
    if (!t) throw new RankawareError(`weight "${name}"`, 'a weight of the plan', 'nothing', 'weights');
    return t;
  }

  /** A linear weight [units, in], transposed to [in][units/4] vec4 per chunk of units that fits one binding. */
  private linearChunks(name: string): Chunk[] {
    let chunks = this.chunks.get(name);
    if (chunks) return chunks;
    const t = this.tensor(name);
    const [units, ins] = t.shape as [number, number];
    const perChunk = Math.floor(this.weightChunk / (Math.max(1, ins) * 16)) * 4;
    if (perChunk < 4) throw new RankawareError(`weight "${name}"`, `an input width whose 4-unit column block fits one binding (${this.weightChunk} bytes)`, `${ins} inputs`, 'weights');
    chunks = [];
    for (let start = 0; start < units; start += perChunk) {
      const count = Math.min(perChunk, units - start);
      const units4 = Math.ceil(count / 4) * 4;
      const data = new Float32Array(ins * units4);
      for (let u = 0; u < count; u++) {
        const row = (start + u) * ins;
        for (let k = 0; k < ins; k++) data[k * units4 + u] = t.data[row + k]!;
      }
      chunks.push({ buffer: this.upload(`${name} (units ${start}..${start + count})`, data), start, count });
    }
    if (chunks.length > 1) this.splitWeights++;
    this.chunks.set(name, chunks);
    return chunks;
  }

  /** An embedding table [rows, dim] in chunks of rows that fit one binding. */
  private tableChunks(name: string, dim: number): Chunk[] {
    let chunks = this.chunks.get(name);
    if (chunks) return chunks;
    const t = this.tensor(name);
    const rows = t.data.length / dim;
    const perChunk = Math.floor(this.weightChunk / (dim * 4));
    if (perChunk < 1) throw new RankawareError(`weight "${name}"`, `a row that fits one binding (${this.weightChunk} bytes)`, `${dim * 4} bytes`, 'weights');
    chunks = [];
    for (let start = 0; start < rows; start += perChunk) {
      const count = Math.min(perChunk, rows - start);
      chunks.push({ buffer: this.upload(`${name} (rows ${start}..${start + count})`, t.data.subarray(start * dim, (start + count) * dim)), start, count });
    }
    if (chunks.length > 1) this.splitWeights++;
    this.chunks.set(name, chunks);
    return chunks;
  }

  private bias(name: string): GPUBuffer {
    let b = this.biases.get(name);
    if (!b) this.biases.set(name, (b = this.upload(name, this.tensor(name).data)));
    return b;
  }

  private slot(field: number): number {
    let s = this.slots.get(field);
    if (s === undefined) this.slots.set(field, (s = this.slots.size));
    return s;
  }

  private at(s: Slice): number {
    return this.base[s.buf]! + s.col;
  }
  private strideOf(s: Slice): number {
    return this.stride[s.buf]!;
  }

  /** The launches of one op, from the table keyed by op kind (specs.ts). */
  private specs(op: Op): DispatchSpec[] {
    return byKind<(e: SpecEnv, op: Op) => DispatchSpec[]>(SPECS, op)(this.specEnv, op);
  }


  private paramsBytes = 0;
  private readonly paramsData: (readonly number[])[] = [];

  private place(specs: DispatchSpec[], pipelines: GPUComputePipeline[], stage: 'ctx' | 'cand', into: Dispatch[]): void {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    specs.forEach((s, i) => {
      // A runtime-sized array in a parameter struct needs at least one element bound: pad by 16 bytes.
      const bytes = (s.params.length + 4) * 4;
      into.push({ key: keyOf(s.kernel), pipeline: pipelines[i]!, stage, a: s.a, b: s.b, paramsAt: this.paramsBytes, paramsBytes: bytes, grid: s.grid, bindGroup: undefined });
      this.paramsData.push(s.params);
      this.paramsBytes += Math.ceil(bytes / align) * align;
    });
  }

  private writeParams(): void {
    const data = new Uint32Array(this.paramsBytes / 4);
    [...this.ctxDispatches, ...this.candDispatches].forEach((d, i) => data.set(this.paramsData[i]!, d.paramsAt / 4));
    this.params = this.device.createBuffer({ label: 'rankaware op parameters', size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
    new Uint32Array(this.params.getMappedRange()).set(data);
    this.params.unmap();
    this.paramsData.length = 0;
    this.bind();
  }

  /** (Re)create every bind group: at load, and when the inputs buffer had to grow. */
  private bind(): void {
    for (const d of [...this.ctxDispatches, ...this.candDispatches])
      d.bindGroup = this.device.createBindGroup({
        label: d.key,
        layout: this.runtime.bindGroupLayout,
        entries: [
          { binding: 0, resource: { buffer: this.arena } },
          { binding: 1, resource: { buffer: d.a ?? this.dummy } },
          { binding: 2, resource: { buffer: d.b ?? this.dummy } },
          { binding: 3, resource: { buffer: this.inputs } },
          { binding: 4, resource: { buffer: this.params!, offset: d.paramsAt, size: d.paramsBytes } },
          { binding: 5, resource: { buffer: d.stage === 'ctx' ? this.ctxRuntime : this.candRuntime } },
        ],
      });
  }

  // ----- run ----------------------------------------------------------------------------------

  /** Rows [start, end) of the inputs as the kernels read them: a directory per field slot, then the data. */
  private encodeInputs(inputs: Inputs, start: number, end: number): Uint32Array<ArrayBuffer> {
    const rows = end - start;
    let size = 2 * this.slots.size;
    for (const [field] of this.slots) {
      const s = inputs.sparse.get(field);
      const d = inputs.dense.get(field);
      if (s) size += rows + 1 + (s.offsets[end]! - s.offsets[start]!);
      else if (d) size += (d.length / inputs.rows) * rows;
    }
    const out = new Uint32Array(size);
    let at = 2 * this.slots.size;
    for (const [field, slot] of this.slots) {
      const s = inputs.sparse.get(field);
      const d = inputs.dense.get(field);
      if (s) {
        const base = s.offsets[start]!;
        out[2 * slot] = at;
        for (let r = 0; r <= rows; r++) out[at + r] = s.offsets[start + r]! - base;
        at += rows + 1;
        out[2 * slot + 1] = at;
        const count = s.offsets[end]! - base;
        out.set(s.ids.subarray(base, base + count), at);
        at += count;
      } else if (d) {
        const dim = d.length / inputs.rows;
        out[2 * slot] = at;
        out.set(new Uint32Array(d.buffer, d.byteOffset + start * dim * 4, rows * dim), at);
        at += rows * dim;
      }
    }
    return out;
  }

  private writeInputs(data: Uint32Array<ArrayBuffer>): void {
    if (data.byteLength > this.inputs.size) {
      this.inputs.destroy();
      this.inputs = this.buffer('inputs', Math.min(this.maxBinding, Math.max(data.byteLength, 2 * this.inputs.size)), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      this.bind();
    }
    if (data.byteLength > 0) this.device.queue.writeBuffer(this.inputs, 0, data);
  }

  private encodePass(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[], rows: number, label: string): void {
    const pass = encoder.beginComputePass({ label });
    for (const d of dispatches) {
      const [x, y, z] = d.grid(rows);
      if (x * y * z === 0) continue;
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup!);
      pass.dispatchWorkgroups(x, y, z);
    }
    pass.end();
  }

  private checkLive(): void {
    if (this.runtime.lost) throw new DeviceLostError(this.runtime.lost);
  }

  runContext(inputs: Inputs): ContextState {
    this.checkLive();
    const device = this.device;
    device.pushErrorScope('validation');
    this.writeInputs(this.encodeInputs(inputs, 0, 1));
    const encoder = device.createCommandEncoder({ label: 'rankaware context stage' });
    this.encodePass(encoder, this.ctxDispatches, 1, 'rankaware context stage');
    const snapshot = this.freeSnapshots.pop() ?? this.buffer('context snapshot', this.ctxFloats * 4, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    encoder.copyBufferToBuffer(this.arena, 0, snapshot, 0, this.ctxFloats * 4);
    device.queue.submit([encoder.finish()]);
    const generation = ++generations;
    this.current = generation;
    return { backend: 'webgpu', owner: this, generation, snapshot, errors: device.popErrorScope() } as GpuContext;
  }

  /** Give a context's snapshot buffer back to the pool (the state must not be used after). */
  releaseContext(state: ContextState): void {
    const ctx = state as GpuContext;
    if (ctx.owner !== this || !ctx.snapshot) return;
    this.freeSnapshots.push(ctx.snapshot);
    ctx.snapshot = undefined;
  }

  private context(state: ContextState): GpuContext {
    const ctx = state as GpuContext;
    if (ctx.backend !== 'webgpu' || ctx.owner !== this) throw new RankawareError('context', 'a context computed by this WebGPU plan', `a ${ctx.backend} context of another plan`);
    if (!ctx.snapshot) throw new RankawareError('context', 'a live context', 'a released context');
    return ctx;
  }

  private staging(bytes: number): GPUBuffer {
    const size = 2 ** Math.ceil(Math.log2(Math.max(256, bytes)));
    return this.freeStaging.get(size)?.pop() ?? this.device.createBuffer({ label: 'rankaware scores readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private restage(buffer: GPUBuffer): void {
    let list = this.freeStaging.get(buffer.size);
    if (!list) this.freeStaging.set(buffer.size, (list = []));
    if (list.length < 4) list.push(buffer);
    else buffer.destroy();
  }

  /** Score `inputs.rows` candidates against a context: tiles queued back to back, one readback at the end. */
  async runCandidatesAsync(state: ContextState, inputs: Inputs): Promise<Float32Array> {
    this.checkLive();
    const ctx = this.context(state);
    const device = this.device;
    const n = inputs.rows;
    const staging = this.staging(n * 4);
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    this.lastTiles = 0;
    for (let start = 0; start < n; this.lastTiles++) {
      let end = Math.min(n, start + this.tileRows);
      let data = this.encodeInputs(inputs, start, end);
      // A tile whose inputs (pooled ids) exceed one binding is halved until they fit.
      while (data.byteLength > this.maxBinding && end - start > 1) data = this.encodeInputs(inputs, start, (end = start + ((end - start) >> 1)));
      if (data.byteLength > this.maxBinding) throw new RankawareError(`candidates[${start}]`, `inputs within maxStorageBufferBindingSize (${this.maxBinding} bytes)`, `${data.byteLength} bytes`);
      const rows = end - start;
      this.writeInputs(data);
      device.queue.writeBuffer(this.candRuntime, 0, Uint32Array.of(rows, 0, 0, 0));
      const encoder = device.createCommandEncoder({ label: 'rankaware candidate tile' });
      if (this.current !== ctx.generation) {
        encoder.copyBufferToBuffer(ctx.snapshot!, 0, this.arena, 0, this.ctxFloats * 4);
        this.current = ctx.generation;
      }
      this.encodePass(encoder, this.candDispatches, rows, 'rankaware candidate tile');
      encoder.copyBufferToBuffer(this.arena, this.scoresAt * 4, staging, start * 4, rows * 4);
      device.queue.submit([encoder.finish()]);
      start = end;
    }
    const errors = Promise.all([device.popErrorScope(), device.popErrorScope(), ctx.errors]);
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, n * 4);
    } catch (e) {
      throw await this.explain(e);
    }
    const scores = new Float32Array(staging.getMappedRange(0, n * 4).slice(0));
    staging.unmap();
    this.restage(staging);
    const error = (await errors).find((x) => x);
    if (error) throw new RankawareError('WebGPU candidate stage', 'no GPU errors', error.message, 'invalid');
    return scores;
  }

  /** A failed readback: a lost device (the usual cause) or an error of its own. */
  private async explain(e: unknown): Promise<Error> {
    const lost = await Promise.race([this.device.lost.then((info) => info.message || info.reason), new Promise<undefined>((r) => setTimeout(r, 1000))]);
    if (lost !== undefined || this.runtime.lost) return new DeviceLostError(this.runtime.lost ?? String(lost));
    return new RankawareError('WebGPU readback', 'the scores mapped for reading', e instanceof Error ? e.message : String(e), 'invalid');
  }

  /** A structured-cloneable copy of a context (read back from the device). */
  async exportContextAsync(state: ContextState): Promise<ContextPayload> {
    const ctx = this.context(state);
    const staging = this.staging(this.ctxFloats * 4);
    const encoder = this.device.createCommandEncoder({ label: 'rankaware context export' });
    encoder.copyBufferToBuffer(ctx.snapshot!, 0, staging, 0, this.ctxFloats * 4);
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, this.ctxFloats * 4);
    } catch (e) {
      throw await this.explain(e);
    }
    const data = new Float32Array(staging.getMappedRange(0, this.ctxFloats * 4).slice(0));
    staging.unmap();
    this.restage(staging);
    return { backend: 'webgpu', arrays: [data] };
  }

  /** A context of this plan from a payload exported by a WebGPU plan of the same plan. */
  importContext(payload: ContextPayload): ContextState {
    this.checkLive();
    const data = payload.arrays[0];
    if (payload.backend !== 'webgpu' || payload.arrays.length !== 1 || !(data instanceof Float32Array) || data.length !== this.ctxFloats)
      throw new RankawareError('context payload', `a webgpu context of this plan (one Float32Array of ${this.ctxFloats})`, `a ${payload.backend} context of ${payload.arrays.length} arrays`);
    const snapshot = this.freeSnapshots.pop() ?? this.buffer('context snapshot', this.ctxFloats * 4, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(snapshot, 0, new Float32Array(data));
    return { backend: 'webgpu', owner: this, generation: ++generations, snapshot, errors: Promise.resolve(null) } as GpuContext;
  }

  /** Free every buffer of the plan (the device stays). */
  destroy(): void {
    for (const chunks of this.chunks.values()) for (const c of chunks) c.buffer.destroy();
    for (const b of this.biases.values()) b.destroy();
    for (const b of [this.arena, this.dummy, this.ctxRuntime, this.candRuntime, this.inputs, this.params, ...this.freeSnapshots]) b?.destroy();
    for (const list of this.freeStaging.values()) for (const b of list) b.destroy();
  }
}
