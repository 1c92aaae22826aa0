/**
 * What an architecture of the zoo is made of. Each src/zoo/<arch>/index.ts exports one ArchDef; the
 * registry (registry.ts) holds them typed by Architecture, so an architecture without one of these parts
 * does not compile. Its ONNX export is the other half (onnx.ts), kept apart so that the browser bundle
 * carries no ONNX code.
 */
import type { Json } from '../model/parse.js';
import type { Architecture, SpecOf } from '../model/spec.js';
import type { PlanBuilder } from '../plan/builder.js';
import type { Slice } from '../plan/ir.js';
import type { WeightDecl } from './weight-decls.js';

/** One shape of the equivalence suite (test/cases.ts): K context and M target fields of dim D, N candidates. */
export interface CaseShape {
  readonly K: number;
  readonly M: number;
  readonly D: number;
  readonly N: number;
  readonly options?: Record<string, unknown>;
  /** Add pooled context fields (sum and mean). */
  readonly pooled?: boolean;
  /** Add a dense field on this side. */
  readonly dense?: 'context' | 'target';
  readonly oov?: boolean;
  readonly mlp?: number[];
}

export interface ArchDef<A extends Architecture> {
  readonly architecture: A;
  /** model.json `options`, parsed with defaults filled in; throws a RankawareError naming the key. */
  parseOptions(o: Json, at: string): SpecOf<A>['options'];
  /** Whether every embedding dim must be equal (the architecture interacts field vectors). */
  readonly equalDims: boolean;
  /** Field rules of its own, after the common ones (spec.ts). */
  checkFields(spec: SpecOf<A>): void;
  /** Its weights beyond the embedding tables, in canonical shape (docs/model-format.md lists them). */
  declareWeights(spec: SpecOf<A>, decls: WeightDecl[]): void;
  /**
   * The planner: emits the plan's ops for the spec's mode (vanilla or rank-aware) and returns the logit or
   * score slice. Absent for the sequence architectures (din, bst): their ONNX export is compiled by the
   * ONNX compiler (src/onnx/compiler), whose passes make it rank-aware (src/onnx/native-graph.ts).
   */
  readonly plan?: (b: PlanBuilder, spec: SpecOf<A>) => Slice;
  /** Whether it reads sequence fields (user histories); the other architectures refuse them. */
  readonly readsSequences?: boolean;
  /** The options of a random model (`rankaware init`, randomModel) with main MLP `mlp` and embedding dim `dim`. */
  defaultOptions(mlp: readonly number[], dim: number): Record<string, unknown>;
  /** The fewest context fields `rankaware init` accepts (1 where the model has a context stream). */
  readonly minContext: number;
  /** Its shapes in the equivalence suite, beyond the odd shapes every architecture runs. */
  readonly cases: readonly CaseShape[];
}
