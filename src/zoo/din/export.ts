/** The vanilla ONNX graph's logit for din (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import type { SpecOf } from '../../model/spec.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';
import { historyOf } from '../sequence.js';
import { flatFields } from '../../model/fields.js';

export function exportDin(ex: OnnxExporter, spec: SpecOf<'din'>): string {
  const o = spec.options;
  const { field, target } = historyOf(spec);
  const g = ex.g;
  // Broadcast first, as a PyTorch export does: the history on N rows, the candidate on L items.
  const h = g.op('Expand', [ex.history(field), ex.rows3()]);
  const items = g.op('Concat', [g.int64s([1]), g.op('Shape', [field.name], { start: 1, end: 2 }), g.int64s([1])], { axis: 0 });
  const t = g.op('Expand', [g.op('Unsqueeze', [ex.values.get(target.name)!, g.int64s([1])]), items]);
  // The activation unit on [h, t, h - t, h * t]: one weight per (candidate, item), no softmax.
  let a = g.op('Concat', [h, t, g.op('Sub', [h, t]), g.op('Mul', [h, t])], { axis: 2 });
  o.attention.forEach((_, i) => (a = g.op(o.attentionActivation === 'sigmoid' ? 'Sigmoid' : 'Relu', [ex.linear(a, `attention.${i}`)])));
  const weight = g.op('Mul', [ex.linear(a, `attention.${o.attention.length}`), ex.historyMask(field)]);
  const interest = g.op('ReduceSum', [g.op('Mul', [weight, h]), g.int64s([1])], { keepdims: 0 });
  return ex.mlpWithOutput(ex.concat([...ex.valuesOf(flatFields(spec)), interest]), 'mlp', o.mlp);
}
