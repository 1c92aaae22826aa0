/// <reference types="@webgpu/types" />
/**
 * The WebGPU engine of compiled graphs: the arena mirrored in one GPU storage buffer of 32-bit words, each
 * kernel step one dispatch of shaders/compiler/compiled.wgsl with its parameters in a uniform made at
 * compile time. A run uploads the program's inputs, encodes every dispatch in one compute pass, and reads
 * the outputs back: one submission and one readback per stage. Runs of one graph are serialized (the
 * arena buffer is shared by its programs).
 */
import { COMPILER_SHADERS } from '../../../build/shaders/compiler-shaders.js';
import { RankawareError } from '../../errors.js';
import type { GpuRuntime } from '../../backends/webgpu/device.js';
import type { Arena } from './arena.js';
import { jsGemm } from './gemm.js';
import type { GemmCall, GemmEngine } from './gemm.js';

export const GPU_ENTRIES = ['gemm', 'binary', 'select3', 'unary', 'convert', 'copyMap', 'gather', 'softmax', 'layerNorm', 'reduceLines', 'bmm', 'affine', 'pairDots', 'fmOnce', 'fmCand', 'attentionOnce', 'attentionMixed', 'einsum', 'reduceAxes'] as const;
export type GpuEntry = (typeof GPU_ENTRIES)[number];

const WORKGROUP = 64;
const MAX_GROUPS_X = 65535;
/** The uniform holds this many 32-bit parameters. */
const PARAMS = 32;

interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly groups: [number, number];
}

/** A parameter: a u32 (offsets, sizes, codes) or, as `{ f: x }`, the bits of an f32. */
export type GpuParam = number | { readonly f: number };

export class GpuEngine {
  readonly device: GPUDevice;
  private readonly layout: GPUBindGroupLayout;
  private readonly pipelines = new Map<GpuEntry, GPUComputePipeline>();
  private buffer: GPUBuffer | undefined;
  private capacity = 0;
  /** The dispatches of the pass being encoded (steps push here while a run records them). */
  private recording: Dispatch[] | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly runtime: GpuRuntime, layout: GPUBindGroupLayout, pipelines: Map<GpuEntry, GPUComputePipeline>) {
    this.device = runtime.device;
    this.layout = layout;
    this.pipelines = pipelines;
  }

  static async create(runtime: GpuRuntime): Promise<GpuEngine> {
    const { device } = runtime;
    const layout = device.createBindGroupLayout({
      label: 'rankaware compiled graph',
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: 'rankaware compiled graph', code: COMPILER_SHADERS.compiled });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error').map((m) => `compiled.wgsl line ${m.lineNum}:${m.linePos}: ${m.message}`);
    const scoped = await device.popErrorScope();
    if (errors.length > 0 || scoped) throw new RankawareError('WebGPU kernels of compiled graphs', 'WGSL that compiles', errors.slice(0, 3).join('; ') || scoped!.message, 'invalid');
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const pipelines = new Map<GpuEntry, GPUComputePipeline>();
    for (const entry of GPU_ENTRIES)
      pipelines.set(entry, await device.createComputePipelineAsync({ label: `rankaware compiled ${entry}`, layout: pipelineLayout, compute: { module, entryPoint: entry } }));
    return new GpuEngine(runtime, layout, pipelines);
  }

  /** The arena buffer, made (or remade) to hold `elements`: remaking drops every program's bind groups, so the caller resets. */
  ensure(elements: number): boolean {
    if (this.buffer && elements <= this.capacity) return false;
    this.buffer?.destroy();
    this.capacity = Math.max(1 << 22, elements * 2);
    if (this.capacity * 4 > this.runtime.maxBindingBytes) this.capacity = Math.floor(this.runtime.maxBindingBytes / 4);
    if (elements > this.capacity) throw new RankawareError('compiled graph on WebGPU', `at most ${this.runtime.maxBindingBytes} bytes of tensors (the device's largest binding)`, `${elements * 4} bytes`, 'invalid');
    this.buffer = this.device.createBuffer({ label: 'rankaware compiled arena', size: this.capacity * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    return true;
  }

  /** Upload arena elements [from, to) (constants and tables, after a compile; inputs, before a run). */
  upload(arena: Arena, from: number, to: number): void {
    if (to <= from) return;
    this.device.queue.writeBuffer(this.buffer!, from * 4, arena.current.i32.buffer, from * 4, (to - from) * 4);
  }

  /** A step: one dispatch of `entry` over `threads` threads with these parameters. */
  step(entry: GpuEntry, params: readonly GpuParam[], threads: number): () => void {
    if (params.length > PARAMS) throw new Error(`import bug: ${params.length} parameters for ${entry}`);
    const words = new Uint32Array(PARAMS);
    const floats = new Float32Array(words.buffer);
    params.forEach((p, i) => (typeof p === 'number' ? (words[i] = p) : (floats[i] = p.f)));
    const uniform = this.device.createBuffer({ label: `rankaware ${entry} params`, size: PARAMS * 4, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(uniform, 0, words);
    const bindGroup = this.device.createBindGroup({ layout: this.layout, entries: [{ binding: 0, resource: { buffer: this.buffer! } }, { binding: 1, resource: { buffer: uniform } }] });
    const total = Math.max(1, Math.ceil(threads / WORKGROUP));
    const groups: [number, number] = total <= MAX_GROUPS_X ? [total, 1] : [MAX_GROUPS_X, Math.ceil(total / MAX_GROUPS_X)];
    const dispatch: Dispatch = { pipeline: this.pipelines.get(entry)!, bindGroup, groups };
    return () => this.recording!.push(dispatch);
  }

  /**
   * Run steps on the device: upload the input ranges, record the steps' dispatches into one pass, read the
   * output ranges back into the arena. Serialized per engine.
   */
  run(arena: Arena, inputs: readonly (readonly [number, number])[], steps: readonly (() => void)[], outputs: readonly (readonly [number, number])[]): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.runtime.lost) throw new RankawareError('WebGPU device', 'a live device', `a lost device (${this.runtime.lost})`, 'invalid');
      for (const [from, to] of inputs) this.upload(arena, from, to);
      this.recording = [];
      for (const s of steps) s();
      const encoder = this.device.createCommandEncoder({ label: 'rankaware compiled graph' });
      const pass = encoder.beginComputePass();
      for (const d of this.recording) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
      }
      pass.end();
      this.recording = undefined;
      const bytes = outputs.reduce((a, [f, t]) => a + (t - f) * 4, 0);
      const readback = this.device.createBuffer({ size: Math.max(bytes, 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      let at = 0;
      for (const [f, t] of outputs) {
        encoder.copyBufferToBuffer(this.buffer!, f * 4, readback, at, (t - f) * 4);
        at += (t - f) * 4;
      }
      this.device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const words = new Int32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      readback.destroy();
      at = 0;
      const i32 = arena.current.i32;
      for (const [f, t] of outputs) {
        i32.set(words.subarray(at, at + (t - f)), f);
        at += t - f;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** The GEMM of the WebGPU engine: the gemm kernel. */
export function gpuGemm(engine: GpuEngine): GemmEngine {
  return {
    name: 'webgpu',
    // Weights as given ([out, in]), as the js engine places them.
    place: jsGemm.place,
    step(c: GemmCall) {
      const run = engine.step('gemm', [c.x, c.xStride, c.rows, c.w, c.inDim, c.outDim, c.bias, c.add, c.addStride, c.out, c.outStride, c.act === 'relu' ? 1 : c.act === 'sigmoid' ? 2 : 0], c.rows * c.outDim);
      return () => run();
    },
  };
}
