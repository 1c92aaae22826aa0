/**
 * `rankaware/onnx`: the ONNX import for pages and workers (and Node): read a graph exported from PyTorch or
 * TensorFlow, mark its context inputs, and score requests compiled onto the WASM kernels (or js). A subpath
 * of its own so that a page that scores native models does not ship the ONNX reader, the interpreter and
 * the compiler (src/onnx/browser.ts; the main entry stays within its 100 KB budget).
 */
export { importOnnx, ImportedModel } from './model.js';
export { createScorer } from './scorer/create.js';
export { compileModel } from './native-graph.js';
export { requestFlops } from './request-flops.js';
export type { RequestFlops } from './request-flops.js';
export { historyInputs, lengthBucket, readHistory } from '../model/sequence.js';
export { createImportedScorer, ImportedScorer } from './scorer/scorer.js';
export type { ImportedScorerOptions } from './scorer/scorer.js';
export type { ImportOptions, ImportedPlan, ImportedScores, StagedGraph } from './model.js';
export type { CompiledEngine } from './compiler/compiled.js';
export type { ImportedInput } from './request.js';
// The rank-aware plan as ONNX, and the ort backend on onnxruntime-web (the page passes its import in).
export { exportRankAwareOnnx } from './rank-aware-onnx.js';
export type { RankAwareManifest, RankAwareOnnx } from './rank-aware-onnx.js';
export { createOrtWebScorer } from './ort/web.js';
export type { OrtWebScorerOptions } from './ort/web.js';
export { OrtScorer } from './ort/scorer.js';
export type { OrtScorerInfo, OrtScores, OrtScoreOptions } from './ort/scorer.js';
