/**
 * The ONNX half of the zoo: each architecture's exporter (its layers in the vanilla graph) and its
 * matcher (the same structure read back by the importer), typed by Architecture so that neither can be
 * forgotten. Apart from registry.ts so that the browser bundle carries no ONNX code. The matchers are
 * tried in this order.
 */
import type { Matcher } from '../onnx/patterns/match-parts.js';
import type { Architecture, SpecOf } from '../model/spec.js';
import type { OnnxExporter } from '../onnx/writer/exporter.js';
import { exportAutoInt } from './autoint/export.js';
import { autointMatcher } from './autoint/match.js';
import { exportDcnv2 } from './dcnv2/export.js';
import { dcnv2Matcher } from './dcnv2/match.js';
import { exportDeepFm } from './deepfm/export.js';
import { deepfmMatcher } from './deepfm/match.js';
import { exportDlrm } from './dlrm/export.js';
import { dlrmMatcher } from './dlrm/match.js';
import { exportRankAttention } from './rank-attention/export.js';
import { rankAttentionMatcher } from './rank-attention/match.js';
import { exportRdcn } from './rdcn/export.js';
import { rdcnMatcher } from './rdcn/match.js';

export interface ArchOnnx<A extends Architecture> {
  /** Its layers in the vanilla graph, from the field values to the logit (an ONNX value name). */
  exportLogit(ex: OnnxExporter, spec: SpecOf<A>): string;
  /** Its structure read back from a graph; throws NoMatch with what it found instead. */
  readonly match: Matcher;
}

export const ZOO_ONNX: { readonly [A in Architecture]: ArchOnnx<A> } = {
  dlrm: { exportLogit: exportDlrm, match: dlrmMatcher },
  dcnv2: { exportLogit: exportDcnv2, match: dcnv2Matcher },
  rdcn: { exportLogit: exportRdcn, match: rdcnMatcher },
  deepfm: { exportLogit: exportDeepFm, match: deepfmMatcher },
  autoint: { exportLogit: exportAutoInt, match: autointMatcher },
  'rank-attention': { exportLogit: exportRankAttention, match: rankAttentionMatcher },
};
