/** The element views kernels read and write: float32 for float tensors, int32 for int and bool ones. */
export type Elements = Float32Array | Int32Array;
