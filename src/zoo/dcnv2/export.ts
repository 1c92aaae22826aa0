/** The vanilla ONNX graph's logit for dcnv2 (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportDcnv2(ex: OnnxExporter, spec: SpecOf<'dcnv2'>): string {
  const { layers, rank, structure, deep, mlp } = spec.options;
  const x0 = ex.concat(ex.valuesOf(spec.fields));
  let x = x0;
  for (let l = 0; l < layers; l++) {
    const wx =
      rank === 0
        ? ex.project(x, `cross.${l}.weight`)
        : ex.project(ex.project(x, `cross.${l}.down`), `cross.${l}.up`);
    const gate = ex.g.op('Add', [wx, ex.plain(`cross.${l}.bias`)]);
    x = ex.g.op('Add', [ex.g.op('Mul', [x0, gate]), x]);
  }
  const top = structure === 'parallel' && deep.length > 0 ? ex.concat([x, ex.mlp(x0, 'deep', deep.length, true)]) : x;
  return ex.mlpWithOutput(top, 'mlp', mlp);
}
