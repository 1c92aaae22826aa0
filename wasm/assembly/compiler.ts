/**
 * The second kernel module: the ONNX compiler's elementwise kernels (src/onnx/compiler), built on their
 * own (plain SIMD and relaxed SIMD, private memory) so that the native plans' module, which every page
 * embeds, does not carry them. A compiled graph instantiates both modules on one memory.
 */
export { attentionRows } from './attention-rows';
export { pairDots, pairSelect } from './pair-dots';
export { attentionMixed } from './attention-mixed';
export { reduceLines } from './reduce-lines';
export { rowDots } from './row-dots';
export { batchedMatmul, batchedMatmulT, binaryRows, copyRuns, copySegments, gatherRows, layerNormRows, softmaxRows, unaryRows } from './elementwise';
