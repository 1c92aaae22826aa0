/**
 * The demo page in Chromium: built as `npm run demo` builds it (demo/vite.config.ts, into its own output
 * folder) and served by Vite's preview server with COOP/COEP on 127.0.0.1. One page is driven through the
 * tests below in order: it loads without console errors; the scores it shows equal the Node reference
 * for the same request (js backend, 1e-5) on the WASM worker pool and on JS, also after the viewer is
 * edited through the form; the WebGPU option is shown as unavailable with its reason (or, once the library
 * has the backend, runs within 1e-4); vanilla and rank-aware agree; the K/M sweep draws both panels; a
 * throughput run per backend is written to bench/results/demo-throughput.json; a screenshot of the main
 * view shows the key elements.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { build, preview } from 'vite';
import type { PreviewServer } from 'vite';
import { compileModel, loadModelDir, score } from '../src/node.js';
import type { Model } from '../src/node.js';
import { demoViteConfig } from '../demo/vite.config.js';
import type { DemoHook } from '../demo/src/main.js';
import type { requestFor } from '../demo/src/vocab.js';
import { launchChromium, watchPage } from './browser/chromium.js';

declare global {
  interface Window {
    rankawareDemo?: DemoHook;
  }
}

const OUT_DIR = fileURLToPath(new URL('../build/demo-test/', import.meta.url));
const MODEL_DIR = fileURLToPath(new URL('../demo/public/model/', import.meta.url));
const DIN_DIR = fileURLToPath(new URL('../demo/public/din/', import.meta.url));
const REPORT = fileURLToPath(new URL('../bench/results/demo-throughput.json', import.meta.url));
const TOLERANCE = 1e-5;
const WEBGPU_TOLERANCE = 1e-4;
const VIEWPORT = { width: 1280, height: 1000 };
/** Candidates per request in the throughput runs: the whole catalog. */
const THROUGHPUT_N = 1000;

type DemoRequest = ReturnType<typeof requestFor>;

let server: PreviewServer;
let browser: Browser;
let page: Page;
let origin: string;
let problems: string[];
let documentHeaders: Record<string, string>;
let model: Model;
let din: Model;

beforeAll(async () => {
  const config = demoViteConfig();
  await build({ ...config, configFile: false, logLevel: 'warn', build: { ...config.build, outDir: OUT_DIR } });
  server = await preview({ ...config, configFile: false, logLevel: 'warn', build: { ...config.build, outDir: OUT_DIR }, preview: { ...config.preview, port: 0, strictPort: false } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('the preview server has no TCP address');
  origin = `http://127.0.0.1:${address.port}`;
  model = await loadModelDir(MODEL_DIR);
  din = await loadModelDir(DIN_DIR);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: VIEWPORT });
  problems = watchPage(page, origin);
  const response = await page.goto(origin + '/');
  documentHeaders = response?.headers() ?? {};
  await waitReady();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 60_000);

async function waitReady(): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== 'ready') throw new Error(`the demo is in state ${state}: ${await page.textContent('#error')}`);
}

const hook = <T>(fn: (demo: DemoHook) => T | Promise<T>): Promise<T> =>
  page.evaluate(`(${fn.toString()})(window.rankawareDemo)`) as Promise<T>;

interface ShownRow {
  readonly id: number;
  readonly score: number;
  readonly text: string;
}

function shownRows(): Promise<ShownRow[]> {
  return page.$$eval('#ranking tbody tr', (rows) =>
    rows.map((r) => ({ id: Number((r as HTMLElement).dataset.itemId), score: Number((r as HTMLElement).dataset.score), text: r.querySelector('.value')!.textContent ?? '' })),
  );
}

/** The page's shown ranking and all its scores against the js reference in Node on the same request (the DLRM's, or `reference`). */
async function expectScoresEqualNode(tolerance: number, reference = (request: DemoRequest) => score(model, request, { backend: 'js', plan: 'rank-aware' }).scores): Promise<{ request: DemoRequest; rows: ShownRow[] }> {
  const request = (await hook((d) => d.lastRequest()))!;
  const pageScores = (await hook((d) => d.lastScores()))!;
  const node = reference(request);
  expect(pageScores.length).toBe(node.length);
  pageScores.forEach((s, i) => expect(Math.abs(s - node[i]!), `candidate ${i}`).toBeLessThan(tolerance));
  const rows = await shownRows();
  expect(rows.length).toBe(20);
  const indexOf = new Map(request.candidates.map((c, i) => [c.item_id, i]));
  for (const row of rows) {
    const expected = node[indexOf.get(row.id)!]!;
    expect(Math.abs(row.score - expected), `item ${row.id}`).toBeLessThan(tolerance);
    // The 4 decimals shown are the reference's, up to rounding at the last digit.
    expect(Math.abs(Number(row.text) - expected)).toBeLessThanOrEqual(5e-5 + tolerance);
  }
  // The rows are the top of the reference's ranking, best first.
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.score).toBeLessThanOrEqual(rows[i - 1]!.score);
  const shown = new Set(rows.map((r) => r.id));
  const lowestShown = Math.min(...rows.map((r) => node[indexOf.get(r.id)!]!));
  request.candidates.forEach((c, i) => {
    if (!shown.has(c.item_id)) expect(node[i]!).toBeLessThanOrEqual(lowestShown + tolerance);
  });
  return { request, rows };
}

describe('the demo page in Chromium', () => {
  it('is served with COOP/COEP, is cross-origin isolated and loads without console errors or failed requests', async () => {
    expect(documentHeaders['cross-origin-opener-policy']).toBe('same-origin');
    expect(documentHeaders['cross-origin-embedder-policy']).toBe('require-corp');
    expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
    expect(await page.textContent('#isolation-status')).toContain('yes');
    expect(problems).toEqual([]);
  });

  it('starts on auto = WASM with two workers sharing the weights (the multi-worker path), and its scores equal the Node reference', async () => {
    const info = (await hook((d) => d.info()))!;
    expect(info).toMatchObject({ backend: 'wasm', threads: 2, workers: 2, mode: 'shared-memory', plan: 'rank-aware' });
    expect(await page.textContent('#backend-status')).toBe('backend: WASM');
    expect(await page.textContent('#threads-status')).toContain('2 workers');
    // The library's auto policy: SwiftShader is a CPU emulation, slower than WASM on the same cores.
    expect(await page.textContent('#backend-why')).toMatch(/^auto: the only WebGPU adapter is .*SwiftShader.*; using wasm/i);
    // Both workers got a tile of this request.
    expect(await page.textContent('#timing-tiles')).toBe('2 on 2 threads');
    for (const id of ['#timing-context', '#timing-candidates', '#timing-total']) expect(await page.textContent(id)).toMatch(/\d/);
    await expectScoresEqualNode(TOLERANCE);
  });

  it('reranks live when the viewer is edited in the form, and the new scores equal the Node reference', async () => {
    const before = (await shownRows()).map((r) => r.id);
    await page.selectOption('#time-of-day', { label: 'late night' });
    await page.selectOption('#device', { label: 'phone' });
    await page.selectOption('#favorite-genre', { label: 'Horror' });
    await page.fill('#history-input', 'The Shining');
    await page.click('#history-add');
    await page.click('#history li[data-item-id="50"] button'); // The Shining, removed again
    await page.fill('#history-input', 'Saw');
    await page.press('#history-input', 'Enter');
    // Saw (id 129) comes first, then the three films the page starts with.
    await page.waitForFunction(() => {
      const history = window.rankawareDemo!.lastRequest()?.context.history ?? [];
      return history.length === 4 && history[0] === 129 && document.body.dataset.state === 'ready';
    });
    await waitReady();
    const { request, rows } = await expectScoresEqualNode(TOLERANCE);
    expect(request.context).toMatchObject({ time_of_day: 3, device: 0, favorite_genre: 5 });
    const titles = (await page.$$eval('#history li[data-item-id]', (lis) => lis.map((li) => li.textContent ?? ''))).join('|');
    expect(titles).toContain('Saw');
    expect(titles).not.toContain('The Shining');
    expect(rows.map((r) => r.id)).not.toEqual(before);
  });

  it('runs on the JS backend when selected, with the same scores as Node', async () => {
    await page.selectOption('#backend-select', 'js');
    await page.waitForFunction(() => document.querySelector('#backend-status')?.textContent === 'backend: JS');
    await waitReady();
    expect(await hook((d) => d.info()?.backend)).toBe('js');
    expect(await page.textContent('#backend-why')).toContain('chosen by hand');
    await expectScoresEqualNode(TOLERANCE);
  });

  it('offers WebGPU only when the library can run it: unavailable with its reason, or running within 1e-4', async () => {
    const webgpu = (await hook((d) => d.availability()))!.find((a) => a.backend === 'webgpu')!;
    const option = page.locator('#backend-select option[value="webgpu"]');
    expect(await option.isDisabled()).toBe(!webgpu.available);
    expect(await option.getAttribute('title')).toBe(webgpu.reason);
    expect(await page.textContent('#backend-availability li[data-backend="webgpu"]')).toContain(webgpu.reason);
    if (!webgpu.available) {
      expect(webgpu.reason).toMatch(/webgpu/i);
      expect(await option.textContent()).toBe('WebGPU (unavailable)');
    } else {
      await page.selectOption('#backend-select', 'webgpu');
      await page.waitForFunction(() => document.querySelector('#backend-status')?.textContent === 'backend: WebGPU');
      await waitReady();
      await expectScoresEqualNode(WEBGPU_TOLERANCE);
    }
  });

  it('shows vanilla and rank-aware side by side: equal scores, fewer FLOPs for rank-aware', async () => {
    await page.selectOption('#backend-select', 'wasm');
    await page.waitForFunction(() => document.querySelector('#backend-status')?.textContent === 'backend: WASM');
    await waitReady();
    const c = (await hook((d) => d.lastComparison()))!;
    expect(c.maxScoreDiff).toBeLessThan(TOLERANCE);
    expect(c.rankAware.flops).toBeLessThan(c.vanilla.flops);
    expect(c.rankAware.medianMs).toBeGreaterThan(0);
    expect(c.vanilla.medianMs).toBeGreaterThan(0);
    expect(await page.textContent('#compare-max-diff')).toBe(c.maxScoreDiff.toExponential(2));
    expect(await page.textContent('#compare-flop-ratio')).toBe(`${(c.vanilla.flops / c.rankAware.flops).toFixed(2)}x fewer`);
  });

  it('scores with the DIN over the ordered history when chosen: exact against Node, the history stage timed, fewer FLOPs rank-aware', async () => {
    await page.selectOption('#model-select', 'din');
    await page.waitForFunction(() => document.body.dataset.model === 'din' && window.rankawareDemo!.lastRequest()?.context && 'history.genre' in window.rankawareDemo!.lastRequest()!.context);
    await waitReady();
    const info = (await hook((d) => d.info()))!;
    expect(info).toMatchObject({ backend: 'wasm', threads: 2, plan: 'rank-aware' });
    // The compiled DIN in Node, on js: the page's workers (wasm) must agree within float32 tolerance.
    const compiled = compileModel(din);
    const { request } = await expectScoresEqualNode(TOLERANCE, (r) => compiled.score(r, 'rank-aware', 'js').scores);
    // The list shows the most recent film first; the model reads the history oldest first, with each film's genre.
    const shown = await page.$$eval('#history li[data-item-id]', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.itemId)));
    const context = request.context as DemoRequest['context'] & { 'history.genre': number[] };
    expect(context.history).toEqual([...shown].reverse());
    expect(context['history.genre']).toHaveLength(shown.length);
    expect(await page.textContent('#timing-context-label')).toBe('history stage (once)');
    expect(await page.textContent('#timing-context')).toMatch(/\d/);
    expect(await page.textContent('#history-hint')).toContain('most recent first');
    expect(await page.textContent('#model-facts')).toMatch(/a DIN .*Held-out AUC 0\.\d{3} \(the DLRM on the same held-out sessions: 0\.\d{3}\)/);
    const c = (await hook((d) => d.lastComparison()))!;
    expect(c.maxScoreDiff).toBeLessThan(TOLERANCE);
    expect(c.rankAware.flopsOnce).toBeGreaterThan(0);
    expect(c.rankAware.flops).toBeLessThan(c.vanilla.flops);
    // An edit of the history reranks: a new most recent film.
    await page.fill('#history-input', 'Saw');
    await page.press('#history-input', 'Enter');
    await page.waitForFunction(() => {
      const h = (window.rankawareDemo!.lastRequest()?.context.history ?? []) as number[];
      return h[h.length - 1] === 129 && document.body.dataset.state === 'ready';
    });
    await waitReady();
    await expectScoresEqualNode(TOLERANCE, (r) => compiled.score(r, 'rank-aware', 'js').scores);
    await page.click('#history li[data-item-id="129"] button');
    await page.selectOption('#model-select', 'dlrm');
    await page.waitForFunction(() => document.body.dataset.model === 'dlrm' && !('history.genre' in (window.rankawareDemo!.lastRequest()?.context ?? {})));
    await waitReady();
    await expectScoresEqualNode(TOLERANCE);
  }, 60_000);

  it("draws the paper's Fig. 2 sweep: both panels, both curves, exact scores, FLOP savings growing with K", async () => {
    await page.click('#sweep-run');
    await page.waitForFunction(() => document.querySelector('#sweep-status')?.getAttribute('data-done') === 'true', null, { timeout: 120_000 });
    for (const [id, points] of [['#sweep-chart-k', 5], ['#sweep-chart-m', 6]] as const) {
      const lines = await page.$$eval(`${id} polyline`, (ls) => ls.map((l) => l.getAttribute('points')!.trim().split(/\s+/).length));
      expect(lines).toEqual([points, points]);
    }
    const result = await hook((d) => d.sweepResult());
    expect(result).toBeDefined();
    const k = result!.points.filter((p) => p.panel === 'K');
    expect(k.map((p) => p.K)).toEqual([8, 12, 16, 20, 24]);
    for (let i = 1; i < k.length; i++) expect(k[i]!.flopRatio).toBeGreaterThan(k[i - 1]!.flopRatio);
    expect(k[0]!.vanillaRps).toBe(1);
    for (const p of result!.points) {
      expect(p.maxScoreDiff).toBeLessThan(TOLERANCE);
      expect(p.rankAwareRps).toBeGreaterThan(0);
    }
  }, 150_000);

  it('measures candidates/s per backend in the page and writes bench/results/demo-throughput.json', async () => {
    const availability = (await hook((d) => d.availability()))!;
    const runs = [
      { backend: 'js', threads: 1 },
      { backend: 'wasm', threads: 1 },
      { backend: 'wasm', threads: 2 },
      { backend: 'webgpu', threads: 1 },
    ] as const;
    const results = [];
    const unavailable = [];
    for (const run of runs) {
      const a = availability.find((x) => x.backend === run.backend)!;
      if (!a.available) {
        unavailable.push({ backend: run.backend, reason: a.reason });
        continue;
      }
      const t = await page.evaluate(([b, threads, n]) => window.rankawareDemo!.throughput(b, threads, 1500, n), [run.backend, run.threads, THROUGHPUT_N] as const);
      expect(t.requests).toBeGreaterThanOrEqual(3);
      expect(t.candidatesPerSecond).toBeGreaterThan(0);
      expect(t.info.threads).toBe(run.threads);
      results.push({ backend: t.info.backend, threads: t.info.threads, workers: t.info.workers, mode: t.info.mode, candidates_per_s: Math.round(t.candidatesPerSecond), ms_per_request: +t.msPerRequest.toFixed(3), requests: t.requests });
    }
    expect(results.map((r) => `${r.backend}/${r.threads}`)).toEqual(expect.arrayContaining(['js/1', 'wasm/1', 'wasm/2']));
    expect(results.find((r) => r.backend === 'wasm' && r.threads === 2)!.mode).toBe('shared-memory');
    const report = {
      what: 'demo page throughput: the demo model, rank-aware plan, one request repeated with two in flight for 1.5 s per backend',
      date: new Date().toISOString(),
      userAgent: await page.evaluate(() => navigator.userAgent),
      model: model.spec.name,
      n: THROUGHPUT_N,
      results,
      unavailable,
    };
    await mkdir(fileURLToPath(new URL('.', `file://${REPORT}`)), { recursive: true });
    await writeFile(REPORT, JSON.stringify(report, null, 2) + '\n');
  }, 120_000);

  it('shows the key elements in a screenshot of the main view', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    const png = await page.screenshot();
    await mkdir(OUT_DIR, { recursive: true });
    await writeFile(OUT_DIR + 'main-view.png', png);
    // A real PNG of the viewport, with far more in it than a blank or error page compresses to.
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(VIEWPORT.width);
    expect(png.readUInt32BE(20)).toBe(VIEWPORT.height);
    expect(png.byteLength).toBeGreaterThan(40_000);
    const keys = ['h1', '#backend-status', '#threads-status', '#isolation-status', '#context-form', '#backend-select', '#timing-context', '#timing-candidates', '#ranking tbody tr:nth-child(20)'];
    for (const selector of keys) {
      const box = await page.locator(selector).first().boundingBox();
      expect(box, selector).not.toBeNull();
      // Inside the screenshot, not below the fold.
      expect(box!.y + box!.height, selector).toBeLessThanOrEqual(VIEWPORT.height);
      expect(await page.locator(selector).first().isVisible(), selector).toBe(true);
    }
    expect(await page.isHidden('#error')).toBe(true);
  });

  it('had no console errors, uncaught errors or failed requests through all of the above', () => {
    expect(problems).toEqual([]);
  });
});
