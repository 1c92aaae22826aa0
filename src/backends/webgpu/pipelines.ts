/**
 * Shader modules and compute pipelines, created asynchronously and cached per device. A kernel is an
 * entry point of one WGSL family file (shaders/*.wgsl, embedded at build time) with its override
 * constants: the pipeline key is `entry` plus those constants, which are model constants (activation,
 * whether a bias or an add is fused), never sizes; sizes live in parameters and uniforms, so one pipeline
 * serves every N. Compile and pipeline errors are RankawareErrors that name the kernel.
 */
import { SHADERS } from '../../../build/shaders/shaders.js';
import { RankawareError } from '../../errors.js';
import type { GpuRuntime } from './device.js';

export type Family = Exclude<keyof typeof SHADERS, 'common'>;

/** Which family file holds each entry point. */
export const ENTRY_FAMILY = {
  gemm: 'gemm',
  gemv: 'gemm',
  gather: 'gather',
  dense: 'gather',
  copy: 'gather',
  pairs: 'pairs',
  outer: 'pairs',
  cross: 'cross',
  fm: 'fm',
  fmContext: 'fm',
  sum: 'fm',
  attention: 'attention',
  attentionContext: 'attention',
} as const satisfies Record<string, Family>;
export type Entry = keyof typeof ENTRY_FAMILY;

export interface KernelKey {
  readonly entry: Entry;
  readonly constants?: Readonly<Record<string, number>>;
}

export function keyOf(k: KernelKey): string {
  const c = Object.entries(k.constants ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return [k.entry, ...c.map(([n, v]) => `${n}=${v}`)].join(':');
}

const COMMON_LINES = SHADERS.common.split('\n').length - 1;

/**
 * Compile WGSL (the common prelude plus `source`) and wait for the compiler's verdict: a kernel that does
 * not compile is refused with its name and the first errors, at lines of its own file.
 */
export async function compileWgsl(runtime: GpuRuntime, name: string, source: string): Promise<GPUShaderModule> {
  const { device } = runtime;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `rankaware ${name}`, code: SHADERS.common + source });
  const [info, scoped] = await Promise.all([module.getCompilationInfo(), device.popErrorScope()]);
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => {
    const line = m.lineNum > COMMON_LINES ? `${name} line ${m.lineNum - COMMON_LINES}` : `common.wgsl line ${m.lineNum}`;
    return `${line}:${m.linePos}: ${m.message}`;
  });
  if (errors.length > 0 || scoped) throw new RankawareError(`WebGPU kernel ${name}`, 'WGSL that compiles', errors.slice(0, 3).join('; ') || scoped!.message, 'invalid');
  return module;
}

/** Pipelines and modules of one device. */
export class PipelineCache {
  private readonly modules = new Map<Family, Promise<GPUShaderModule>>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /**
   * Pipelines are created one after another, each asynchronously: the event loop stays free, and a
   * software adapter (SwiftShader compiles on the same cores) is not oversubscribed. Measured with
   * dawn.node on 2 cores: 7 pipelines in 4.4 s one at a time, 11.6 s all at once.
   */
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly runtime: GpuRuntime) {}


  private module(family: Family): Promise<GPUShaderModule> {
    let m = this.modules.get(family);
    if (!m) this.modules.set(family, (m = compileWgsl(this.runtime, `${family}.wgsl`, SHADERS[family])));
    return m;
  }

  /** The pipeline of a kernel (created once, asynchronously, so that many compile in parallel). */
  get(k: KernelKey): Promise<GPUComputePipeline> {
    const key = keyOf(k);
    let p = this.pipelines.get(key);
    if (!p) {
      const { device, pipelineLayout } = this.runtime;
      const module = this.module(ENTRY_FAMILY[k.entry]);
      p = Promise.all([module, this.queue]).then(([module]) =>
        device.createComputePipelineAsync({ label: key, layout: pipelineLayout, compute: { module, entryPoint: k.entry, constants: { ...k.constants } } }).catch((e: unknown) => {
          throw new RankawareError(`WebGPU kernel ${key}`, 'a compute pipeline that builds', e instanceof Error ? e.message : String(e), 'invalid');
        }),
      );
      this.queue = p.catch(() => undefined);
      this.pipelines.set(key, p);
    }
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

const caches = new WeakMap<GpuRuntime, PipelineCache>();
export function pipelineCache(runtime: GpuRuntime): PipelineCache {
  let c = caches.get(runtime);
  if (!c) caches.set(runtime, (c = new PipelineCache(runtime)));
  return c;
}
