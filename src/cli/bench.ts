/**
 * `rankaware bench`: warm latency per request for each plan and N, measured side by side in one process,
 * with optional onnxruntime peers on the exported vanilla graph. Reports medians over repeated runs.
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import { randomRequest } from '../model/random.js';
import { getPlan } from '../engine.js';
import { createScorer } from '../scorer.js';
import type { Scorer } from '../scorer.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { PlanMode } from '../plan/ir.js';
import type { BackendChoice } from '../backends/backend.js';

export interface BenchOptions {
  readonly model: Model;
  readonly modelName: string;
  readonly ns: readonly number[];
  readonly backend: BackendChoice;
  /** Why that backend (printed with the table). */
  readonly backendReason?: string;
  readonly plans: readonly PlanMode[];
  /** Thread counts to measure side by side (1 = the calling thread only). */
  readonly threads: readonly number[];
  /** Requests in flight at once (throughput); 1 measures latency. */
  readonly concurrency: number;
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
  /** Requests kept in flight while measuring (1: plain latency). */
  readonly concurrency: number;
  readonly latency_ms_p50: number;
  readonly latency_ms_p99: number;
  /** Cold start: module compile, weight placement and the first score (peers: session creation and first run). */
  readonly cold_ms: number;
  /** WebGPU: the parts of the cold start: pipeline creation, weight upload, the first request (warm rows are the rest). */
  readonly cold_pipelines_ms?: number;
  readonly cold_upload_ms?: number;
  readonly cold_first_request_ms?: number;
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

interface Measured {
  readonly msPerRequest: number;
  readonly spread: [number, number];
  readonly p50: number;
  readonly p99: number;
  readonly runs: number;
}

/**
 * With one request in flight: per-request latency (median). With more: a closed loop that starts a new
 * request as each returns, for about `seconds`; ms per request is wall time over requests completed.
 */
async function measure(fn: () => Promise<unknown> | unknown, seconds: number, concurrency: number): Promise<Measured> {
  if (concurrency <= 1) {
    const times = await timeIt(fn, seconds);
    return { msPerRequest: median(times), spread: [quantile(times, 0.1), quantile(times, 0.9)], p50: median(times), p99: quantile(times, 0.99), runs: times.length };
  }
  await timeIt(fn, Math.min(seconds, 1));
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const loop = async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await fn();
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const ms = (performance.now() - t0) / latencies.length;
  return { msPerRequest: ms, spread: [quantile(latencies, 0.1), quantile(latencies, 0.9)], p50: median(latencies), p99: quantile(latencies, 0.99), runs: latencies.length };
}

/**
 * Latency of several configurations measured in rounds (one request of each per round, for about
 * `seconds` in all after a warm-up): a noisy neighbour slows all of them alike, so their ratios hold.
 */
async function interleaved(fns: readonly (() => unknown)[], seconds: number): Promise<Measured[]> {
  const warmEnd = performance.now() + Math.min(2000, seconds * 250);
  do for (const fn of fns) await fn();
  while (performance.now() < warmEnd);
  const times = fns.map((): number[] => []);
  const end = performance.now() + seconds * 1000;
  while (times[0]!.length < 5 || (performance.now() < end && times[0]!.length < 10_000)) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = performance.now();
      await fns[i]!();
      times[i]!.push(performance.now() - t0);
    }
  }
  return times.map((t) => ({ msPerRequest: median(t), spread: [quantile(t, 0.1), quantile(t, 0.9)], p50: median(t), p99: quantile(t, 0.99), runs: t.length }));
}

type Peer = { name: string; sessions: number; threads: number; coldMs: number; run: (request: ReturnType<typeof randomRequest>) => Promise<unknown> };

/**
 * onnxruntime on the exported vanilla graph. ort-node gets `sessions` single-thread sessions (one per
 * request in flight, the way a native server scales out); ort-web one, as its wasm runs one call at a time.
 */
async function loadPeer(name: string, model: Model, firstRequest: ReturnType<typeof randomRequest>, sessions: number, intraOpThreads: number): Promise<Peer> {
  const { exportOnnx } = await import('../onnx/export.js');
  const { onnxFeeds } = await import('../onnx/feeds.js');
  const bytes = exportOnnx(model);
  let ort: typeof import('onnxruntime-node');
  try {
    ort = name === 'ort-node' ? await import('onnxruntime-node') : ((await import('onnxruntime-web')) as unknown as typeof import('onnxruntime-node'));
  } catch {
    throw new RankawareError('--peer', `the package ${name === 'ort-node' ? 'onnxruntime-node' : 'onnxruntime-web'} installed (npm i -D it)`, 'a missing package');
  }
  // Spinning intra-op threads would keep burning a core after each run and slow whatever is measured next.
  const options = name === 'ort-node' ? { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } } : {};
  if (name === 'ort-web') (ort as unknown as { env: { wasm: { numThreads: number } } }).env.wasm.numThreads = 1;
  const t0 = performance.now();
  const count = name === 'ort-node' ? sessions : 1;
  const free = [await ort.InferenceSession.create(bytes, options)];
  const coldMs = performance.now() - t0;
  for (let i = 1; i < count; i++) free.push(await ort.InferenceSession.create(bytes, options));
  const waiting: ((s: (typeof free)[number]) => void)[] = [];
  const run = async (request: ReturnType<typeof randomRequest>) => {
    const session = free.pop() ?? (await new Promise<(typeof free)[number]>((resolve) => waiting.push(resolve)));
    try {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [key, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[key] = new ort.Tensor(f.type, f.data, f.dims);
      return await session.run(feeds);
    } finally {
      const next = waiting.shift();
      if (next) next(session);
      else free.push(session);
    }
  };
  const first = performance.now();
  await run(firstRequest);
  return { name, sessions: count, threads: name === 'ort-node' ? count * intraOpThreads : 1, coldMs: coldMs + performance.now() - first, run };
}

export async function runBench(o: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const peers: Peer[] = [];
  for (const p of o.peers) {
    if (p !== 'ort-node' && p !== 'ort-web') throw new RankawareError('--peer', '"ort-node" or "ort-web"', show(p));
    // One request in flight: one session on as many threads as ours gets; more: single-thread sessions.
    const intra = o.concurrency > 1 ? 1 : Math.max(...o.threads);
    peers.push(await loadPeer(p, o.model, randomRequest(o.model.spec, o.ns[0]!, 11), o.concurrency, intra));
  }
  const emit = (row: BenchRow) => {
    rows.push(row);
    if (o.json) o.out(JSON.stringify(row));
  };
  // One scorer per plan and thread count, created once; its creation and first score are the cold start.
  // WebGPU runs each request from the calling thread: one "thread".
  const threadCounts = o.backend === 'webgpu' ? [1] : o.threads;
  const scorers = new Map<string, { scorer: Scorer; coldMs: number; gpuCold?: Pick<BenchRow, 'cold_pipelines_ms' | 'cold_upload_ms' | 'cold_first_request_ms'> }>();
  for (const mode of o.plans)
    for (const threads of threadCounts) {
      const t0 = performance.now();
      const scorer = await createScorer(o.model, { backend: o.backend, plan: mode, threads });
      const t1 = performance.now();
      await scorer.score(randomRequest(o.model.spec, o.ns[0]!, 11));
      const gpu = scorer.info.gpu;
      const gpuCold = gpu ? { cold_pipelines_ms: gpu.pipelinesMs, cold_upload_ms: gpu.uploadMs, cold_first_request_ms: performance.now() - t1 } : undefined;
      scorers.set(`${mode}/${threads}`, { scorer, coldMs: o.moduleMs + performance.now() - t0, gpuCold });
    }
  try {
    for (const n of o.ns) {
      const request = randomRequest(o.model.spec, n, 11);
      const vanillaFlops = flopsFor(countFlops(getPlan(o.model, 'vanilla')), n);
      // Every configuration of this N, measured together so that their ratios see the same machine.
      const configs: { fn: () => unknown; row: (m: Measured) => BenchRow }[] = [];
      for (const mode of o.plans)
        for (const threads of threadCounts) {
          const { scorer, coldMs, gpuCold } = scorers.get(`${mode}/${threads}`)!;
          const flops = flopsFor(countFlops(getPlan(o.model, mode)), n);
          // The timed unit is a whole request as a caller sees it: validation, context stage, tiles.
          configs.push({
            fn: () => scorer.score(request),
            row: (m) => ({ model: o.modelName, backend: scorer.info.backend, plan: mode, n, threads, concurrency: o.concurrency, ms_per_request: m.msPerRequest, ms_spread: m.spread, latency_ms_p50: m.p50, latency_ms_p99: m.p99, candidates_per_s: (n * 1000) / m.msPerRequest, gflops: flops / m.msPerRequest / 1e6, runs: m.runs, cold_ms: coldMs, ...gpuCold }),
          });
        }
      for (const peer of peers)
        configs.push({
          fn: () => peer.run(request),
          row: (m) => ({ model: o.modelName, backend: peer.name, plan: 'vanilla', n, threads: peer.threads, concurrency: o.concurrency, ms_per_request: m.msPerRequest, ms_spread: m.spread, latency_ms_p50: m.p50, latency_ms_p99: m.p99, candidates_per_s: (n * 1000) / m.msPerRequest, gflops: vanillaFlops / m.msPerRequest / 1e6, runs: m.runs, cold_ms: peer.coldMs }),
        });
      if (o.concurrency <= 1) {
        const measured = await interleaved(configs.map((c) => c.fn), o.seconds * configs.length);
        configs.forEach((c, i) => emit(c.row(measured[i]!)));
      } else {
        for (const c of configs) emit(c.row(await measure(c.fn, o.seconds, o.concurrency)));
      }
    }
  } finally {
    for (const { scorer } of scorers.values()) scorer.dispose();
  }
  if (!o.json) {
    if (o.backendReason) o.out(`backend: ${o.backend} (${o.backendReason})`);
    for (const r of rows)
      if (r.cold_pipelines_ms !== undefined && r.n === o.ns[0])
        o.out(`webgpu cold start, ${r.plan}: pipelines ${r.cold_pipelines_ms.toFixed(0)} ms, weight upload ${r.cold_upload_ms!.toFixed(1)} ms, first request ${r.cold_first_request_ms!.toFixed(1)} ms (warm rows below exclude all of it)`);
    if (o.backendReason?.includes('CPU emulation'))
      o.out('note: this WebGPU adapter emulates the GPU on the CPU (SwiftShader): these numbers prove the kernels run, not GPU speed.');
    o.out(`| backend | plan | N | threads | in flight | ms/request | p10-p90 | p99 latency | candidates/s | GFLOP/s | cold start ms |`);
    o.out('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows)
      o.out(`| ${r.backend} | ${r.plan} | ${r.n} | ${r.threads} | ${r.concurrency} | ${r.ms_per_request.toFixed(3)} | ${r.ms_spread[0].toFixed(3)}-${r.ms_spread[1].toFixed(3)} | ${r.latency_ms_p99.toFixed(3)} | ${Math.round(r.candidates_per_s)} | ${r.gflops.toFixed(2)} | ${r.cold_ms.toFixed(1)} |`);
    const ours = (r: BenchRow) => !r.backend.startsWith('ort-');
    for (const n of o.ns) {
      const at = rows.filter((r) => r.n === n);
      for (const t of threadCounts) {
        const van = at.find((r) => ours(r) && r.plan === 'vanilla' && r.threads === t);
        const ra = at.find((r) => ours(r) && r.plan === 'rank-aware' && r.threads === t);
        if (van && ra) o.out(`N=${n}, ${t} thread(s): rank-aware is ${(van.ms_per_request / ra.ms_per_request).toFixed(2)}x faster than vanilla (same run)`);
      }
      for (const plan of o.plans) {
        const one = at.find((r) => ours(r) && r.plan === plan && r.threads === 1);
        for (const r of at.filter((x) => ours(x) && x.plan === plan && x.threads > 1))
          if (one) o.out(`N=${n}, ${plan}: ${r.threads} threads are ${(one.ms_per_request / r.ms_per_request).toFixed(2)}x one thread (same run)`);
      }
      for (const p of at.filter((r) => r.backend.startsWith('ort-')))
        for (const ra of at.filter((r) => ours(r) && r.plan === 'rank-aware'))
          o.out(`N=${n}: rank-aware ${ra.backend} (${ra.threads} thread(s)) vs ${p.backend} (vanilla graph, ${p.threads} thread(s)), ${o.concurrency} in flight: ${(p.ms_per_request / ra.ms_per_request).toFixed(2)}x`);
    }
  }
  return rows;
}
