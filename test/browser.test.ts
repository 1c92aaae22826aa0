/**
 * The library's browser path in a real browser: Debian's Chromium (/usr/bin/chromium, installed by
 * scripts/ensure-chromium.mjs) driven by playwright-core, loading test/browser/index.html from a Vite dev
 * server on 127.0.0.1. Two servers: one cross-origin isolated (COOP/COEP), where the scorer must put the
 * weights in shared memory, and one not, where each of the two Web Workers gets its own copy. Either way the
 * worker pool's scores must equal the page's js reference and the same model scored here in Node.
 *
 * No skipping: if Chromium cannot be launched, every test here fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createServer } from 'vite';
import type { ViteDevServer } from 'vite';
import { randomModel, randomRequest, score } from '../src/index.js';
import { rankawareViteConfig } from '../vite.config.js';
import { BROWSER_CASES, BROWSER_THREADS, DIN_CANDIDATES, onnxCase } from './browser/cases.js';
import { importOnnx } from '../src/onnx/model.js';
import { exportRankAwareOnnx } from '../src/onnx/rank-aware-onnx.js';
import { dinLike, dinLikeRequest } from './din-like.js';
import { CHROMIUM, launchChromium, watchPage } from './browser/chromium.js';
import { equivalenceCases } from './cases.js';
import type { PageResults } from './browser/cases.js';

const PAGE = '/test/browser/index.html';
const TOLERANCE = 1e-5;
/** docs/backends.md: WebGPU scores within 1e-4 absolute of the float64 reference. */
const GPU_TOLERANCE = 1e-4;

type Variant = 'isolated' | 'not-isolated';

interface Loaded {
  readonly results: PageResults;
  /** Console errors, uncaught page errors and failed requests seen by the test (the page and its workers). */
  readonly problems: string[];
}

let launched: Promise<Browser> | undefined;
const servers = new Map<Variant, ViteDevServer>();
const pages = new Map<Variant, Promise<Loaded>>();

async function startServer(variant: Variant): Promise<string> {
  const config = rankawareViteConfig({ crossOriginIsolated: variant === 'isolated' });
  const server = await createServer({
    ...config,
    configFile: false,
    logLevel: 'warn',
    // onnxruntime-web finds its .wasm beside its module: pre-bundled into .vite/deps it would not.
    optimizeDeps: { ...config.optimizeDeps, exclude: [...(config.optimizeDeps?.exclude ?? []), 'onnxruntime-web'] },
    server: {
      ...config.server,
      host: '127.0.0.1',
      port: 0,
      strictPort: false,
      hmr: false,
      watch: null,
    },
  });
  servers.set(variant, server);
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error(`the ${variant} Vite server has no TCP address`);
  return `http://127.0.0.1:${address.port}`;
}

/** Chromium, launched once by the first test that needs it (so that a launch failure fails every test). */
function browser(): Promise<Browser> {
  launched ??= launchChromium();
  return launched;
}

async function loadPage(variant: Variant): Promise<Loaded> {
  const [chromiumBrowser, origin] = await Promise.all([browser(), startServer(variant)]);
  const context = await chromiumBrowser.newContext();
  const tab = await context.newPage();
  const problems = watchPage(tab, origin);
  // The isolated page also runs the equivalence suite on WebGPU (SwiftShader here: slow pipeline compiles).
  await tab.goto(origin + PAGE + (variant === 'isolated' ? '?webgpu' : ''));
  await tab.waitForFunction(() => (window as { rankawareBrowserTest?: unknown }).rankawareBrowserTest !== undefined, null, { timeout: 300_000 });
  const results = await tab.evaluate(() => (window as unknown as { rankawareBrowserTest: PageResults }).rankawareBrowserTest);
  await context.close();
  return { results, problems };
}

function page(variant: Variant): Promise<Loaded> {
  let loaded = pages.get(variant);
  if (!loaded) pages.set(variant, (loaded = loadPage(variant)));
  return loaded;
}

/** The same seeded models and requests, scored here in Node by the js reference. */
const nodeScores = new Map(
  BROWSER_CASES.map((c) => {
    const model = randomModel(c.model);
    return [c.name, score(model, randomRequest(model.spec, c.candidates, c.requestSeed), { backend: 'js' }).scores] as const;
  }),
);

function maxDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

beforeAll(() => {
  // Both pages load at once; each test awaits its own (and fails with its error).
  for (const variant of ['isolated', 'not-isolated'] as const) page(variant).catch(() => {});
});

afterAll(async () => {
  await launched?.then((b) => b.close(), () => {});
  await Promise.all([...servers.values()].map((s) => s.close()));
}, 60_000);

it(`launches Debian's Chromium from ${CHROMIUM}`, async () => {
  const version = (await browser()).version();
  expect(version).toMatch(/^\d+\./);
}, 60_000);

describe.each([
  { variant: 'isolated' as const, isolated: true, mode: 'shared-memory' },
  { variant: 'not-isolated' as const, isolated: false, mode: 'copied-weights' },
])('Chromium, $variant page', ({ variant, isolated, mode }) => {
  it('loads without console errors, uncaught errors or failed requests', async () => {
    const { results, problems } = await page(variant);
    expect(results.error).toBeUndefined();
    expect(results.errors).toEqual([]);
    expect(problems).toEqual([]);
  }, 330_000);

  it(`is ${isolated ? '' : 'not '}cross-origin isolated, and the scorer runs ${mode} on ${BROWSER_THREADS} workers`, async () => {
    const { results } = await page(variant);
    expect(results.crossOriginIsolated).toBe(isolated);
    expect(results.sharedArrayBuffer).toBe(isolated);
    expect(results.cases.map((c) => c.name)).toEqual(BROWSER_CASES.map((c) => c.name));
    for (const c of results.cases) {
      expect(c.info.mode).toBe(mode);
      expect(c.info.threads).toBe(BROWSER_THREADS);
      expect(c.info.backend).toBe('wasm');
      // No worker threw, died or had to be replaced on the way.
      expect(c.stats).toMatchObject({ tilesRun: c.tiles, tilesRetried: 0, workersReplaced: 0, duplicateResults: 0, contextsSplit: 0 });
    }
  }, 330_000);

  it('scores on the worker pool equal the js reference in the page and in Node within 1e-5', async () => {
    const { results } = await page(variant);
    expect(results.cases.length).toBe(BROWSER_CASES.length);
    for (const c of results.cases) {
      const node = nodeScores.get(c.name)!;
      expect(c.pool.length).toBe(node.length);
      // The request was cut into more than one tile, so both workers had work.
      expect(c.tiles).toBeGreaterThan(1);
      expect(maxDiff(c.pool, c.reference), `${c.name}: pool vs page reference`).toBeLessThan(TOLERANCE);
      expect(maxDiff(c.reference, node), `${c.name}: page reference vs Node`).toBeLessThan(TOLERANCE);
      expect(maxDiff(c.pool, node), `${c.name}: pool vs Node`).toBeLessThan(TOLERANCE);
    }
  }, 330_000);
});

/** onnxCase's scores on the float64 interpreter in Node: what the page's scores are checked against. */
function onnxCaseReference(): number[] {
  const { bytes, request } = onnxCase();
  return importOnnx(bytes, { context: 'ctx_' }).score(request, 'interpret').scores;
}

describe('Chromium, the rank-aware graphs on onnxruntime-web (createOrtWebScorer, rankaware/onnx)', () => {
  it('scores on its WebGPU provider within 1e-4 and its wasm provider within 1e-5 of the float64 interpreter, the context cache too (a fused DIN-like graph too)', async () => {
    const { results } = await page('isolated');
    expect(results.error).toBeUndefined();
    const want = onnxCaseReference();
    const ortWeb = results.ortWeb!;
    expect(Object.keys(ortWeb).sort()).toEqual(['din wasm', 'din webgpu', 'wasm', 'webgpu']);
    // The DIN-like graph: its candidate stage fused (one Gemm against the history, one MatMul for the weighted sum).
    const din = importOnnx(dinLike({}), { context: ['u'] });
    expect(exportRankAwareOnnx(din).fusions.map((f) => f.split(' ')[0])).toEqual(['target-attention', 'weighted-sum']);
    const dinWant = din.score(dinLikeRequest(DIN_CANDIDATES), 'interpret').scores;
    for (const [provider, tolerance] of [['webgpu', GPU_TOLERANCE], ['wasm', TOLERANCE]] as const) {
      for (const [key, reference] of [[provider, want], [`din ${provider}`, dinWant]] as const) {
        expect(ortWeb[key]!.reason).toMatch(new RegExp(`on onnxruntime-web, ${provider}`));
        expect(maxDiff(ortWeb[key]!.scores, reference), key).toBeLessThanOrEqual(tolerance);
        expect(maxDiff(ortWeb[key]!.cached, reference), `${key}, cached context`).toBeLessThanOrEqual(tolerance);
      }
    }
  });
});

describe('Chromium, an ONNX graph imported in the page (rankaware/onnx) and scored compiled', () => {
  it('scores on wasm and js, rank-aware and vanilla, and through createScorer with a worker, as the float64 interpreter in Node within 1e-5', async () => {
    const { results } = await page('not-isolated');
    expect(results.error).toBeUndefined();
    const want = onnxCaseReference();
    const onnx = results.onnx!;
    expect(Object.keys(onnx.scores).sort()).toEqual(['rank-aware js', 'rank-aware wasm', 'scorer threads 2 wasm', 'vanilla wasm']);
    for (const [key, got] of Object.entries(onnx.scores)) {
      expect(onnx.backends[key]).toBe(key.split(' ').at(-1));
      expect(got.length).toBe(want.length);
      expect(maxDiff(got, want), key).toBeLessThan(TOLERANCE);
    }
  }, 330_000);
});

describe('Chromium, WebGPU (navigator.gpu; SwiftShader with the flags of test/browser/chromium.ts)', () => {
  it(`the shared equivalence suite scores within ${GPU_TOLERANCE} of the page's js reference, on WebGPU`, async () => {
    const { results } = await page('isolated');
    expect(results.error).toBeUndefined();
    const gpu = results.webgpu!;
    expect(gpu.loaded.name, gpu.loaded.reason).toBe('webgpu');
    expect(gpu.cases.length).toBe(2 * equivalenceCases().length);
    for (const c of gpu.cases) {
      expect(c.backend, `${c.name} ${c.plan}: ${c.reason}`).toBe('webgpu');
      expect(c.finite, `${c.name} ${c.plan}`).toBe(true);
      expect(c.maxDiff, `${c.name} ${c.plan}`).toBeLessThanOrEqual(GPU_TOLERANCE);
    }
  }, 330_000);
});
