/**
 * The weights each architecture declares (names, shapes as stored, meaning) and their loading into
 * the canonical layout the planner reads: every linear map as [out, in] (y = x W^T + b), every bias
 * as [out]. docs/model-format.md is generated from the same rules and lists them per architecture.
 */
import { RankawareError, show } from '../errors.js';
import type { Tensor, TensorMap } from './safetensors.js';
import type { ModelSpec } from './spec.js';
import { sparseFields, tableRows, denseFields } from './spec.js';
import { attentionWidth, dcnInput, dlrmGeometry, dnnInput, rdcnStreams, withOutput } from './geometry.js';

export interface WeightDecl {
  readonly name: string;
  /** Canonical shape: [out, in] for linear maps. */
  readonly shape: readonly number[];
  /** 'linear' follows the model's linearLayout, 'projection' the attention projectionLayout. */
  readonly layout: 'plain' | 'linear' | 'projection';
  /** Other stored shapes accepted as the same data (torchrec's [d, 1] cross bias). */
  readonly alsoAccept?: readonly (readonly number[])[];
  readonly meaning: string;
}

/** The canonical weights of a loaded model (linear maps [out, in]). */
export type Weights = TensorMap;

function linear(decls: WeightDecl[], prefix: string, inputs: number, outputs: number, what: string, bias = true): void {
  decls.push({ name: `${prefix}.weight`, shape: [outputs, inputs], layout: 'linear', meaning: `${what} weight [out=${outputs}, in=${inputs}]` });
  if (bias) decls.push({ name: `${prefix}.bias`, shape: [outputs], layout: 'plain', meaning: `${what} bias [${outputs}]` });
}

function mlp(decls: WeightDecl[], prefix: string, inputs: number, sizes: readonly number[], what: string): number {
  let width = inputs;
  sizes.forEach((units, i) => {
    linear(decls, `${prefix}.${i}`, width, units, `${what} layer ${i}`);
    width = units;
  });
  return width;
}

function embeddings(decls: WeightDecl[], spec: ModelSpec): void {
  for (const f of sparseFields(spec)) {
    const oov = f.oov === 'bucket' ? ' (row vocab is the OOV bucket)' : '';
    decls.push({ name: `embedding.${f.name}`, shape: [tableRows(f), f.dim], layout: 'plain', meaning: `embedding table of "${f.name}"${oov}` });
  }
}

function attention(decls: WeightDecl[], prefix: string, width: number, spec: Extract<ModelSpec, { architecture: 'autoint' | 'rank-attention' }>, what: string): void {
  const out = spec.options.heads * spec.options.headDim;
  const names = spec.options.residual ? ['query', 'key', 'value', 'residual'] : ['query', 'key', 'value'];
  for (const n of names)
    decls.push({ name: `${prefix}.${n}`, shape: [out, width], layout: 'projection', meaning: `${what} ${n} projection [out=${out}, in=${width}]` });
}

/** Every weight the model needs, in canonical shape. */
export function declareWeights(spec: ModelSpec): WeightDecl[] {
  const decls: WeightDecl[] = [];
  embeddings(decls, spec);
  switch (spec.architecture) {
    case 'dlrm': {
      const g = dlrmGeometry(spec);
      if (g.dense.length > 0) mlp(decls, 'bottom_mlp', g.denseWidth, spec.options.bottomMlp, 'bottom MLP');
      mlp(decls, 'top_mlp', g.topInputWidth, withOutput(spec.options.topMlp), 'top MLP');
      break;
    }
    case 'deepfm': {
      for (const f of sparseFields(spec))
        decls.push({ name: `first_order.${f.name}`, shape: [tableRows(f), 1], layout: 'plain', meaning: `first-order weight of each id of "${f.name}"` });
      for (const f of denseFields(spec))
        decls.push({ name: `first_order.${f.name}`, shape: [f.dim, 1], layout: 'plain', meaning: `first-order weight of each value of dense "${f.name}"` });
      const last = mlp(decls, 'dnn', dnnInput(spec).width, spec.options.dnn, 'DNN');
      if (spec.options.dnn.length > 0) linear(decls, 'output', last, 1, 'DNN output (no bias)', false);
      decls.push({ name: 'output.bias', shape: [1], layout: 'plain', meaning: 'bias added to the logit' });
      break;
    }
    case 'dcnv2': {
      const d = dcnInput(spec).width;
      const { layers, rank, deep } = spec.options;
      for (let l = 0; l < layers; l++) {
        if (rank === 0) {
          decls.push({ name: `cross.${l}.weight`, shape: [d, d], layout: 'linear', meaning: `cross layer ${l} W_l [out=${d}, in=${d}]` });
        } else {
          decls.push({ name: `cross.${l}.down`, shape: [rank, d], layout: 'linear', meaning: `cross layer ${l} down-projection V_l [out=${rank}, in=${d}]` });
          decls.push({ name: `cross.${l}.up`, shape: [d, rank], layout: 'linear', meaning: `cross layer ${l} up-projection U_l [out=${d}, in=${rank}]` });
        }
        decls.push({ name: `cross.${l}.bias`, shape: [d], layout: 'plain', alsoAccept: [[d, 1]], meaning: `cross layer ${l} bias b_l [${d}]` });
      }
      const deepOut = deep.length > 0 ? mlp(decls, 'deep', d, deep, 'parallel deep MLP') : 0;
      mlp(decls, 'mlp', d + deepOut, withOutput(spec.options.mlp), 'top MLP');
      break;
    }
    case 'rdcn': {
      const { context, target } = rdcnStreams(spec);
      const dc = context.width;
      const dt = target.width;
      for (let l = 0; l < spec.options.layers; l++) {
        linear(decls, `ctx_cross.${l}`, dc, dc, `context stream layer ${l} Wc_l`);
        linear(decls, `ct_cross.${l}`, dc, dt, `target stream layer ${l} Wct_l (reads c_l)`, false);
        linear(decls, `tgt_cross.${l}`, dt, dt, `target stream layer ${l} Wt_l`);
      }
      mlp(decls, 'mlp', dc + dt, withOutput(spec.options.mlp), 'MLP on cat(c_L, T_L)');
      break;
    }
    case 'autoint': {
      for (let l = 0; l < spec.options.layers; l++) attention(decls, `attention.${l}`, attentionWidth(spec, l), spec, `interacting layer ${l}`);
      const dnnOut = mlp(decls, 'dnn', dnnInput(spec).width, spec.options.dnn, 'DNN');
      const attOut = sparseFields(spec).length * spec.options.heads * spec.options.headDim;
      linear(decls, 'output', attOut + (spec.options.dnn.length > 0 ? dnnOut : 0), 1, 'output layer on cat(flatten(X_L), DNN)', false);
      decls.push({ name: 'output.bias', shape: [1], layout: 'plain', meaning: 'bias added to the logit' });
      break;
    }
    case 'rank-attention': {
      for (let l = 0; l < spec.options.layers; l++) {
        attention(decls, `ctx_attention.${l}`, attentionWidth(spec, l), spec, `context stream layer ${l}`);
        attention(decls, `tgt_attention.${l}`, attentionWidth(spec, l), spec, `target stream layer ${l}`);
      }
      const out = spec.options.heads * spec.options.headDim;
      mlp(decls, 'mlp', sparseFields(spec).length * out, withOutput(spec.options.mlp), 'MLP on cat(flatten(c_L), flatten(T_L))');
      break;
    }
  }
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
