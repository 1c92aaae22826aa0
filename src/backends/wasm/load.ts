/**
 * Creating the WASM backend: the only module that loads the embedded kernel bytes (module.ts), so that
 * code running on a compiled module it was given (a worker) does not ship them again.
 */
import { RankawareError } from '../../errors.js';
import type { Plan } from '../../plan/ir.js';
import { compileWithModule } from './index.js';
import type { Kernels, SharedWasm, WasmBackend, WasmOptions } from './index.js';
import { LinearMemory } from './memory.js';
import { kernelModule, kernelModuleSync, MAX_SHARED_PAGES, sharedMemorySupported } from './module.js';
import type { WasmVariant } from './module.js';

/**
 * The WASM backend: compiles the kernel module once (the best variant the engine runs); each compiled
 * plan gets its own instance and memory, so plans never share scratch.
 */
export async function createWasmBackend(options: WasmOptions = {}): Promise<WasmBackend> {
  return wasmBackendOn(await kernelModule(options.variant), options);
}

/** The same, synchronously (for score()). */
export function createWasmBackendSync(options: WasmOptions = {}): WasmBackend {
  return wasmBackendOn(kernelModuleSync(options.variant), options);
}

function wasmBackendOn({ module, variant }: { module: WebAssembly.Module; variant: WasmVariant }, options: WasmOptions): WasmBackend {
  return { name: 'wasm', variant, module, compile: (plan: Plan) => compileWithModule(plan, module, variant, options) };
}

/**
 * A kernel instance on a fresh memory of its own, synchronously: what the compiled ONNX graphs
 * (src/onnx/compiler) run their GEMMs on, with the memory as their arena.
 */
export function kernelInstanceSync(variant?: WasmVariant): { kernels: Kernels; memory: WebAssembly.Memory; variant: WasmVariant } {
  const { module, variant: chosen } = kernelModuleSync(variant);
  const memory = new WebAssembly.Memory({ initial: 16 });
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('wasm kernel abort');
      },
    },
  });
  return { kernels: instance.exports as unknown as Kernels, memory, variant: chosen };
}

/** A shared memory (growing up to 1 GiB) with its allocator initialized, and the shared kernel module. */
export async function createSharedWasm(variant?: WasmVariant): Promise<SharedWasm> {
  if (!sharedMemorySupported())
    throw new RankawareError('shared memory', 'SharedArrayBuffer (Node, or a cross-origin isolated page)', 'an engine or page without it');
  const { module, variant: chosen } = await kernelModule(variant, { shared: true });
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_SHARED_PAGES, shared: true });
  // Sets the allocator's pointer, which lives in the memory; compiled plans on any thread attach to it.
  new LinearMemory(memory);
  return { module, memory, variant: chosen };
}

