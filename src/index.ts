/**
 * rankaware: exact rank-aware inference for recommender ranking models.
 * Browser-safe entry point (no Node built-ins); `rankaware/node` adds model directories.
 */
export { RankawareError } from './errors.js';
export type { ErrorKind } from './errors.js';
export * from './model/spec.js';
export { ARCHITECTURES, parseModelSpec } from './model/parse-spec.js';
export { denseFields, sparseFields, tableRows } from './model/fields.js';
export { modelFromFiles, modelToFiles } from './model/model.js';
export type { Model, ModelJsonInput, WeightsInput } from './model/model.js';
export { loadModel, modelUrls } from './model/load.js';
export type { LoadModelOptions, ModelSource, ModelFiles, NamedBlob, LoadProgress, ProgressCallback } from './model/load.js';
export { readSafetensors, writeSafetensors } from './model/safetensors.js';
export type { Tensor, TensorMap } from './model/safetensors.js';
export { declareWeights } from './model/weights.js';
export type { WeightDecl, Weights } from './model/weights.js';
export { encodeRequest, encodeContext, encodeCandidates } from './model/request.js';
export type { RequestJson, EncodedRequest, Inputs } from './model/request.js';
export { randomModel, randomRequest, interleavedFields } from './model/random.js';
export type { InitOptions } from './model/random.js';
export { score, scoreAsync, getPlan, compilePlan, routePlan } from './engine.js';
export { loadBackend } from './backends/select.js';
export type { LoadedBackend, BackendPreference } from './backends/select.js';
export type { ScoreOptions, ScoreAsyncOptions, ScoreResult } from './engine.js';
export { acquireGpu, DeviceLostError, REQUIRED_LIMITS } from './backends/webgpu/device.js';
export type { GpuRuntime, GpuAcquired } from './backends/webgpu/device.js';
export { GpuCompiledPlan } from './backends/webgpu/plan.js';
export type { GpuPlanOptions, GpuPlanStats } from './backends/webgpu/plan.js';
export { compileWgsl } from './backends/webgpu/pipelines.js';
export { COST_MODEL, breakEvenFlops, GpuRoute } from './backends/webgpu/route.js';
export { planModel, hasNativePlan } from './zoo/registry.js';
export type { Plan, PlanMode, Op, Slice, BufferDecl, Rank, Component } from './plan/ir.js';
export { countFlops, flopsFor, opFlops } from './plan/flops.js';
export type { FlopCount } from './plan/flops.js';
export type { Backend, BackendName, BackendChoice, CompiledPlan, AsyncCompiledPlan, ContextState } from './backends/backend.js';
export { createScorer, Scorer } from './scheduler/scorer.js';
export { ContextHandle } from './scheduler/contexts.js';
export type { ScorerOptions, ScorerInfo, ScorerMode, ScorerResult, ScoreTiming, ScorerStats, ScoreRequest, ScoreCallOptions } from './scheduler/types.js';
export type { ContextUsage } from './scheduler/contexts.js';
