/**
 * The models and requests the browser page scores, shared by the page (test/browser/main.ts) and by the
 * Vitest side (test/browser.test.ts), which scores the same seeded models in Node to compare.
 */
import type { InitOptions } from '../../src/index.js';
import { GraphBuilder } from '../../src/onnx/writer/graph.js';

export interface BrowserCase {
  readonly name: string;
  readonly model: InitOptions;
  /** Candidates in the request, and the request's seed for randomRequest. */
  readonly candidates: number;
  readonly requestSeed: number;
}

export const BROWSER_CASES: readonly BrowserCase[] = [
  { name: 'dlrm', model: { arch: 'dlrm', context: 6, target: 3, dim: 8, mlp: [16, 8], seed: 11 }, candidates: 37, requestSeed: 5 },
  { name: 'autoint', model: { arch: 'autoint', context: 5, target: 2, dim: 8, mlp: [16], seed: 12 }, candidates: 29, requestSeed: 6 },
];

/** Candidates of the DIN-like graph's request on onnxruntime-web (test/din-like.ts). */
export const DIN_CANDIDATES = 19;

/** Workers in the page's scorer. */
export const BROWSER_THREADS = 2;
/** Candidates per tile: small, so that every request is cut into several tiles and both workers score. */
export const BROWSER_TILE_ROWS = 8;

export interface CaseResult {
  readonly name: string;
  /** The worker pool's scores (wasm backend, BROWSER_THREADS workers). */
  readonly pool: number[];
  /** score(model, request, {backend: 'js'}) in the page: the float64 reference. */
  readonly reference: number[];
  readonly info: { readonly mode: string; readonly threads: number; readonly backend: string; readonly backendReason: string; readonly modeReason: string; readonly tileRows: number };
  readonly tiles: number;
  /** scorer.stats after the request: tiles run, retried, workers replaced. */
  readonly stats: { readonly tilesRun: number; readonly tilesRetried: number; readonly workersReplaced: number; readonly duplicateResults: number; readonly contextsSplit: number };
}

/** One equivalence case scored by the WebGPU backend in the page (compared there with the page's js reference). */
export interface GpuCaseResult {
  readonly name: string;
  readonly plan: string;
  readonly backend: string;
  readonly reason: string;
  readonly maxDiff: number;
  readonly finite: boolean;
}

/** What the page puts on `window.rankawareBrowserTest` when it is done. */
export interface PageResults {
  /** With `?webgpu` in the page's URL: the shared equivalence suite on WebGPU (navigator.gpu). */
  readonly webgpu?: { readonly loaded: { readonly name: string; readonly reason: string }; readonly cases: GpuCaseResult[] };
  readonly crossOriginIsolated: boolean;
  readonly sharedArrayBuffer: boolean;
  readonly userAgent: string;
  readonly cases: CaseResult[];
  /** onnxCase imported with rankaware/onnx and scored compiled in the page. */
  readonly onnx?: OnnxPageResult;
  /** With `?webgpu`: onnxCase's rank-aware graphs on onnxruntime-web (createOrtWebScorer) per execution provider. */
  readonly ortWeb?: Readonly<Record<string, { readonly scores: number[]; readonly cached: number[]; readonly reason: string }>>;
  /** Why the page stopped, when it did not finish. */
  readonly error?: string;
  /** console.error calls, uncaught errors and unhandled rejections seen by the page. */
  readonly errors: string[];
}

/** Seeded floats in [-0.5, 0.5) (a small LCG: the page and Node build the same graph). */
function floats(n: number, seed: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32 - 0.5;
  });
}

/**
 * An ONNX graph the page imports with `rankaware/onnx` and scores compiled: a two-tower-like model (context
 * u [1, 5] and a context id; candidate ids and x [N, 3]), a split first layer, LayerNorm, a dot product.
 */
export function onnxCase(): { readonly bytes: Uint8Array; readonly request: { context: Record<string, unknown>; candidates: Record<string, unknown>[] } } {
  const g = new GraphBuilder();
  g.input('ctx_u', 'float32', [1, 5]);
  g.input('ctx_c', 'int64', [1]);
  g.input('item', 'int64', ['N']);
  g.input('x', 'float32', ['N', 3]);
  const rows = g.op('Concat', [g.op('Shape', ['item']), g.int64s([1])], { axis: 0 });
  const user = g.op('Concat', ['ctx_u', g.op('Gather', [g.floats('ctab', floats(40, 1), [10, 4]), 'ctx_c'])], { axis: 1 });
  const item = g.op('Concat', [g.op('Gather', [g.floats('itab', floats(48, 2), [12, 4]), 'item']), 'x'], { axis: 1 });
  const h = g.op('Relu', [g.op('Gemm', [g.op('Concat', [g.op('Expand', [user, rows]), item], { axis: 1 }), g.floats('w1', floats(16 * 6, 3), [6, 16]), g.floats('b1', floats(6, 4), [6])], { transB: 1 })]);
  const ln = g.op('LayerNormalization', [h, g.floats('s', floats(6, 5), [6]), g.floats('b', floats(6, 6), [6])], { axis: -1 });
  const u = g.op('MatMul', [user, g.floats('wu', floats(9 * 6, 7), [9, 6])]);
  const dot = g.op('ReduceSum', [g.op('Mul', [ln, u]), g.int64s([1])], { keepdims: 1 });
  g.output('score', g.op('Sigmoid', [dot]), 'float32', ['N', 1]);
  const candidates = Array.from({ length: 23 }, (_, i) => ({ item: (i * 7) % 12, x: [i / 23, -0.25, 0.5 - i / 46] }));
  return { bytes: g.encode('browser-onnx', ''), request: { context: { ctx_u: [0.3, -0.2, 0.9, 0.1, -0.7], ctx_c: 4 }, candidates } };
}

/** The page's scores of onnxCase, compiled, per plan and engine. */
export interface OnnxPageResult {
  readonly scores: Readonly<Record<string, number[]>>;
  readonly backends: Readonly<Record<string, string>>;
}
