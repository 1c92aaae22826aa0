/// <reference types="@webgpu/types" />
/**
 * Getting a WebGPU device: navigator.gpu in browsers, the optional `webgpu` package (Dawn) in Node.
 * Every way this can fail is a reason (a string), never an exception: the caller falls back to WASM and
 * reports why. One device per process, kept until it is lost; a lost device is forgotten, so the next
 * request for one starts afresh.
 */
import { RankawareError } from '../../errors.js';

/** Limits the kernels need (the WebGPU defaults; an adapter below them is refused). */
export const REQUIRED_LIMITS = {
  // arena, two weight buffers, inputs, parameters (src/backends/webgpu/shaders.ts: the binding order)
  maxStorageBuffersPerShaderStage: 5,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 64,
  maxComputeWorkgroupSizeY: 16,
  // The GEMM's two 4 KiB tiles.
  maxComputeWorkgroupStorageSize: 8192,
} as const;

export interface GpuRuntime {
  /**
   * The GPU entry the device came from, held for as long as the device: dawn.node destroys its instance
   * when this object is collected, and a device outliving it aborts the process.
   */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  /** The adapter, as its info describes it (vendor, architecture, description). */
  readonly adapter: string;
  /** A CPU emulation (SwiftShader, or an adapter that says it is a fallback): correct, never fast. */
  readonly software: boolean;
  readonly maxBindingBytes: number;
  readonly maxBufferBytes: number;
  /** One layout for every kernel: arena, weight A, weight B, inputs, parameters, runtime sizes. */
  readonly bindGroupLayout: GPUBindGroupLayout;
  readonly pipelineLayout: GPUPipelineLayout;
  /** Why the device was lost; undefined while it works. */
  lost: string | undefined;
}

/** The device is gone (destroyed, reset, driver crash): whatever was in flight on it will not finish. */
export class DeviceLostError extends RankawareError {
  constructor(reason: string) {
    super('WebGPU device', 'a live device', `a lost device (${reason})`, 'invalid');
  }
}

export type GpuAcquired = { readonly runtime: GpuRuntime } | { readonly reason: string };

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
/** A variable and magic comments, so that bundlers (Vite, webpack) leave the Node-only import alone. */
const NODE_WEBGPU = 'webgpu';

async function gpuEntry(): Promise<GPU | string> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode) return 'this browser has no WebGPU (navigator.gpu is missing)';
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_WEBGPU)) as typeof mod;
  } catch (e) {
    // An optional peer dependency: browser apps never download its ~130 MB of native binaries.
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`'${NODE_WEBGPU}'`))
      return `WebGPU in Node needs the optional peer package "webgpu" (Dawn), which is not installed (npm install webgpu)`;
    return `the optional peer package "webgpu" (Dawn for Node) could not be loaded (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
  // GPUBufferUsage, GPUMapMode, ... as the WebGPU spec puts them on globalThis.
  for (const [key, value] of Object.entries(mod.globals)) if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  return mod.create([]);
}

function noAdapterHint(): string {
  if (!isNode) return '';
  // Dawn dlopens libvulkan.so.1; with no GPU, Debian's chromium package ships one and the SwiftShader ICD.
  return process.env.VK_ICD_FILENAMES
    ? ` (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})`
    : '; without a GPU, start node with LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (bin/rankaware does this itself)';
}

function describeAdapter(adapter: GPUAdapter): { name: string; software: boolean } {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((x) => typeof x === 'string' && x !== '');
  const name = parts.join(' ') || 'an unnamed adapter';
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { name, software: fallback || /swiftshader|llvmpipe|software|warp/i.test(name) };
}

async function acquire(): Promise<GpuAcquired> {
  const gpu = await gpuEntry();
  if (typeof gpu === 'string') return { reason: gpu };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { reason: `requestAdapter failed (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!adapter) return { reason: `no WebGPU adapter${noAdapterHint()}` };
  for (const [name, min] of Object.entries(REQUIRED_LIMITS)) {
    const have = (adapter.limits as unknown as Record<string, number>)[name] ?? 0;
    if (have < min) return { reason: `the WebGPU adapter's ${name} is ${have}; the kernels need ${min}` };
  }
  const { name, software } = describeAdapter(adapter);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      label: 'rankaware',
      requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
    });
  } catch (e) {
    return { reason: `requestDevice failed on ${name} (${e instanceof Error ? e.message : String(e)})` };
  }
  const storage = (type: GPUBufferBindingType): GPUBindGroupLayoutEntry['buffer'] => ({ type });
  const bindGroupLayout = device.createBindGroupLayout({
    label: 'rankaware kernels',
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: storage('storage') },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
      { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: storage('read-only-storage') },
      { binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: storage('uniform') },
    ],
  });
  const runtime: GpuRuntime = {
    gpu,
    device,
    adapter: name,
    software,
    maxBindingBytes: device.limits.maxStorageBufferBindingSize,
    maxBufferBytes: device.limits.maxBufferSize,
    bindGroupLayout,
    pipelineLayout: device.createPipelineLayout({ label: 'rankaware kernels', bindGroupLayouts: [bindGroupLayout] }),
    lost: undefined,
  };
  void device.lost.then((info) => {
    runtime.lost = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
    if (current === acquired) current = undefined;
  });
  return { runtime };
}

let current: Promise<GpuAcquired> | undefined;
let acquired: Promise<GpuAcquired> | undefined;

/**
 * How long a failure to get a device is the answer: 'auto' asks on every scoreAsync, and asking again
 * (importing Dawn, enumerating adapters) costs milliseconds and, in Dawn, a warning on stderr each time.
 */
const RETRY_AFTER_MS = 5000;

/** The process's WebGPU device (made on first call), or why there is none. */
export function acquireGpu(): Promise<GpuAcquired> {
  if (!current) {
    const attempt = (current = acquired = acquire().catch((e: unknown) => ({ reason: `WebGPU failed to start (${e instanceof Error ? e.message : String(e)})` })));
    // A failure is kept for a while, then the next call tries again (an adapter may appear, a package be installed).
    void attempt.then((r) => {
      if ('reason' in r) setTimeout(() => current === attempt && (current = undefined), RETRY_AFTER_MS).unref?.();
    });
  }
  return current;
}
