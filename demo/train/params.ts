/**
 * The trainers' parameters: float64 values with their gradients and Adam's moments, seeded by the
 * library's own initialization (randomWeights: N(0, 1/dim) tables, N(0, 1/fan_in) weights) and saved as
 * the float32 weights rankaware loads.
 */
import { randomWeights } from '../../src/model/random.js';
import type { Tensor } from '../../src/model/safetensors.js';
import type { ModelSpec } from '../../src/model/spec.js';
import type { Model } from '../../src/model/model.js';

export interface AdamOptions {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

export interface Param {
  readonly shape: readonly number[];
  readonly value: Float64Array;
  readonly grad: Float64Array;
  readonly m: Float64Array;
  readonly v: Float64Array;
}

export class Params {
  private readonly byName = new Map<string, Param>();
  private steps = 0;

  constructor(
    readonly spec: ModelSpec,
    seed: number,
  ) {
    for (const [name, t] of randomWeights(spec, seed)) {
      const n = t.data.length;
      this.byName.set(name, { shape: t.shape, value: Float64Array.from(t.data), grad: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) });
    }
  }

  get(name: string): Param {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p;
  }

  zeroGrad(): void {
    for (const p of this.byName.values()) p.grad.fill(0);
  }

  /** One Adam step on the accumulated gradients. */
  adam({ learningRate: lr, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 }: AdamOptions): void {
    this.steps++;
    const c1 = 1 - beta1 ** this.steps;
    const c2 = 1 - beta2 ** this.steps;
    for (const { value, grad, m, v } of this.byName.values()) {
      for (let i = 0; i < value.length; i++) {
        const g = grad[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        value[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + epsilon);
      }
    }
  }

  /** The trained model in rankaware's format (float32 weights). */
  toModel(): Model {
    const weights = new Map<string, Tensor>();
    for (const [name, p] of this.byName) weights.set(name, { shape: p.shape, data: Float32Array.from(p.value) });
    return { spec: this.spec, weights };
  }
}

/** log(1 + e^z) - y z, the binary cross-entropy of a logit, without overflow; its derivative is sigmoid(z) - y. */
export function logitLoss(z: number, y: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z;
}
