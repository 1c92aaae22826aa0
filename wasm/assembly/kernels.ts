/**
 * The AssemblyScript SIMD kernels of the WASM backend (one module, built four times: plain SIMD and
 * relaxed SIMD with FMA, each on a private or a shared memory). Every function works on a memory the caller owns: pointers are byte
 * offsets into it, strides and sizes count f32 elements, i32 arrays hold indices, and nothing is
 * allocated here (the minimal runtime without a collector, no managed objects). Activation codes: 0 none, 1 relu, 2 sigmoid.
 */
export { gemm, packedLength, packWeight } from './gemm';
export { activate, copyRows, cross, gather, sumColumns } from './rows';
export { fm, fmContext, outer, pairs } from './interaction';
export { attention, attentionContext } from './attention';
