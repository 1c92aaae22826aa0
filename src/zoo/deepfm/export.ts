/** The vanilla ONNX graph's logit for deepfm (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import { denseFields, sparseFields } from '../../model/fields.js';
import { embeddingDim } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';

export function exportDeepFm(ex: OnnxExporter, spec: SpecOf<'deepfm'>): string {
  const sparse = sparseFields(spec);
  const dense = denseFields(spec);
  const firstOrder = [
    ...sparse.map((f) => ex.perRow(f, ex.lookup(`first_order.${f.name}`, f))),
    ...dense.map((f) => ex.g.op('MatMul', [ex.values.get(f.name)!, ex.plain(`first_order.${f.name}`)])),
  ];
  // FM = 0.5 * sum_d((sum_f E_f)^2 - sum_f E_f^2), over the sparse fields.
  const e = ex.stack(ex.valuesOf(sparse), embeddingDim(spec));
  const fieldAxis = ex.g.int64s([1]);
  const sumE = ex.g.op('ReduceSum', [e, fieldAxis], { keepdims: 0 });
  const sumSq = ex.g.op('ReduceSum', [ex.g.op('Mul', [e, e]), fieldAxis], { keepdims: 0 });
  const cross = ex.g.op('ReduceSum', [ex.g.op('Sub', [ex.g.op('Mul', [sumE, sumE]), sumSq]), fieldAxis], { keepdims: 1 });
  const terms = [...firstOrder, ex.g.op('Mul', [cross, ex.g.scalar(0.5)])];
  if (spec.options.dnn.length > 0) {
    const h = ex.mlp(ex.concat(ex.valuesOf([...sparse, ...dense])), 'dnn', spec.options.dnn.length, true);
    terms.push(ex.linear(h, 'output', false));
  }
  terms.push(ex.plain('output.bias'));
  return ex.sum(terms);
}
