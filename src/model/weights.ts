/**
 * The weights each architecture declares (names, shapes as stored, meaning) and their loading into
 * the canonical layout the planner reads: every linear map as [out, in] (y = x W^T + b), every bias
 * as [out]. docs/model-format.md is generated from the same rules and lists them per architecture.
 */
import { RankawareError, show } from '../errors.js';
import type { Tensor, TensorMap } from './safetensors.js';
import type { ModelSpec } from './spec.js';
import { archOf } from '../zoo/registry.js';
import { embeddings } from '../zoo/weight-decls.js';
import type { WeightDecl } from '../zoo/weight-decls.js';

export type { WeightDecl } from '../zoo/weight-decls.js';

/** The canonical weights of a loaded model (linear maps [out, in]). */
export type Weights = TensorMap;

/** Every weight the model needs, in canonical shape: the embedding tables, then the architecture's. */
export function declareWeights(spec: ModelSpec): WeightDecl[] {
  const decls: WeightDecl[] = [];
  embeddings(decls, spec);
  archOf(spec).declareWeights(spec, decls);
  return decls;
}

/** Whether a weight is stored transposed ([in, out]) under the model's layout options. */
export function isStoredTransposed(spec: ModelSpec, decl: WeightDecl): boolean {
  if (decl.layout === 'linear') return spec.linearLayout === 'in_out';
  if (decl.layout === 'projection') return 'projectionLayout' in spec.options && spec.options.projectionLayout === 'in_out';
  return false;
}

/** The shape a weight has in weights.safetensors, given the model's layout options. */
export function storedShape(spec: ModelSpec, decl: WeightDecl): readonly number[] {
  return isStoredTransposed(spec, decl) ? [decl.shape[1]!, decl.shape[0]!] : decl.shape;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** A row-major [rows, cols] matrix as row-major [cols, rows]. */
export function transpose(t: Tensor): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return out;
}

/**
 * Check the stored tensors against the declarations and return them in canonical layout.
 * Refuses a missing weight, a wrong shape, a non-finite value, and a tensor the model does not use.
 */
export function loadWeights(spec: ModelSpec, stored: TensorMap, file = 'weights.safetensors'): Weights {
  const decls = declareWeights(spec);
  const out = new Map<string, Tensor>();
  for (const decl of decls) {
    const t = stored.get(decl.name);
    const want = storedShape(spec, decl);
    if (!t) throw new RankawareError(`${file} weight "${decl.name}"`, `a tensor of shape ${fmt(want)} (${decl.meaning})`, 'no such tensor', 'weights');
    const accepted = [want, ...(decl.alsoAccept ?? [])];
    if (!accepted.some((s) => sameShape(s, t.shape)))
      throw new RankawareError(`${file} weight "${decl.name}"`, `shape ${fmt(want)}`, `shape ${fmt(t.shape)}`, 'weights');
    for (let i = 0; i < t.data.length; i++)
      if (!Number.isFinite(t.data[i]!))
        throw new RankawareError(`${file} weight "${decl.name}"`, 'finite values', `${show(t.data[i])} at flat index ${i}`, 'weights');
    // Decide by layout, not by shape: a square [in, out] matrix has the shape of its transpose.
    const data = isStoredTransposed(spec, decl) ? transpose({ shape: want, data: t.data }) : t.data;
    out.set(decl.name, { shape: decl.shape, data });
  }
  const declared = new Set(decls.map((d) => d.name));
  for (const name of stored.keys())
    if (!declared.has(name))
      throw new RankawareError(`${file} tensor "${name}"`, `only the weights a ${spec.architecture} model declares (see docs/model-format.md)`, 'a tensor this model does not use', 'weights');
  return out;
}
