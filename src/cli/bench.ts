/**
 * `rankaware bench`: warm latency per request for each plan and N, measured side by side in one process,
 * with optional onnxruntime peers on the exported vanilla graph. Reports medians over repeated runs.
 */
import type { Model } from '../model/model.js';
import { randomRequest } from '../model/random.js';
import { getPlan } from '../engine.js';
import { createScorer } from '../scheduler/scorer.js';
import type { Scorer } from '../scheduler/scorer.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { PlanMode } from '../plan/ir.js';
import type { BackendChoice } from '../backends/backend.js';
import { closedLoop, median, quantile, sideBySide } from '../bench/measure.js';
import { loadPeer, parsePeer } from '../bench/peer.js';
import type { Peer } from '../bench/peer.js';

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
  /** Progress lines (stderr): what is being measured and for about how long, so that a long run is never silent. */
  readonly progress?: (line: string) => void;
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

/** One configuration's timings as a row reports them. */
interface Measured {
  readonly msPerRequest: number;
  readonly spread: [number, number];
  readonly p50: number;
  readonly p99: number;
  readonly runs: number;
}

function fromTimes(times: readonly number[], msPerRequest = median(times)): Measured {
  return { msPerRequest, spread: [quantile(times, 0.1), quantile(times, 0.9)], p50: median(times), p99: quantile(times, 0.99), runs: times.length };
}

export async function runBench(o: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const peers: Peer[] = [];
  for (const p of o.peers) {
    const name = parsePeer(p);
    // One request in flight: one session on as many threads as ours gets; more: single-thread sessions.
    // ort-web runs on one thread here (its thread count is fixed per process; the peers suite varies it).
    const intra = o.concurrency > 1 || name === 'ort-web' ? 1 : Math.max(...o.threads);
    peers.push(await loadPeer(name, o.model, randomRequest(o.model.spec, o.ns[0]!, 11), { sessions: o.concurrency, threads: intra }));
  }
  const emit = (row: BenchRow) => {
    rows.push(row);
    if (o.json) o.out(JSON.stringify(row));
  };
  // One scorer per plan and thread count, created once; its creation and first score are the cold start.
  // WebGPU runs each request from the calling thread: one "thread".
  const threadCounts = o.backend === 'webgpu' ? [1] : o.threads;
  const progress = o.progress ?? (() => {});
  progress(`bench: creating ${o.plans.length * threadCounts.length} scorer(s) (${o.plans.join(', ')}; threads ${threadCounts.join(', ')})`);
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
      progress(`bench: N=${n}: timing ${configs.length} configuration(s) side by side, about ${Math.ceil(o.seconds * configs.length)} s`);
      if (o.concurrency <= 1) {
        const timing = { seconds: o.seconds, minRounds: 5, maxRounds: 10_000, warmupMs: Math.min(2000, o.seconds * configs.length * 250) };
        const times = await sideBySide(configs.map((c) => c.fn), timing);
        configs.forEach((c, i) => emit(c.row(fromTimes(times[i]!))));
      } else {
        for (const [i, c] of configs.entries()) {
          if (i > 0) progress(`bench: N=${n}: configuration ${i + 1} of ${configs.length}`);
          const { msPerRequest, latencies } = await closedLoop(c.fn, o.seconds, o.concurrency);
          emit(c.row(fromTimes(latencies, msPerRequest)));
        }
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
