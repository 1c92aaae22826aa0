/**
 * The vanilla ONNX graph of a model: the common part (inputs, lookups, the score output) from
 * OnnxExporter (./exporter.ts), the architecture's layers from its exporter in src/zoo/<arch>/export.ts.
 */
import type { Model } from '../../model/model.js';
import { ZOO_ONNX } from '../../zoo/onnx.js';
import { OnnxExporter } from './exporter.js';

/** The encoded ONNX ModelProto of the model's vanilla forward (opset 17). */
export function exportOnnx(model: Model): Uint8Array {
  const ex = new OnnxExporter(model);
  return ex.build(ZOO_ONNX[model.spec.architecture].exportLogit(ex, model.spec as never));
}
