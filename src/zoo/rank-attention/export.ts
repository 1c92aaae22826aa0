/** The vanilla ONNX graph's logit for rank-attention (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import { embeddingDim } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportRankAttention(ex: OnnxExporter, spec: SpecOf<'rank-attention'>): string {
  const o = spec.options;
  const ctx = spec.fields.filter((f) => f.side === 'context');
  const tgt = spec.fields.filter((f) => f.side === 'target');
  const width = o.heads * o.headDim;
  let c = ex.stack(ex.valuesOf(ctx), embeddingDim(spec));
  let t = ex.stack(ex.valuesOf(tgt), embeddingDim(spec));
  for (let l = 0; l < o.layers; l++) {
    const pc = `ctx_attention.${l}`;
    const pt = `tgt_attention.${l}`;
    const kc = ex.project(c, `${pc}.key`);
    const vc = ex.project(c, `${pc}.value`);
    const cAtt = ex.attend(spec, ex.project(c, `${pc}.query`), kc, vc, ctx.length, ctx.length);
    // Target queries attend over [context keys; target keys] (the context stream's own projections).
    const k = ex.concat([kc, ex.project(t, `${pt}.key`)]);
    const v = ex.concat([vc, ex.project(t, `${pt}.value`)]);
    const tAtt = ex.attend(spec, ex.project(t, `${pt}.query`), k, v, tgt.length, ctx.length + tgt.length);
    const cNext = ex.attentionOutput(cAtt, c, `${pc}.residual`, spec);
    t = ex.attentionOutput(tAtt, t, `${pt}.residual`, spec);
    c = cNext;
  }
  const flat = ex.concat([ex.reshape(c, [-1, ctx.length * width]), ex.reshape(t, [-1, tgt.length * width])]);
  return ex.mlpWithOutput(flat, 'mlp', o.mlp);
}
