/**
 * Backend selection: which backend runs (a name, 'auto', or an ordered preference list), its fallbacks and
 * why, and the CPU backends made ready once per process (WASM compiled on first use).
 */
import { RankawareError, show } from '../errors.js';
import type { Backend, BackendChoice, BackendName } from './backend.js';
import { jsBackend } from './js/index.js';
import { createWasmBackendSync } from './wasm/load.js';
import { simdSupported } from './wasm/module.js';
import { acquireGpu } from './webgpu/device.js';
import { breakEvenFlops } from './webgpu/route.js';

/**
 * Which backend to run on: one name, 'auto' (the default: the fastest exact backend here), or an ordered
 * preference list, as onnxruntime's execution providers are: the first one this engine can run is used.
 */
export type BackendPreference = BackendChoice | readonly BackendChoice[];

const BACKENDS: Partial<Record<BackendName, Backend>> = { js: jsBackend };
const REASONS: Partial<Record<BackendName, string>> = { js: 'the float64 reference backend' };
const CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu', 'js'];

export interface LoadedBackend {
  /** The backend that will run: the one asked for, or its fallback. */
  readonly name: BackendName;
  /** Why this backend (and why not the one asked for, after a fallback). */
  readonly reason: string;
  /** What was asked for. */
  readonly requested: BackendPreference;
  /** WebGPU: requests with fewer candidate-stage FLOPs run on the CPU (0 when 'webgpu' was asked for by name). */
  readonly minGpuFlops: number;
}

/** The preference that options ask for: `backends` or `backend` (not both), 'auto' by default. */
export function preferenceOf(options: { readonly backend?: BackendChoice; readonly backends?: readonly BackendChoice[] }): BackendPreference {
  if (options.backends !== undefined && options.backend !== undefined)
    throw new RankawareError('backends', 'either backend or backends, not both', `backend ${JSON.stringify(options.backend)} and backends ${JSON.stringify(options.backends)}`);
  if (options.backends !== undefined && !Array.isArray(options.backends)) throw new RankawareError('backends', 'an array of backend names', show(options.backends));
  return options.backends ?? options.backend ?? 'auto';
}

function checkChoice(choice: unknown, field = 'backend'): asserts choice is BackendChoice {
  if (!CHOICES.includes(choice as BackendChoice)) throw new RankawareError(field, '"auto", "wasm", "webgpu" or "js"', JSON.stringify(choice) ?? String(choice));
}

/** Check a preference list (non-empty, known names) and return its entries. */
function preferenceList(list: readonly unknown[]): BackendChoice[] {
  if (list.length === 0) throw new RankawareError('backends', 'a non-empty list such as ["webgpu", "wasm"]', '[]');
  list.forEach((choice, i) => checkChoice(choice, `backends[${i}]`));
  return list as BackendChoice[];
}

/**
 * Make a backend ready (compile its module, or get the WebGPU device, once per process). Falls back,
 * saying why, when the engine cannot run it: WASM needs 128-bit SIMD (else js); WebGPU needs an adapter
 * with the kernels' limits (else WASM). 'auto' picks WebGPU on a hardware adapter, WASM on a software one
 * (SwiftShader is slower than WASM on the same CPU), and lets the cost model route small requests to WASM.
 * A list takes its first entry that runs here as asked (no fallback), and throws when none does.
 */
export async function loadBackend(preference: BackendPreference = 'auto'): Promise<LoadedBackend> {
  if (Array.isArray(preference)) {
    const refused: string[] = [];
    for (const choice of preferenceList(preference)) {
      const loaded = await loadBackend(choice);
      if (choice === 'auto' || loaded.name === choice) return { ...loaded, requested: preference, reason: refused.length ? `${loaded.reason} (${refused.join('; ')})` : loaded.reason };
      refused.push(`not ${choice}: ${loaded.reason.split('; using')[0]}`);
    }
    throw new RankawareError('backends', `one backend of ${JSON.stringify(preference)} that runs here`, refused.join('; '), 'unavailable');
  }
  const choice = preference as BackendChoice;
  checkChoice(choice);
  const cpu = (): Promise<LoadedBackend> => Promise.resolve(loadCpu(choice));
  if (choice === 'js' || choice === 'wasm') return cpu();
  const got = await acquireGpu();
  if ('reason' in got) {
    const fallback = await cpu();
    return { ...fallback, reason: `${got.reason}; using ${fallback.name} (${fallback.reason})` };
  }
  const { adapter, software } = got.runtime;
  if (choice === 'webgpu')
    return { name: 'webgpu', requested: choice, minGpuFlops: 0, reason: `WebGPU on ${adapter}${software ? ' (a CPU emulation: correct, not fast)' : ''}` };
  if (software) {
    const fallback = await cpu();
    return { ...fallback, reason: `auto: the only WebGPU adapter is ${adapter}, a CPU emulation slower than ${fallback.name} on the same cores; using ${fallback.name} (${fallback.reason})` };
  }
  const minGpuFlops = breakEvenFlops();
  return { name: 'webgpu', requested: choice, minGpuFlops, reason: `auto: WebGPU on ${adapter}; requests under ${minGpuFlops / 1e6} MFLOP of candidate work go to WASM (cost model)` };
}

/** The CPU backend for a choice, loaded synchronously: WASM (compiled once per process) unless js is asked for or there is no SIMD. */
export function loadCpu(choice: BackendChoice): LoadedBackend {
  if (choice === 'js') return { name: 'js', requested: choice, minGpuFlops: 0, reason: REASONS.js! };
  if (!BACKENDS.wasm) {
    if (!simdSupported()) return { name: 'js', requested: choice, minGpuFlops: 0, reason: 'this JavaScript engine has no WebAssembly SIMD; using the js backend' };
    const wasm = createWasmBackendSync();
    BACKENDS.wasm = wasm;
    REASONS.wasm = wasm.variant === 'relaxed-simd' ? 'WASM with relaxed-SIMD FMA' : 'WASM SIMD (this engine has no relaxed SIMD, so no FMA)';
  }
  return { name: 'wasm', requested: choice, minGpuFlops: 0, reason: REASONS.wasm! };
}

/** score()'s backend: synchronous, so CPU only; a list takes its first CPU entry that runs here. */
export function loadSync(preference: BackendPreference): LoadedBackend {
  const list = Array.isArray(preference) ? preferenceList(preference) : [preference as BackendChoice];
  const refused: string[] = [];
  for (const choice of list) {
    checkChoice(choice);
    if (choice === 'webgpu') {
      refused.push('not webgpu: WebGPU reads scores back asynchronously (use scoreAsync or createScorer)');
      continue;
    }
    const loaded = loadCpu(choice);
    if (choice === 'auto' || loaded.name === choice || !Array.isArray(preference))
      return { ...loaded, requested: preference, reason: refused.length ? `${loaded.reason} (${refused.join('; ')})` : loaded.reason };
    refused.push(`not ${choice}: ${loaded.reason}`);
  }
  if (!Array.isArray(preference))
    throw new RankawareError('backend', '"auto", "wasm" or "js" for the synchronous score() (WebGPU reads scores back asynchronously: use scoreAsync or createScorer)', '"webgpu"');
  throw new RankawareError('backends', `one CPU backend of ${JSON.stringify(preference)} for the synchronous score()`, refused.join('; '), 'unavailable');
}

/** The CPU backend of that name, loaded on first use (WebGPU is refused: its plans are asynchronous). */
export function getBackend(name: BackendName): Backend {
  if (name === 'webgpu') throw new RankawareError('backend', '"js" or "wasm" for a synchronous compiled plan (WebGPU reads scores back asynchronously: use scoreAsync or createScorer)', '"webgpu"');
  const backend = BACKENDS[name];
  if (backend) return backend;
  const loaded = loadCpu(name);
  if (loaded.name !== name) throw new RankawareError('backend', JSON.stringify(name), loaded.reason, 'unavailable');
  return BACKENDS[name]!;
}
