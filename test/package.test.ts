/**
 * The package as a new user gets it: `npm pack`, the tarball installed into a fresh project outside the
 * repository (from the same registry `npm ci` uses), then used there from plain Node, from `npx
 * rankaware`, and from a page built with Vite's default config (no vite.config at all) and run in
 * Chromium. Scores must agree across all of them. Needs `npm run build` first (npm test runs it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import webpack from 'webpack';
import { launchChromium, watchPage } from './browser/chromium.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
const viteVersion = (JSON.parse(await readFile(join(repo, 'node_modules', 'vite', 'package.json'), 'utf8')) as { version: string }).version;

/** The environment without npm's per-script variables, so the fresh project sees only its own config. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

/** Run a command in `cwd` and return its stdout (a failure throws with its stderr). */
async function sh(cwd: string, file: string, args: string[], timeout = 120_000): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, env: cleanEnv, timeout, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const { stderr, stdout } = e as { stderr?: string; stdout?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}:\n${stderr ?? ''}\n${stdout ?? ''}`, { cause: e });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Scores of one request: equal when every pair is within float32 rounding of a [0, 1] score. */
function expectSameScores(a: readonly number[], b: readonly number[]): void {
  expect(a.length).toBe(b.length);
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
  expect(worst).toBeLessThan(1e-6);
}

// The page: one model from a URL, scored with score() and with a two-thread scorer, and the loader's
// refusals of a missing directory and of an HTML page in place of model.json.
const PAGE_HTML = `<!doctype html>
<html><head><link rel="icon" href="data:,"></head><body><pre id="out">running</pre><script type="module" src="/src/main.js"></script></body></html>
`;
const PAGE_JS = `import { createScorer, loadModel, score } from 'rankaware';
const errorOf = (p) => p.then(() => 'loaded', (e) => e.message);
try {
  let progress = 0;
  const model = await loadModel('./model/', { onProgress: (p) => { if (p.file === 'weights.safetensors') progress = p.loaded; } });
  const request = await (await fetch('./model/request.json')).json();
  const sync = score(model, request);
  const scorer = await createScorer(model, { threads: 2 });
  const threaded = await scorer.score(request);
  window.result = {
    sync: sync.scores, syncBackend: sync.backend, threaded: threaded.scores, info: scorer.info, progress,
    missing: await errorOf(loadModel('./no-such-model/model.json')),
  };
} catch (e) {
  window.result = { error: String(e && e.stack || e) };
}
`;

interface PageResult {
  readonly error?: string;
  readonly sync: number[];
  readonly syncBackend: string;
  readonly threaded: number[];
  readonly info: { threads: number; workers: number };
  readonly progress: number;
  readonly missing: string;
}

// Plain Node in the fresh project: the entry points, loadModel from a path, a scorer left undisposed.
/** An onnx-zoo graph the packed rankaware/onnx imports and scores with a worker thread. */
const ZOO_GRAPH = join(repo, '..', 'shared', 'onnx-zoo', 'two_tower', 'model.onnx');
const NODE_JS = `import * as browserEntry from 'rankaware';
import { createScorer, loadModel, score, scoreAsync } from 'rankaware/node';
import { readFileSync } from 'node:fs';
if (typeof browserEntry.score !== 'function' || typeof browserEntry.loadModel !== 'function') throw new Error('rankaware exports no score/loadModel');
// The ONNX subpath loads (its compiled-graph kernels are in the package too).
const onnxEntry = await import('rankaware/onnx');
if (typeof onnxEntry.importOnnx !== 'function') throw new Error('rankaware/onnx exports no importOnnx');
// An imported graph through createScorer with a worker thread (the worker file is in the package), split across both.
const graph = onnxEntry.importOnnx(new Uint8Array(readFileSync(${JSON.stringify(ZOO_GRAPH)})), { context: 'ctx_' });
const value = (i, k) => (i.dtype === 'float' ? Array.from({ length: i.inner.reduce((a, d) => a * (d < 0 ? 3 : d), 1) }, (_, j) => ((k + j) % 7) / 7 - 0.5) : i.inner.length === 0 ? k % Math.min(i.rows ?? 2, 5) : Array.from({ length: i.inner.reduce((a, d) => a * (d < 0 ? 3 : d), 1) }, (_, j) => (k + j) % Math.min(i.rows ?? 2, 5)));
const onnxRequest = {
  context: Object.fromEntries(graph.inputs.filter((i) => i.side === 'context').map((i, k) => [i.name, value(i, k)])),
  candidates: Array.from({ length: 9 }, (_, r) => Object.fromEntries(graph.inputs.filter((i) => i.side === 'candidate').map((i, k) => [i.name, value(i, r + k)]))),
};
const graphScorer = await onnxEntry.createScorer(graph, { threads: 2, splitRows: 2 });
const graphThreaded = await graphScorer.score(onnxRequest);
const graphDirect = graph.score(onnxRequest);
const model = await loadModel('public/model');
const request = JSON.parse(readFileSync('public/model/request.json', 'utf8'));
const sync = score(model, request);
const scorer = await createScorer(model, { threads: 2 });
const threaded = await scorer.score(request);
// Without the optional peer package "webgpu", WebGPU falls back and says how to get it.
const gpu = await scoreAsync(model, request, { backend: 'webgpu' });
const onlyGpu = await scoreAsync(model, request, { backends: ['webgpu'] }).then(() => 'scored', (e) => e.message);
// No scorer.dispose(): the process must still exit by itself.
console.log(JSON.stringify({ sync: sync.scores, syncBackend: sync.backend, threaded: threaded.scores, info: scorer.info, gpu: { backend: gpu.backend, reason: gpu.reason }, onlyGpu, graph: { threaded: graphThreaded.scores, direct: graphDirect.scores, tiles: graphThreaded.timing.tiles, threads: graphScorer.info.threads } }));
`;

describe('the packed package in a fresh project', () => {
  let tmp: string;
  let app: string;
  const previews: ChildProcess[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'rankaware-pack-'));
    app = join(tmp, 'app');
    await mkdir(join(app, 'src'), { recursive: true });
    const packed = JSON.parse(await sh(repo, 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp])) as { filename: string }[];
    const tarball = join(tmp, packed[0]!.filename);
    const registry = (await sh(repo, 'npm', ['config', 'get', 'registry'])).trim();
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }, null, 2));
    await sh(app, 'npm', ['install', tarball, `vite@${viteVersion}`, '--registry', registry, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], 240_000);
  }, 300_000);

  afterAll(async () => {
    for (const p of previews) p.kill();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  let cliScores: number[] = [];
  let nodeResult: { sync: number[]; syncBackend: string; threaded: number[]; info: { threads: number }; gpu: { backend: string; reason: string }; onlyGpu: string; graph: { threaded: number[]; direct: number[]; tiles: number; threads: number } };

  it('runs `npx rankaware init` and `score`', async () => {
    await sh(app, 'npx', ['rankaware', 'init', '--arch', 'dlrm', '--context', '3', '--target', '2', '--dim', '12', '--candidates', '37', '--out', 'public/model']);
    expect((await readdir(join(app, 'public', 'model'))).sort()).toEqual(['model.json', 'request.json', 'weights.safetensors']);
    const scored = JSON.parse(await sh(app, 'npx', ['rankaware', 'score', '--model', 'public/model', '--request', 'public/model/request.json'])) as { scores: number[]; backend: string };
    expect(scored.backend).toBe('wasm');
    expect(scored.scores).toHaveLength(37);
    cliScores = scored.scores;
  }, 120_000);

  it('runs `npx rankaware --version`', async () => {
    expect((await sh(app, 'npx', ['rankaware', '--version'])).trim()).toBe(pkg.version);
  });

  it('imports rankaware and rankaware/node in plain Node, scores, and exits without dispose()', async () => {
    await writeFile(join(app, 'node-check.mjs'), NODE_JS);
    const started = Date.now();
    nodeResult = JSON.parse(await sh(app, process.execPath, ['node-check.mjs'], 30_000));
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(nodeResult.syncBackend).toBe('wasm');
    expect(nodeResult.info.threads).toBe(2);
    expectSameScores(nodeResult.sync, cliScores);
    expectSameScores(nodeResult.threaded, cliScores);
    // The imported graph's scorer from the packed rankaware/onnx: a worker thread, the request split in two tiles.
    expect(nodeResult.graph.threads).toBe(2);
    expect(nodeResult.graph.tiles).toBe(2);
    expect(nodeResult.graph.threaded).toEqual(nodeResult.graph.direct);
    expect(nodeResult.gpu).toEqual({ backend: 'wasm', reason: 'WebGPU in Node needs the optional peer package "webgpu" (Dawn), which is not installed (npm install webgpu); using wasm (WASM with relaxed-SIMD FMA)' });
    expect(nodeResult.onlyGpu).toBe('backends: expected one backend of ["webgpu"] that runs here, received not webgpu: WebGPU in Node needs the optional peer package "webgpu" (Dawn), which is not installed (npm install webgpu)');
  }, 60_000);

  it('builds with Vite’s default config and scores the same in Chromium', async () => {
    await writeFile(join(app, 'index.html'), PAGE_HTML);
    await writeFile(join(app, 'src', 'main.js'), PAGE_JS);
    // No vite.config in the project: what `npm create vite` gives, worker format included.
    const built = await run('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: app, env: cleanEnv, timeout: 120_000 });
    expect(built.stdout + built.stderr).toBe('');
    let gzip = 0;
    for (const f of await readdir(join(app, 'dist', 'assets'))) if (f.endsWith('.js')) gzip += gzipSync(await readFile(join(app, 'dist', 'assets', f)), { level: 9 }).length;
    expect(gzip).toBeLessThan(100 * 1024);

    const result = await runPage('dist');
    expect(result.error).toBeUndefined();
    expect(result.syncBackend).toBe('wasm');
    expect(result.info.threads).toBe(2);
    expect(result.progress).toBe((await stat(join(app, 'public', 'model', 'weights.safetensors'))).size);
    expectSameScores(result.sync, nodeResult.sync);
    expectSameScores(result.threaded, nodeResult.sync);
    // vite preview answers an unknown path with the app's page: the loader says so in one line.
    expect(result.missing).toMatch(/model\.json: expected JSON \(application\/json\), received text\/html/);
    expect(result.missing).not.toContain('\n');
  }, 180_000);

  it('builds with webpack 5 (no loaders, no worker config) and scores the same in Chromium', async () => {
    const out = join(app, 'dist-webpack');
    const stats = await new Promise<webpack.Stats>((resolve, reject) =>
      webpack({ mode: 'production', context: app, entry: './src/main.js', output: { path: out, filename: 'main.js' }, performance: { hints: false } }, (e, s) => (e || !s ? reject(e ?? new Error('no stats')) : resolve(s))),
    );
    expect(stats.toJson({ all: false, errors: true, warnings: true })).toMatchObject({ errors: [], warnings: [] });
    await cp(join(app, 'public', 'model'), join(out, 'model'), { recursive: true });
    await writeFile(join(out, 'index.html'), PAGE_HTML.replace('type="module" src="/src/main.js"', 'src="/main.js"'));
    const result = await runPage('dist-webpack');
    expect(result.error).toBeUndefined();
    expect(result.info.threads).toBe(2);
    expectSameScores(result.sync, nodeResult.sync);
    expectSameScores(result.threaded, nodeResult.sync);
  }, 180_000);

  /** Serve a built app with vite preview, open it in Chromium, and return what the page computed. */
  async function runPage(outDir: string): Promise<PageResult> {
    const port = await freePort();
    // Vite's own bin under node, not npx: killing npx left its node child serving after the suite.
    const vite = join(app, 'node_modules', 'vite', 'bin', 'vite.js');
    const preview = spawn(process.execPath, [vite, 'preview', '--outDir', outDir, '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: app, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    previews.push(preview);
    const origin = `http://127.0.0.1:${port}`;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('vite preview did not start in 30 s')), 30_000);
      preview.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes(String(port))) {
          clearTimeout(timer);
          resolve();
        }
      });
      preview.once('exit', (code) => reject(new Error(`vite preview exited with ${code}`)));
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems = watchPage(page, origin);
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => (window as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
      const result = (await page.evaluate(() => (window as { result?: unknown }).result)) as PageResult;
      expect(problems.filter((p) => !p.includes('no-such-model'))).toEqual([]);
      return result;
    } finally {
      await browser.close();
      preview.kill();
    }
  }
});
