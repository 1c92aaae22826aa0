/**
 * Scoring a request: encode and validate it, run the context stage once and the candidate stage on the
 * candidates, check the scores. Plans and compiled plans are cached per model.
 */
import { RankawareError, show } from './errors.js';
import type { Model } from './model/model.js';
import { encodeRequest } from './model/request.js';
import { planModel } from './zoo/registry.js';
import type { Plan, PlanMode } from './plan/ir.js';
import type { Backend, BackendChoice, BackendName, CompiledPlan } from './backends/backend.js';
import { jsBackend } from './backends/js/index.js';
import { createWasmBackendSync } from './backends/wasm/load.js';
import { simdSupported } from './backends/wasm/module.js';
import { acquireGpu } from './backends/webgpu/device.js';
import type { GpuRuntime } from './backends/webgpu/device.js';
import { GpuCompiledPlan } from './backends/webgpu/plan.js';
import type { GpuPlanOptions } from './backends/webgpu/plan.js';
import { breakEvenFlops, GpuRoute } from './backends/webgpu/route.js';

/**
 * Which backend to run on: one name, 'auto' (the default: the fastest exact backend here), or an ordered
 * preference list, as onnxruntime's execution providers are: the first one this engine can run is used.
 */
export type BackendPreference = BackendChoice | readonly BackendChoice[];

export interface ScoreOptions {
  readonly plan?: PlanMode;
  /**
   * Default 'auto'. score() is synchronous, so it runs on the CPU: 'auto' is WASM where the engine has
   * SIMD, else js; 'webgpu' is refused (use scoreAsync or createScorer).
   */
  readonly backend?: BackendChoice;
  /** An ordered preference list instead of one backend (e.g. ['wasm', 'js']): the first that runs here. */
  readonly backends?: readonly BackendChoice[];
}

export interface ScoreResult {
  /** One score per candidate, in request order. */
  readonly scores: number[];
  /** The backend that computed these scores. */
  readonly backend: BackendName;
  readonly plan: PlanMode;
  /** Why that backend (after a fallback: why not the one asked for). */
  readonly reason: string;
}

export interface ScoreAsyncOptions {
  readonly plan?: PlanMode;
  /** Default 'auto'. 'webgpu' and 'auto' fall back to WASM (then js) by the policy of docs/backends.md. */
  readonly backend?: BackendChoice;
  /** An ordered preference list instead of one backend (e.g. ['webgpu', 'wasm']): the first that runs here, without fallback. */
  readonly backends?: readonly BackendChoice[];
  /** WebGPU only: candidate-stage FLOPs below which a request runs on the CPU (default: 0 for 'webgpu', the cost model's break-even for 'auto'). */
  readonly minGpuFlops?: number;
  /** WebGPU only: tile and binding sizes (tests). */
  readonly gpu?: GpuPlanOptions;
}

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
function loadCpu(choice: BackendChoice): LoadedBackend {
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
function loadSync(preference: BackendPreference): LoadedBackend {
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

const plans = new WeakMap<Model, Map<PlanMode, Plan>>();
const compiled = new WeakMap<Plan, Map<BackendName, CompiledPlan>>();

/** The plan of a model in a mode (built once per model and mode). */
export function getPlan(model: Model, mode: PlanMode): Plan {
  let byMode = plans.get(model);
  if (!byMode) plans.set(model, (byMode = new Map()));
  let plan = byMode.get(mode);
  if (!plan) byMode.set(mode, (plan = planModel(model, mode)));
  return plan;
}

function getBackend(name: BackendName): Backend {
  if (name === 'webgpu') throw new RankawareError('backend', '"js" or "wasm" for a synchronous compiled plan (WebGPU reads scores back asynchronously: use scoreAsync or createScorer)', '"webgpu"');
  const backend = BACKENDS[name];
  if (backend) return backend;
  const loaded = loadCpu(name);
  if (loaded.name !== name) throw new RankawareError('backend', JSON.stringify(name), loaded.reason, 'unavailable');
  return BACKENDS[name]!;
}

export function compilePlan(plan: Plan, backendName: BackendName): CompiledPlan {
  let byBackend = compiled.get(plan);
  if (!byBackend) compiled.set(plan, (byBackend = new Map()));
  let c = byBackend.get(backendName);
  if (!c) byBackend.set(backendName, (c = getBackend(backendName).compile(plan)));
  return c;
}

/** Refuse a non-finite score rather than return it (a model whose logits overflow, say). */
export function checkScores(scores: ArrayLike<number>): number[] {
  const out = Array.from(scores);
  out.forEach((s, i) => {
    if (!Number.isFinite(s)) throw new RankawareError(`score of candidates[${i}]`, 'a finite number', String(s), 'invalid');
  });
  return out;
}

/** Score one request synchronously, on the CPU (WASM by default; the kernels compile on first use). */
export function score(model: Model, request: unknown, options: ScoreOptions = {}): ScoreResult {
  const mode = options.plan ?? 'rank-aware';
  const loaded = loadSync(preferenceOf(options));
  return scoreOnCpu(model, request, mode, loaded.name, loaded.reason);
}

function scoreOnCpu(model: Model, request: unknown, mode: PlanMode, backend: BackendName, reason: string): ScoreResult {
  const c = compilePlan(getPlan(model, mode), backend);
  const encoded = encodeRequest(model.spec, request);
  const context = c.runContext(encoded.context);
  return { scores: checkScores(c.runCandidates(context, encoded.candidates)), backend, plan: mode, reason };
}

const gpuPlans = new WeakMap<Plan, Map<string, Promise<GpuCompiledPlan>>>();

/** The plan compiled on this device (weights uploaded and pipelines created once per plan, device and options). */
function gpuPlan(plan: Plan, runtime: GpuRuntime, options: GpuPlanOptions = {}): Promise<GpuCompiledPlan> {
  let byKey = gpuPlans.get(plan);
  if (!byKey) gpuPlans.set(plan, (byKey = new Map()));
  const key = JSON.stringify(options);
  let c = byKey.get(key);
  if (!c || (c as { runtime?: GpuRuntime }).runtime !== runtime) {
    c = GpuCompiledPlan.compile(plan, runtime, options);
    (c as { runtime?: GpuRuntime }).runtime = runtime;
    byKey.set(key, c);
    // A failed compile is not kept: the next request tries again.
    c.catch(() => byKey.get(key) === c && byKey.delete(key));
  }
  return c;
}

/**
 * A routed plan for WebGPU: the GPU plan when a device is up (a fresh one after a loss), and the CPU plan
 * that answers when the device is lost or the request is too small for the GPU (docs/backends.md).
 */
export async function routePlan(plan: Plan, loaded: LoadedBackend, options: { minGpuFlops?: number; gpu?: GpuPlanOptions } = {}): Promise<GpuRoute> {
  const cpu = loadCpu('wasm');
  const cpuPlan = { name: cpu.name, reason: cpu.reason, compiled: compilePlan(plan, cpu.name) };
  const minGpuFlops = options.minGpuFlops ?? loaded.minGpuFlops;
  const got = await acquireGpu();
  if ('reason' in got) return new GpuRoute(plan, undefined, got.reason, cpuPlan, minGpuFlops);
  return new GpuRoute(plan, await gpuPlan(plan, got.runtime, options.gpu), loaded.reason, cpuPlan, minGpuFlops);
}

/**
 * Score one request on any backend. js and wasm run as score() does; 'webgpu' and 'auto' run on the GPU
 * where the policy allows and fall back otherwise; the result says which backend answered and why.
 */
export async function scoreAsync(model: Model, request: unknown, options: ScoreAsyncOptions = {}): Promise<ScoreResult> {
  const mode = options.plan ?? 'rank-aware';
  const loaded = await loadBackend(preferenceOf(options));
  if (loaded.name !== 'webgpu') return scoreOnCpu(model, request, mode, loaded.name, loaded.reason);
  const encoded = encodeRequest(model.spec, request);
  const route = await routePlan(getPlan(model, mode), loaded, options);
  const context = route.runContext(encoded.context);
  try {
    const result = await route.runCandidates(context, encoded.candidates);
    return { scores: checkScores(result.scores), backend: result.backend, plan: mode, reason: result.reason };
  } finally {
    route.release(context);
  }
}
