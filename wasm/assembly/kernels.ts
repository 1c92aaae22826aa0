/** Placeholder so the build pipeline can be exercised; the kernels land with the WASM backend. */
export function version(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 2 : 1;
}
