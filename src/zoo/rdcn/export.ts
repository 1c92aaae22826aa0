/** The vanilla ONNX graph's logit for rdcn (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportRdcn(ex: OnnxExporter, spec: SpecOf<'rdcn'>): string {
  const c0 = ex.concat(ex.valuesOf(spec.fields.filter((f) => f.side === 'context')));
  const t0 = ex.concat(ex.valuesOf(spec.fields.filter((f) => f.side === 'target')));
  let c = c0;
  let t = t0;
  for (let l = 0; l < spec.options.layers; l++) {
    // Both streams read c_l (Eq. 19-20).
    const cNext = ex.g.op('Add', [ex.g.op('Mul', [c0, ex.linear(c, `ctx_cross.${l}`)]), c]);
    const gate = ex.g.op('Add', [ex.linear(c, `ct_cross.${l}`, false), ex.linear(t, `tgt_cross.${l}`)]);
    t = ex.g.op('Add', [ex.g.op('Mul', [t0, gate]), t]);
    c = cNext;
  }
  return ex.mlpWithOutput(ex.concat([c, t]), 'mlp', spec.options.mlp);
}
