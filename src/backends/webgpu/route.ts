/**
 * Which backend answers a request when WebGPU was asked for: the fallback policy (docs/backends.md).
 * A request goes to the CPU plan (WASM, or js without WebAssembly SIMD) when the device is lost (before or
 * during the request: a request in flight when it happens is answered again on the CPU), or when the cost
 * model says the CPU is faster (fewer candidate-stage FLOPs than `minGpuFlops`). Every answer says which
 * backend gave it and why.
 */
import type { Inputs } from '../../model/request.js';
import type { Plan } from '../../plan/ir.js';
import { countFlops } from '../../plan/flops.js';
import type { BackendName, CompiledPlan, ContextState } from '../backend.js';
import { DeviceLostError } from './device.js';
import type { GpuCompiledPlan } from './plan.js';

/**
 * The cost model's constants. A GPU request pays a submit and a readback (mapAsync) round trip before its
 * first score, whatever its size; the CPU pays nothing up front and runs at WASM SIMD speed. Below the
 * break-even point the CPU answers sooner.
 */
export const COST_MODEL = {
  /** Submit-to-readback latency of a hardware adapter, ms (a few hundred microseconds on desktop GPUs). */
  gpuRoundTripMs: 0.5,
  /** WASM SIMD on one core, FLOP per ms (about 40 GFLOP/s: docs/backends.md, README). */
  cpuFlopsPerMs: 40e6,
} as const;

/** Candidate-stage FLOPs below which the CPU finishes before the GPU's round trip does (20 MFLOP). */
export function breakEvenFlops(): number {
  return COST_MODEL.gpuRoundTripMs * COST_MODEL.cpuFlopsPerMs;
}

export interface RoutedScores {
  readonly scores: Float32Array | Float64Array;
  readonly backend: BackendName;
  readonly reason: string;
}

/** A context for a routed plan: the inputs, and the state of whichever backends have used it. */
export interface RoutedContext extends ContextState {
  readonly inputs: Inputs;
  gpu?: ContextState;
  cpu?: ContextState;
}

export interface CpuPlan {
  readonly name: BackendName;
  readonly reason: string;
  readonly compiled: CompiledPlan;
}

export class GpuRoute {
  private readonly perCandidate: number;

  constructor(
    readonly plan: Plan,
    /** Undefined when no device could be had (the reason says why). */
    private readonly gpu: GpuCompiledPlan | undefined,
    private readonly gpuReason: string,
    private readonly cpu: CpuPlan,
    readonly minGpuFlops: number,
  ) {
    this.perCandidate = countFlops(plan).perCandidate;
  }

  get gpuPlan(): GpuCompiledPlan | undefined {
    return this.gpu;
  }

  /** The CPU plan that answers when the GPU does not. */
  get cpuPlan(): CompiledPlan {
    return this.cpu.compiled;
  }

  /** Nothing runs yet: each backend computes the context stage the first time it scores on it. */
  runContext(inputs: Inputs): RoutedContext {
    return { backend: 'webgpu', inputs };
  }

  async runCandidates(ctx: RoutedContext, inputs: Inputs): Promise<RoutedScores> {
    const flops = inputs.rows * this.perCandidate;
    let why: string;
    if (!this.gpu) why = this.gpuReason;
    else if (this.gpu.runtime.lost) why = `the WebGPU device was lost (${this.gpu.runtime.lost})`;
    else if (flops < this.minGpuFlops) why = `cost model: ${formatFlops(flops)} of candidate work is below the GPU's break-even ${formatFlops(this.minGpuFlops)}`;
    else {
      try {
        ctx.gpu ??= this.gpu.runContext(ctx.inputs);
        return { scores: await this.gpu.runCandidatesAsync(ctx.gpu, inputs), backend: 'webgpu', reason: this.gpuReason };
      } catch (e) {
        if (!(e instanceof DeviceLostError)) throw e;
        ctx.gpu = undefined;
        why = `the WebGPU device was lost during the request (${this.gpu.runtime.lost ?? e.received})`;
      }
    }
    ctx.cpu ??= this.cpu.compiled.runContext(ctx.inputs);
    return { scores: this.cpu.compiled.runCandidates(ctx.cpu, inputs), backend: this.cpu.name, reason: `${why}; ${this.cpu.name} answered (${this.cpu.reason})` };
  }

  release(ctx: RoutedContext): void {
    if (ctx.gpu && this.gpu && !this.gpu.runtime.lost) this.gpu.releaseContext(ctx.gpu);
    ctx.gpu = undefined;
    ctx.cpu = undefined;
  }
}

function formatFlops(f: number): string {
  return f >= 1e6 ? `${(f / 1e6).toFixed(1)} MFLOP` : `${Math.round(f)} FLOP`;
}
