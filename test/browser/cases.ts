/**
 * The models and requests the browser page scores, shared by the page (test/browser/main.ts) and by the
 * Vitest side (test/browser.test.ts), which scores the same seeded models in Node to compare.
 */
import type { InitOptions } from '../../src/index.js';

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
  /** Why the page stopped, when it did not finish. */
  readonly error?: string;
  /** console.error calls, uncaught errors and unhandled rejections seen by the page. */
  readonly errors: string[];
}
