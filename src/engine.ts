/**
 * Scoring a request: encode and validate it, run the context stage once and the candidate stage on the
 * candidates, check the scores. Plans and compiled plans are cached per model.
 */
import { RankawareError } from './errors.js';
import type { Model } from './model/model.js';
import { encodeRequest } from './model/request.js';
import { planModel } from './arch/index.js';
import type { Plan, PlanMode } from './plan/ir.js';
import type { Backend, BackendName, CompiledPlan } from './backends/backend.js';
import { jsBackend } from './backends/js/index.js';
import { createWasmBackend } from './backends/wasm/load.js';
import { simdSupported } from './backends/wasm/module.js';

export interface ScoreOptions {
  readonly plan?: PlanMode;
  readonly backend?: BackendName;
}

export interface ScoreResult {
  /** One score per candidate, in request order. */
  readonly scores: number[];
  readonly backend: BackendName;
  readonly plan: PlanMode;
}

const BACKENDS: Partial<Record<BackendName, Backend>> = { js: jsBackend };
const REASONS: Partial<Record<BackendName, string>> = { js: 'the float64 reference backend' };

export interface LoadedBackend {
  /** The backend that will run: the one asked for, or its fallback. */
  readonly name: BackendName;
  /** Why this backend (and why not the one asked for, after a fallback). */
  readonly reason: string;
}

/**
 * Make a backend ready (compile its module once per process). Falls back to js, saying why, when the
 * engine cannot run it: WASM needs 128-bit SIMD.
 */
export async function loadBackend(name: BackendName): Promise<LoadedBackend> {
  if (name === 'js') return { name, reason: REASONS.js! };
  if (name === 'wasm') {
    if (!BACKENDS.wasm) {
      if (!simdSupported()) return { name: 'js', reason: 'this JavaScript engine has no WebAssembly SIMD; using the js backend' };
      const wasm = await createWasmBackend();
      BACKENDS.wasm = wasm;
      REASONS.wasm = wasm.variant === 'relaxed-simd' ? 'WASM with relaxed-SIMD FMA' : 'WASM SIMD (this engine has no relaxed SIMD, so no FMA)';
    }
    return { name, reason: REASONS.wasm! };
  }
  throw new RankawareError('backend', '"js" or "wasm" (the WebGPU backend is not part of this release)', JSON.stringify(name));
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
  const backend = BACKENDS[name];
  if (!backend) throw new RankawareError('backend', `a loaded backend (await loadBackend(${JSON.stringify(name)}) first; loaded: ${Object.keys(BACKENDS).join(', ')})`, JSON.stringify(name));
  return backend;
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

/** Score one request synchronously on the reference path. */
export function score(model: Model, request: unknown, options: ScoreOptions = {}): ScoreResult {
  const mode = options.plan ?? 'rank-aware';
  const backend = options.backend ?? 'js';
  const c = compilePlan(getPlan(model, mode), backend);
  const encoded = encodeRequest(model.spec, request);
  const context = c.runContext(encoded.context);
  return { scores: checkScores(c.runCandidates(context, encoded.candidates)), backend, plan: mode };
}
