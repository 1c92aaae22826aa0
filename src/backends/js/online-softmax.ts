/**
 * The softmax-weighted sum of values, accumulated one key at a time: the log-sum-exp merge of
 * FlashAttention, in float64. A block of keys computed once per request (its max, exp sum and weighted
 * values) is resumed with `from`, and the candidate keys are merged in. The js backend's attention kernel
 * and the ONNX interpreter's attention rewrite both use it; the WASM and WGSL kernels are the same merge
 * in their languages.
 */
export class OnlineSoftmax {
  max = -Infinity;
  sum = 0;
  readonly acc: Float64Array;

  constructor(dim: number) {
    this.acc = new Float64Array(dim);
  }

  /** Resume from a stored state: its max, exp sum and exp-weighted values (dim of them at `at`). */
  from(max: number, sum: number, acc: ArrayLike<number>, at: number): this {
    this.max = max;
    this.sum = sum;
    for (let d = 0; d < this.acc.length; d++) this.acc[d] = acc[at + d]!;
    return this;
  }

  /** Merge in one key's score and its value vector (dim values of `values` from `at`). */
  add(score: number, values: ArrayLike<number>, at: number): void {
    const max = Math.max(this.max, score);
    const keep = Math.exp(this.max - max);
    const weight = Math.exp(score - max);
    this.sum = this.sum * keep + weight;
    for (let d = 0; d < this.acc.length; d++) this.acc[d] = this.acc[d]! * keep + weight * values[at + d]!;
    this.max = max;
  }

  /** Output component d: the weighted mean of the values. */
  value(d: number): number {
    return this.acc[d]! / this.sum;
  }
}
