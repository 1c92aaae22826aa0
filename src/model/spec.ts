/**
 * model.json: the declared model, as types. Documented for users in docs/model-format.md; parse-spec.ts
 * parses and validates it into a normalized ModelSpec (defaults filled in), refusing anything it cannot run.
 */
import type { TensorMap } from './safetensors.js';
import type { DlrmOptions } from '../zoo/dlrm/options.js';
import type { DeepFmOptions } from '../zoo/deepfm/options.js';
import type { Dcnv2Options } from '../zoo/dcnv2/options.js';
import type { RdcnOptions } from '../zoo/rdcn/options.js';
import type { AutoIntOptions } from '../zoo/autoint/options.js';
import type { RankAttentionOptions } from '../zoo/rank-attention/options.js';
import type { DinOptions } from '../zoo/din/options.js';
import type { BstOptions } from '../zoo/bst/options.js';

export { SPEC_LIMITS } from './parse.js';

export const MODEL_FORMAT = 'rankaware-model';
export const MODEL_VERSION = 1;

export type Side = 'context' | 'target';
export type Pooling = 'none' | 'sum' | 'mean';
/**
 * Each architecture's options: adding an architecture adds its line here, its folder src/zoo/<arch>/ and
 * its entries in src/zoo/registry.ts and src/zoo/onnx.ts (typed by this list, so a missing part does not
 * compile).
 */
export interface ArchitectureOptions {
  dlrm: DlrmOptions;
  deepfm: DeepFmOptions;
  dcnv2: Dcnv2Options;
  rdcn: RdcnOptions;
  autoint: AutoIntOptions;
  'rank-attention': RankAttentionOptions;
  din: DinOptions;
  bst: BstOptions;
}
export type Architecture = keyof ArchitectureOptions;

/** A categorical field: one id (pooling none) or a list of ids pooled into one vector. */
export interface SparseField {
  readonly name: string;
  readonly type: 'sparse';
  readonly side: Side;
  readonly vocab: number;
  readonly dim: number;
  readonly pooling: Pooling;
  /** 'bucket': ids outside [0, vocab) read row `vocab` of a table with vocab + 1 rows. */
  readonly oov: 'error' | 'bucket';
}

/** A dense input: a list of `dim` finite floats. */
export interface DenseField {
  readonly name: string;
  readonly type: 'dense';
  readonly side: Side;
  readonly dim: number;
}

/** A per-item side feature of a sequence (a time-gap bucket, an action type): an id per item. */
export interface SequenceFeature {
  readonly name: string;
  readonly vocab: number;
}

/**
 * A user-history sequence (context only): the ids of the last items the user acted on, oldest first, in
 * the embedding table of the sparse target field `table` (the candidates' item id), at most `maxLength`
 * of them. Each side feature's embedding (table `embedding.<name>.<feature>`, the item table's dim) is
 * added to its item's vector. A request lists the ids under the field's name and each feature's ids under
 * `<name>.<feature>`, one per item (docs/sequences.md).
 */
export interface SequenceField {
  readonly name: string;
  readonly type: 'sequence';
  readonly side: 'context';
  readonly table: string;
  readonly maxLength: number;
  /** A longer history: 'truncate' keeps the last maxLength items (the most recent), 'error' refuses it. */
  readonly overflow: 'truncate' | 'error';
  readonly features: readonly SequenceFeature[];
}

export type Field = SparseField | DenseField | SequenceField;
/** The fields the native plans read: one vector per row (sequences are read by the compiled architectures only). */
export type FlatField = SparseField | DenseField;

export type { DlrmOptions } from '../zoo/dlrm/options.js';
export type { DeepFmOptions } from '../zoo/deepfm/options.js';
export type { Dcnv2Options } from '../zoo/dcnv2/options.js';
export type { RdcnOptions } from '../zoo/rdcn/options.js';
export type { AttentionOptions } from '../zoo/attention-options.js';
export type { AutoIntOptions } from '../zoo/autoint/options.js';
export type { RankAttentionOptions } from '../zoo/rank-attention/options.js';
export type { DinOptions } from '../zoo/din/options.js';
export type { BstOptions } from '../zoo/bst/options.js';

interface SpecBase {
  readonly format: typeof MODEL_FORMAT;
  readonly version: number;
  readonly name: string;
  readonly fields: readonly Field[];
  /** Activation applied to the final logit. */
  readonly output: 'sigmoid' | 'none';
  /** Layout of every nn.Linear-like weight in weights.safetensors: 'out_in' (PyTorch) or 'in_out' (Keras). */
  readonly linearLayout: 'out_in' | 'in_out';
}
export type ModelSpec = { [A in Architecture]: SpecBase & { readonly architecture: A; readonly options: ArchitectureOptions[A] } }[Architecture];

export type SpecOf<A extends Architecture> = Extract<ModelSpec, { architecture: A }>;

/** A loaded model: its validated spec and its weights in canonical layout (linear maps [out, in]). */
export interface Model {
  readonly spec: ModelSpec;
  readonly weights: TensorMap;
}
