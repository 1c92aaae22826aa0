/**
 * `rankaware bench` on an imported graph: its compiled rank-aware and vanilla
 * plans, the float64 interpreter (`interpret`) and onnxruntime on model.onnx as given, side by side in one
 * run (medians of alternating rounds), on seeded random requests shaped by the graph's inputs. Every
 * entry's scores are checked against the interpreter's first: timings of different answers mean nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError } from '../errors.js';
import { defaultTiming, median, sideBySide } from '../bench/measure.js';
import { importOrt, parsePeer } from '../bench/peer.js';
import { plainTensor } from './ort/runner.js';
import { loadCompiledDir } from './dir.js';
import type { ImportedModel, ImportedPlan } from './model.js';
import type { CompiledEngine } from './compiler/compiled.js';

/** The length of each free list dim (histories, pooled ids) in the requests bench makes. */
const LIST_LENGTH = 8;

export interface ImportedBenchOptions {
  readonly ns: readonly number[];
  readonly plans: readonly ImportedPlan[];
  readonly engine: CompiledEngine;
  readonly peers: readonly string[];
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (line: string) => void;
}

/** onnxruntime feeds of a request: the graph's own inputs, context ones at [1, ...]. */
export function ortFeeds(ort: Awaited<ReturnType<typeof importOrt>>, model: ImportedModel, request: unknown): Record<string, InstanceType<typeof ort.Tensor>> {
  const encoded = model.encode(request);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const input of model.inputs) {
    const v = (input.side === 'context' ? encoded.context : encoded.candidates).get(input.name)!;
    const t = plainTensor(v, !input.float32);
    feeds[input.name] = new ort.Tensor(t.type, t.data as Float32Array, t.dims);
  }
  return feeds;
}

export async function benchImportedDir(dir: string, o: ImportedBenchOptions): Promise<void> {
  const model = await loadCompiledDir(dir);
  const peers = o.peers.map(parsePeer);
  // The graph as given, or the export a din / bst model was compiled from.
  const bytes = model.source?.bytes ?? (await readFile(join(dir, 'model.onnx')));
  const sessions = await Promise.all(
    peers.map(async (name) => {
      const ort = await importOrt(name);
      const session = await ort.InferenceSession.create(new Uint8Array(bytes), name === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {});
      return { name, ort, session };
    }),
  );
  const rows: { path: string; plan: string; n: number; msPerRequest: number; candidatesPerSecond: number }[] = [];
  try {
    for (const n of o.ns) {
      const request = model.randomRequest(n, 19 + n, LIST_LENGTH);
      const peerRuns = sessions.map((s) => {
        const feeds = ortFeeds(s.ort, model, request);
        return { path: s.name, plan: 'vanilla', run: () => s.session.run(feeds) };
      });
      // webgpu answers asynchronously (one submission and readback per stage); the CPU engines synchronously.
      const ours = o.plans.map((plan) => ({
        path: plan === 'interpret' ? 'interpreter' : `compiled ${o.engine}`,
        plan: plan === 'interpret' ? 'rank-aware' : plan,
        run: o.engine === 'webgpu' && plan !== 'interpret' ? () => model.scoreAsync(request, plan, 'webgpu') : () => model.score(request, plan, o.engine === 'webgpu' ? 'wasm' : o.engine),
      }));
      const runs = [...ours, ...peerRuns];
      // Timings of different answers would mean nothing: every entry must score this request as the interpreter does.
      const want = model.score(request, 'interpret').scores;
      const check = (what: string, got: readonly number[]) => {
        const worst = Math.max(...got.map((x, i) => Math.abs(x - want[i]!)));
        if (!(worst <= 1e-4)) throw new RankawareError(`${what} on ${dir}/model.onnx`, 'the interpreter\'s scores within 1e-4', `a difference of ${worst}`, 'invalid');
      };
      for (const r of ours) {
        const result = await r.run();
        if (o.engine === 'webgpu' && r.path !== 'interpreter' && result.backend !== 'webgpu') throw new RankawareError('--backend webgpu', 'a WebGPU device', `none (${result.reason})`, 'unavailable');
        check(`${r.path} ${r.plan}`, result.scores);
      }
      for (const p of peerRuns) check(p.path, Array.from((await p.run())[model.graph.outputs[0]!]!.data as Float32Array, Number));
      const times = await sideBySide(runs.map((r) => r.run), defaultTiming(o.seconds));
      runs.forEach((r, i) => {
        const ms = median(times[i]!);
        rows.push({ path: r.path, plan: r.plan, n, msPerRequest: ms, candidatesPerSecond: (n * 1000) / ms });
      });
    }
  } finally {
    for (const s of sessions) await s.session.release();
  }
  if (o.json) return o.out(JSON.stringify({ model: dir, path: 'compiled', engine: o.engine, rows }));
  o.out(`imported graph compiled onto float32 kernels (${o.engine})`);
  o.out('| path | plan | N | ms/request | candidates/s |');
  o.out('|---|---|---|---|---|');
  for (const r of rows) o.out(`| ${r.path} | ${r.plan} | ${r.n} | ${r.msPerRequest.toFixed(3)} | ${Math.round(r.candidatesPerSecond)} |`);
  const compiled = `compiled ${o.engine}`;
  for (const n of o.ns) {
    const at = rows.filter((r) => r.n === n);
    const ra = at.find((r) => r.path === compiled && r.plan === 'rank-aware');
    const va = at.find((r) => r.path === compiled && r.plan === 'vanilla');
    const interp = at.find((r) => r.path === 'interpreter');
    if (ra && va) o.out(`N=${n}: the compiled rank-aware plan is ${(va.msPerRequest / ra.msPerRequest).toFixed(2)}x its vanilla (same run)`);
    const best = ra ?? va;
    if (best && interp) o.out(`N=${n}: the compiled ${best.plan} plan is ${(interp.msPerRequest / best.msPerRequest).toFixed(2)}x the float64 interpreter`);
    for (const p of at.filter((r) => r.path.startsWith('ort'))) {
      if (best) o.out(`N=${n}: the compiled ${best.plan} plan runs at ${(p.msPerRequest / best.msPerRequest).toFixed(2)}x the speed of ${p.path} on model.onnx (1 thread)`);
    }
  }
}

export interface ImportedThreadsBenchOptions {
  readonly ns: readonly number[];
  readonly threads: readonly number[];
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly engine: Exclude<CompiledEngine, 'webgpu'>;
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (line: string) => void;
}

/**
 * `rankaware bench --model DIR --threads 1,2 [--concurrency C]` on an imported graph: the compiled
 * rank-aware plan through createScorer at each thread count, C requests in flight, rounds alternating
 * between the thread counts (one scorer each, started before timing); requests per second and the
 * ratio to one thread. Each scorer's scores are checked against ImportedModel.score first.
 */
export async function benchImportedThreads(dir: string, o: ImportedThreadsBenchOptions): Promise<void> {
  const { createImportedScorer } = await import('./scorer/scorer.js');
  const model = await loadCompiledDir(dir);
  const scorers = await Promise.all(o.threads.map((threads) => createImportedScorer(model, { threads, engine: o.engine, maxInFlight: Math.max(64, o.concurrency) })));
  const rows: { threads: number; n: number; concurrency: number; msPerBatch: number; requestsPerSecond: number }[] = [];
  try {
    for (const n of o.ns) {
      const requests = Array.from({ length: o.concurrency }, (_, i) => model.randomRequest(n, 101 + i + n, LIST_LENGTH));
      const want = requests.map((r) => model.score(r, 'rank-aware', o.engine).scores);
      for (const [k, s] of scorers.entries()) {
        const got = await Promise.all(requests.map((r) => s.score(r)));
        got.forEach((g, i) => {
          if (g.scores.some((x, j) => x !== want[i]![j])) throw new RankawareError(`--threads ${o.threads[k]} on ${dir}`, 'the scores of ImportedModel.score', 'other scores', 'invalid');
        });
      }
      const times = await sideBySide(scorers.map((s) => () => Promise.all(requests.map((r) => s.score(r)))), defaultTiming(o.seconds));
      o.threads.forEach((threads, k) => {
        const ms = median(times[k]!);
        rows.push({ threads, n, concurrency: o.concurrency, msPerBatch: ms, requestsPerSecond: (o.concurrency * 1000) / ms });
      });
    }
  } finally {
    for (const s of scorers) s.dispose();
  }
  if (o.json) return o.out(JSON.stringify({ model: dir, path: 'compiled', engine: o.engine, plan: 'rank-aware', rows }));
  o.out(`imported graph, compiled rank-aware (${o.engine}) through createScorer, ${o.concurrency} requests in flight`);
  o.out('| threads | N | ms per batch | requests/s | vs 1 thread |');
  o.out('|---|---|---|---|---|');
  for (const r of rows) {
    const one = rows.find((x) => x.n === r.n && x.threads === 1);
    o.out(`| ${r.threads} | ${r.n} | ${r.msPerBatch.toFixed(3)} | ${Math.round(r.requestsPerSecond)} | ${one ? `${(r.requestsPerSecond / one.requestsPerSecond).toFixed(2)}x` : '-'} |`);
  }
}
