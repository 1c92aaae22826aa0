/**
 * Scoring a request: encode and validate it, run the context stage once and the candidate stage on the
 * candidates, check the scores. Plans and compiled plans are cached per model (backend selection is
 * backends/select.ts).
 */
import type { ScoreResult } from './scheduler/types.js';
import { RankawareError } from './errors.js';
import type { Model } from './model/model.js';
import { encodeRequest } from './model/request.js';
import { planModel } from './zoo/registry.js';
import type { Plan, PlanMode } from './plan/ir.js';
import type { BackendChoice, BackendName, CompiledPlan } from './backends/backend.js';
import { getBackend, loadBackend, loadCpu, loadSync, preferenceOf } from './backends/select.js';
import type { LoadedBackend } from './backends/select.js';
import { acquireGpu } from './backends/webgpu/device.js';
import type { GpuRuntime } from './backends/webgpu/device.js';
import { GpuCompiledPlan } from './backends/webgpu/plan.js';
import type { GpuPlanOptions } from './backends/webgpu/plan.js';
import { GpuRoute } from './backends/webgpu/route.js';

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

export type { ScoreResult } from './scheduler/types.js';

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
