/**
 * `rankaware bench`: warm latency per request for each plan and N, measured side by side in one process,
 * with optional onnxruntime peers on the exported vanilla graph. Reports medians over repeated runs.
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import { randomRequest } from '../model/random.js';
import { encodeRequest } from '../model/request.js';
import { compilePlan, getBackend, getPlan } from '../engine.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { PlanMode } from '../plan/ir.js';
import type { BackendName } from '../backends/backend.js';

export interface BenchOptions {
  readonly model: Model;
  readonly modelName: string;
  readonly ns: readonly number[];
  readonly backend: BackendName;
  readonly plans: readonly PlanMode[];
  readonly peers: readonly string[];
  /** Time budget per measured configuration. */
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (s: string) => void;
  /** Time the backend's module took to compile in this process (part of its cold start). */
  readonly moduleMs: number;
}

export interface BenchRow {
  readonly model: string;
  readonly backend: string;
  readonly plan: string;
  readonly n: number;
  readonly threads: number;
  readonly ms_per_request: number;
  readonly ms_spread: [number, number];
  readonly candidates_per_s: number;
  readonly gflops: number;
  readonly runs: number;
  /** Cold start: module compile, weight placement and the first score (peers: session creation and first run). */
  readonly cold_ms: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Time `fn` repeatedly for about `seconds` (after a warm-up), returning per-call milliseconds. */
export async function timeIt(fn: () => unknown | Promise<unknown>, seconds: number): Promise<number[]> {
  // Long enough for V8 to finish tiering the wasm up on its background thread (DESIGN.md section 5).
  const warmEnd = performance.now() + Math.min(2000, seconds * 500);
  do await fn();
  while (performance.now() < warmEnd);
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (times.length < 5 || (performance.now() < end && times.length < 10_000)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

type Peer = { name: string; coldMs: number; run: (request: ReturnType<typeof randomRequest>) => Promise<unknown> };

async function loadPeer(name: string, model: Model, firstRequest: ReturnType<typeof randomRequest>): Promise<Peer> {
  const { exportOnnx } = await import('../onnx/export.js');
  const { onnxFeeds } = await import('../onnx/feeds.js');
  const bytes = exportOnnx(model);
  let ort: typeof import('onnxruntime-node');
  try {
    ort = name === 'ort-node' ? await import('onnxruntime-node') : ((await import('onnxruntime-web')) as unknown as typeof import('onnxruntime-node'));
  } catch {
    throw new RankawareError('--peer', `the package ${name === 'ort-node' ? 'onnxruntime-node' : 'onnxruntime-web'} installed (npm i -D it)`, 'a missing package');
  }
  const options = name === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {};
  if (name === 'ort-web') (ort as unknown as { env: { wasm: { numThreads: number } } }).env.wasm.numThreads = 1;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, options);
  const run = async (request: ReturnType<typeof randomRequest>) => {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [key, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[key] = new ort.Tensor(f.type, f.data, f.dims);
    return session.run(feeds);
  };
  await run(firstRequest);
  return { name, coldMs: performance.now() - t0, run };
}

export async function runBench(o: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const peers: Peer[] = [];
  for (const p of o.peers) {
    if (p !== 'ort-node' && p !== 'ort-web') throw new RankawareError('--peer', '"ort-node" or "ort-web"', show(p));
    peers.push(await loadPeer(p, o.model, randomRequest(o.model.spec, o.ns[0]!, 11)));
  }
  // Cold start per plan: a fresh compile (weights placed, packed) and the first score.
  const coldMs = new Map<PlanMode, number>();
  for (const mode of o.plans) {
    const t0 = performance.now();
    const c = getBackend(o.backend).compile(getPlan(o.model, mode));
    const e = encodeRequest(o.model.spec, randomRequest(o.model.spec, o.ns[0]!, 11));
    c.runCandidates(c.runContext(e.context), e.candidates);
    coldMs.set(mode, o.moduleMs + performance.now() - t0);
  }
  const emit = (row: BenchRow) => {
    rows.push(row);
    if (o.json) o.out(JSON.stringify(row));
  };
  for (const n of o.ns) {
    const request = randomRequest(o.model.spec, n, 11);
    const vanillaFlops = flopsFor(countFlops(getPlan(o.model, 'vanilla')), n);
    for (const mode of o.plans) {
      const c = compilePlan(getPlan(o.model, mode), o.backend);
      const flops = flopsFor(countFlops(c.plan), n);
      // The timed unit is a whole request: validation and encoding included, as a caller sees it.
      const times = await timeIt(() => {
        const e = encodeRequest(o.model.spec, request);
        return c.runCandidates(c.runContext(e.context), e.candidates);
      }, o.seconds);
      const ms = median(times);
      emit({ model: o.modelName, backend: o.backend, plan: mode, n, threads: 1, ms_per_request: ms, ms_spread: [quantile(times, 0.1), quantile(times, 0.9)], candidates_per_s: (n * 1000) / ms, gflops: flops / ms / 1e6, runs: times.length, cold_ms: coldMs.get(mode)! });
    }
    for (const peer of peers) {
      const times = await timeIt(() => peer.run(request), o.seconds);
      const ms = median(times);
      emit({ model: o.modelName, backend: peer.name, plan: 'vanilla', n, threads: 1, ms_per_request: ms, ms_spread: [quantile(times, 0.1), quantile(times, 0.9)], candidates_per_s: (n * 1000) / ms, gflops: vanillaFlops / ms / 1e6, runs: times.length, cold_ms: peer.coldMs });
    }
  }
  if (!o.json) {
    o.out('| backend | plan | N | ms/request (median) | p10-p90 | candidates/s | GFLOP/s | cold start ms |');
    o.out('|---|---|---|---|---|---|---|---|');
    for (const r of rows)
      o.out(`| ${r.backend} | ${r.plan} | ${r.n} | ${r.ms_per_request.toFixed(3)} | ${r.ms_spread[0].toFixed(3)}-${r.ms_spread[1].toFixed(3)} | ${Math.round(r.candidates_per_s)} | ${r.gflops.toFixed(2)} | ${r.cold_ms.toFixed(1)} |`);
    for (const n of o.ns) {
      const at = rows.filter((r) => r.n === n);
      const van = at.find((r) => r.backend === o.backend && r.plan === 'vanilla');
      const ra = at.find((r) => r.backend === o.backend && r.plan === 'rank-aware');
      if (van && ra) o.out(`N=${n}: rank-aware is ${(van.ms_per_request / ra.ms_per_request).toFixed(2)}x faster than vanilla (${o.backend}, same run)`);
      for (const p of at.filter((r) => r.backend.startsWith('ort-')))
        if (ra) o.out(`N=${n}: rank-aware ${o.backend} vs ${p.backend} (vanilla graph): ${(p.ms_per_request / ra.ms_per_request).toFixed(2)}x`);
    }
  }
  return rows;
}
