/**
 * The ONNX half of the zoo: each architecture's exporter (its layers in the vanilla graph), typed by
 * Architecture so that none can be forgotten. Apart from registry.ts so that the browser bundle carries
 * no ONNX code. (Importing a graph needs no matcher: the compiler, src/onnx/compiler, runs any graph.)
 */
import type { Architecture, SpecOf } from '../model/spec.js';
import type { OnnxExporter } from '../onnx/writer/exporter.js';
import { exportAutoInt } from './autoint/export.js';
import { exportDcnv2 } from './dcnv2/export.js';
import { exportDeepFm } from './deepfm/export.js';
import { exportDlrm } from './dlrm/export.js';
import { exportRankAttention } from './rank-attention/export.js';
import { exportRdcn } from './rdcn/export.js';
import { exportDin } from './din/export.js';
import { exportBst } from './bst/export.js';

export interface ArchOnnx<A extends Architecture> {
  /** Its layers in the vanilla graph, from the field values to the logit (an ONNX value name). */
  exportLogit(ex: OnnxExporter, spec: SpecOf<A>): string;
}

export const ZOO_ONNX: { readonly [A in Architecture]: ArchOnnx<A> } = {
  dlrm: { exportLogit: exportDlrm },
  dcnv2: { exportLogit: exportDcnv2 },
  rdcn: { exportLogit: exportRdcn },
  deepfm: { exportLogit: exportDeepFm },
  autoint: { exportLogit: exportAutoInt },
  'rank-attention': { exportLogit: exportRankAttention },
  din: { exportLogit: exportDin },
  bst: { exportLogit: exportBst },
};
