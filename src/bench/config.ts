/**
 * What each suite measures: the models, candidate counts, thread counts and how long to time them, in
 * full and --quick mode. Tests pass a tiny configuration of the same shape.
 */
import type { Field } from '../model/spec.js';
import type { InitOptions } from '../model/random.js';
import type { PeerName } from './peer.js';
import type { Timing } from './measure.js';

export type SuiteName = 'table3' | 'fig2' | 'peers' | 'cold';
export const SUITES: readonly SuiteName[] = ['table3', 'fig2', 'peers', 'cold'];

/** A benchmark model: a seeded random model of this shape (weights do not change the timing). */
export interface BenchModel {
  readonly name: string;
  readonly init: InitOptions;
}

export interface Table3Config {
  /** Candidates per request for the FLOP counts and the timing. */
  readonly n: number;
}

export interface Fig2Config {
  /** K sweep (at M = fixedTarget) and M sweep (at K = fixedContext); the baseline is (fixedContext, fixedTarget). */
  readonly contexts: readonly number[];
  readonly targets: readonly number[];
  readonly fixedContext: number;
  readonly fixedTarget: number;
  readonly dim: number;
  readonly mlp: readonly number[];
  readonly n: number;
}

export interface PeersConfig {
  readonly models: readonly BenchModel[];
  readonly ns: readonly number[];
  readonly threads: readonly number[];
  readonly peers: readonly PeerName[];
  /** Also time the ort backend: our rank-aware plan as ONNX on onnxruntime-node (src/onnx/ort). */
  readonly ort?: boolean;
  /** Time the peers only (the process onnxruntime-web runs in alone at more than one thread). */
  readonly peersOnly?: boolean;
}

export type ColdBackend = 'js' | 'wasm' | PeerName;
export const COLD_BACKENDS: readonly ColdBackend[] = ['js', 'wasm', 'ort-node', 'ort-web'];

export interface ColdConfig {
  readonly models: readonly BenchModel[];
  readonly backends: readonly ColdBackend[];
  /** Fresh processes per backend and model (the median is reported). */
  readonly repeats: number;
  readonly n: number;
}

export interface BenchConfig {
  readonly mode: 'full' | 'quick' | 'custom';
  readonly timing: Timing;
  readonly table3: Table3Config;
  readonly fig2: Fig2Config;
  readonly peers: PeersConfig;
  readonly cold: ColdConfig;
}

/** Vocabulary of the benchmark models: lookups cost the same for any size; small keeps memory low. */
const VOCAB = 100;

/** The peer models: the DLRM of the paper's Table 3 (K=27, M=4, D=128), and mid-sized DCNv2, AutoInt and rDCN with K=20, M=6, D=16. */
export const PEER_MODELS: readonly BenchModel[] = [
  { name: 'dlrm', init: { arch: 'dlrm', context: 27, target: 4, dim: 128, mlp: [512, 256], vocab: VOCAB } },
  { name: 'dcnv2', init: { arch: 'dcnv2', context: 20, target: 6, dim: 16, mlp: [256, 128], options: { layers: 3 }, vocab: VOCAB } },
  { name: 'autoint', init: { arch: 'autoint', context: 20, target: 6, dim: 16, mlp: [256, 128], options: { layers: 2, heads: 2, headDim: 8 }, vocab: VOCAB } },
  { name: 'rdcn', init: { arch: 'rdcn', context: 20, target: 6, dim: 16, mlp: [256, 128], options: { layers: 3 }, vocab: VOCAB } },
];

export function benchConfig(quick: boolean): BenchConfig {
  const sweep = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
  return {
    mode: quick ? 'quick' : 'full',
    timing: quick ? { seconds: 0.2, minRounds: 3, maxRounds: 200, warmupMs: 400 } : { seconds: 1.5, minRounds: 10, maxRounds: 2000, warmupMs: 1500 },
    table3: { n: 256 },
    fig2: { contexts: sweep(8, 24, quick ? 8 : 2), targets: sweep(4, 24, quick ? 10 : 4), fixedContext: 8, fixedTarget: 4, dim: 128, mlp: [512, 256], n: 256 },
    peers: { models: PEER_MODELS, ns: quick ? [16, 256] : [16, 64, 256, 1024], threads: [1, 2], peers: ['ort-node', 'ort-web'], ort: true },
    cold: { models: quick ? PEER_MODELS.slice(0, 1) : PEER_MODELS, backends: COLD_BACKENDS, repeats: quick ? 3 : 7, n: 256 },
  };
}

/**
 * Fields of widths summing to exactly `contextWidth` and `targetWidth` (Table 3's DCN-style d_c = 514
 * over K = 26 fields and d_t = 577 over M = 16 are not multiples of the field counts): the remainder is
 * spread one column at a time over the first fields of each side. Context fields first, then targets.
 */
export function fieldsOfWidth(context: number, contextWidth: number, target: number, targetWidth: number, vocab = VOCAB): Field[] {
  const side = (count: number, width: number, s: 'context' | 'target', prefix: string): Field[] =>
    Array.from({ length: count }, (_, i) => ({
      name: `${prefix}${i}`,
      type: 'sparse' as const,
      side: s,
      vocab,
      dim: Math.floor(width / count) + (i < width % count ? 1 : 0),
      pooling: 'none' as const,
      oov: 'error' as const,
    }));
  return [...side(context, contextWidth, 'context', 'c'), ...side(target, targetWidth, 'target', 't')];
}
