/** The vanilla ONNX graph's logit for autoint (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import { denseFields, sparseFields } from '../../model/fields.js';
import { embeddingDim } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportAutoInt(ex: OnnxExporter, spec: SpecOf<'autoint'>): string {
  const o = spec.options;
  const sparse = sparseFields(spec);
  const width = o.heads * o.headDim;
  let x = ex.stack(ex.valuesOf(sparse), embeddingDim(spec));
  for (let l = 0; l < o.layers; l++) {
    const p = `attention.${l}`;
    const q = ex.project(x, `${p}.query`);
    const k = ex.project(x, `${p}.key`);
    const v = ex.project(x, `${p}.value`);
    x = ex.attentionOutput(ex.attend(spec, q, k, v, sparse.length, sparse.length), x, `${p}.residual`, spec);
  }
  const parts = [ex.reshape(x, [-1, sparse.length * width])];
  if (o.dnn.length > 0) parts.push(ex.mlp(ex.concat(ex.valuesOf([...sparse, ...denseFields(spec)])), 'dnn', o.dnn.length, true));
  return ex.g.op('Add', [ex.linear(ex.concat(parts), 'output', false), ex.plain('output.bias')]);
}
