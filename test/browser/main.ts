/**
 * The browser test page: for each case of cases.ts, scores a seeded random model with a worker-pool
 * scorer (wasm backend, two workers) and with the page's js reference, and puts everything on
 * `window.rankawareBrowserTest` for test/browser.test.ts to read.
 */
import { createScorer, loadBackend, randomModel, randomRequest, score, scoreAsync } from '../../src/index.js';
import { equivalenceCases } from '../cases.js';
import { createOrtWebScorer, createScorer as createOnnxScorer, importOnnx } from '../../src/onnx/browser.js';
import { BROWSER_CASES, BROWSER_THREADS, BROWSER_TILE_ROWS, DIN_CANDIDATES, onnxCase } from './cases.js';
import { dinLike, dinLikeRequest } from '../din-like.js';
import type { CaseResult, GpuCaseResult, OnnxPageResult, PageResults } from './cases.js';

declare global {
  interface Window {
    rankawareBrowserTest?: PageResults;
  }
}

const errors: string[] = [];
const describe = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) => {
  errors.push(args.map(describe).join(' '));
  consoleError(...args);
};
window.addEventListener('error', (event) => errors.push(`uncaught: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => errors.push(`unhandled rejection: ${describe(event.reason)}`));

async function runCase(c: (typeof BROWSER_CASES)[number]): Promise<CaseResult> {
  const model = randomModel(c.model);
  const request = randomRequest(model.spec, c.candidates, c.requestSeed);
  const reference = score(model, request, { backend: 'js' }).scores;
  const scorer = await createScorer(model, { backend: 'wasm', threads: BROWSER_THREADS, tileRows: BROWSER_TILE_ROWS });
  try {
    const result = await scorer.score(request);
    const { mode, threads, backend, backendReason, modeReason, tileRows } = scorer.info;
    return { name: c.name, pool: result.scores, reference, info: { mode, threads, backend, backendReason, modeReason, tileRows }, tiles: result.timing.tiles, stats: scorer.stats };
  } finally {
    scorer.dispose();
  }
}

/** The shared equivalence suite on WebGPU in this page, each case against the page's js reference. */
async function runGpuCases(): Promise<NonNullable<PageResults['webgpu']>> {
  const loaded = await loadBackend('webgpu');
  const cases: GpuCaseResult[] = [];
  for (const c of equivalenceCases())
    for (const plan of ['rank-aware', 'vanilla'] as const) {
      const reference = score(c.model, c.request, { plan }).scores;
      const result = await scoreAsync(c.model, c.request, { backend: 'webgpu', plan });
      const maxDiff = result.scores.reduce((m, x, i) => Math.max(m, Math.abs(x - reference[i]!)), 0);
      cases.push({ name: c.name, plan, backend: result.backend, reason: result.reason, maxDiff, finite: result.scores.every(Number.isFinite) && result.scores.length === reference.length });
    }
  return { loaded: { name: loaded.name, reason: loaded.reason }, cases };
}

/**
 * An ONNX graph imported in the page (rankaware/onnx) and scored compiled on both engines and plans, and
 * through createScorer with a worker (module Worker) beside the page's thread, the request split across both.
 */
async function runOnnx(): Promise<OnnxPageResult> {
  const { bytes, request } = onnxCase();
  const model = importOnnx(bytes, { context: 'ctx_' });
  const scores: Record<string, number[]> = {};
  const backends: Record<string, string> = {};
  for (const [plan, engine] of [['rank-aware', 'wasm'], ['vanilla', 'wasm'], ['rank-aware', 'js']] as const) {
    const r = model.score(request, plan, engine);
    scores[`${plan} ${engine}`] = r.scores;
    backends[`${plan} ${engine}`] = r.backend;
  }
  const scorer = await createOnnxScorer(model, { threads: 2, splitRows: 2 });
  try {
    const r = await scorer.score(request);
    scores['scorer threads 2 wasm'] = r.scores;
    backends['scorer threads 2 wasm'] = `${r.backend}`;
  } finally {
    scorer.dispose();
  }
  return { scores, backends };
}

/** onnxCase's and the DIN-like graph's rank-aware graphs on onnxruntime-web, as a page runs them: its WebGPU provider and its wasm one. */
async function runOrtWeb(): Promise<NonNullable<PageResults['ortWeb']>> {
  const ort = await import('onnxruntime-web/webgpu');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const out: Record<string, { scores: number[]; cached: number[]; reason: string }> = {};
  // onnxCase, and the DIN-like graph whose candidate stage is fused (one Gemm against the history, one MatMul).
  const graphs = [['', importOnnx(onnxCase().bytes, { context: 'ctx_' }), onnxCase().request], ['din ', importOnnx(dinLike({}), { context: ['u'] }), dinLikeRequest(DIN_CANDIDATES)]] as const;
  for (const [name, model, request] of graphs) {
    for (const provider of ['webgpu', 'wasm']) {
      const scorer = await createOrtWebScorer(model, { ort, executionProviders: [provider], maxContexts: 2 });
      try {
        const scores = (await scorer.score(request)).scores;
        await scorer.score(request, { contextKey: 'me' });
        out[`${name}${provider}`] = { scores, cached: (await scorer.score(request, { contextKey: 'me' })).scores, reason: scorer.info.reason };
      } finally {
        await scorer.dispose();
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const cases: CaseResult[] = [];
  let error: string | undefined;
  let webgpu: PageResults['webgpu'];
  let onnx: OnnxPageResult | undefined;
  let ortWeb: PageResults['ortWeb'];
  try {
    for (const c of BROWSER_CASES) cases.push(await runCase(c));
    onnx = await runOnnx();
    if (new URLSearchParams(location.search).has('webgpu')) {
      webgpu = await runGpuCases();
      ortWeb = await runOrtWeb();
    }
  } catch (e) {
    error = describe(e);
    consoleError(e);
  }
  window.rankawareBrowserTest = {
    crossOriginIsolated: window.crossOriginIsolated,
    sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
    userAgent: navigator.userAgent,
    cases,
    ...(onnx ? { onnx } : {}),
    ...(webgpu ? { webgpu } : {}),
    ...(ortWeb ? { ortWeb } : {}),
    errors,
    ...(error === undefined ? {} : { error }),
  };
  document.getElementById('status')!.textContent = JSON.stringify(window.rankawareBrowserTest, null, 2);
}

void main();
