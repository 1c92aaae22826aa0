/**
 * The pieces weight declarations are made of (a linear map, an MLP, the embedding tables, attention
 * projections). Each architecture declares its weights with them (src/zoo/<arch>/index.ts);
 * src/model/weights.ts checks and loads what they declare.
 */
import type { ModelSpec } from '../model/spec.js';
import { sequenceFields, sequenceTable, sparseFields, tableRows } from '../model/fields.js';
import type { AttentionOptions } from './attention.js';

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

export function linear(decls: WeightDecl[], prefix: string, inputs: number, outputs: number, what: string, bias = true): void {
  decls.push({ name: `${prefix}.weight`, shape: [outputs, inputs], layout: 'linear', meaning: `${what} weight [out=${outputs}, in=${inputs}]` });
  if (bias) decls.push({ name: `${prefix}.bias`, shape: [outputs], layout: 'plain', meaning: `${what} bias [${outputs}]` });
}

export function mlp(decls: WeightDecl[], prefix: string, inputs: number, sizes: readonly number[], what: string): number {
  let width = inputs;
  sizes.forEach((units, i) => {
    linear(decls, `${prefix}.${i}`, width, units, `${what} layer ${i}`);
    width = units;
  });
  return width;
}

export function embeddings(decls: WeightDecl[], spec: ModelSpec): void {
  for (const f of sparseFields(spec)) {
    const oov = f.oov === 'bucket' ? ' (row vocab is the OOV bucket)' : '';
    decls.push({ name: `embedding.${f.name}`, shape: [tableRows(f), f.dim], layout: 'plain', meaning: `embedding table of "${f.name}"${oov}` });
  }
  // A sequence reads its target field's table; each side feature has its own, added to the item's vector.
  for (const f of sequenceFields(spec)) {
    const dim = sequenceTable(spec, f).dim;
    for (const x of f.features)
      decls.push({ name: `embedding.${f.name}.${x.name}`, shape: [x.vocab, dim], layout: 'plain', meaning: `embedding table of the side feature "${x.name}" of "${f.name}" (added to each item's vector)` });
  }
}

export function attention(decls: WeightDecl[], prefix: string, width: number, spec: { readonly options: AttentionOptions }, what: string): void {
  const out = spec.options.heads * spec.options.headDim;
  const names = spec.options.residual ? ['query', 'key', 'value', 'residual'] : ['query', 'key', 'value'];
  for (const n of names)
    decls.push({ name: `${prefix}.${n}`, shape: [out, width], layout: 'projection', meaning: `${what} ${n} projection [out=${out}, in=${width}]` });
}
