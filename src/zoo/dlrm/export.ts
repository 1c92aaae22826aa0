/** The vanilla ONNX graph's logit for dlrm (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import { sparseFields } from '../../model/fields.js';
import { dlrmGeometry } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportDlrm(ex: OnnxExporter, spec: SpecOf<'dlrm'>): string {
  const geo = dlrmGeometry(spec);
  const vectors: string[] = [];
  let bottom: string | undefined;
  if (geo.dense.length > 0) {
    bottom = ex.mlp(ex.concat(ex.valuesOf(geo.dense)), 'bottom_mlp', spec.options.bottomMlp.length, true);
    vectors.push(bottom);
  }
  vectors.push(...ex.valuesOf(sparseFields(spec)));
  const flat = ex.concat(vectors);
  const top: string[] = [];
  if (spec.options.topInput === 'embeddings+pairs') top.push(flat);
  else if (bottom) top.push(bottom);
  if (geo.pairs.length > 0) {
    // All dot products at once ([N, F, D] x [N, D, F]), then the model's pairs from the flattened [N, F*F].
    const f = vectors.length;
    const stacked = ex.reshape(flat, [-1, f, geo.dim]);
    const gram = ex.g.op('MatMul', [stacked, ex.g.op('Transpose', [stacked], { perm: [0, 2, 1] })]);
    const index = ex.g.int64s(geo.pairs.map(([i, j]) => i * f + j));
    top.push(ex.g.op('Gather', [ex.reshape(gram, [-1, f * f]), index], { axis: 1 }));
  }
  return ex.mlpWithOutput(ex.concat(top), 'top_mlp', spec.options.topMlp);
}
