/**
 * `rankaware bench --suite onnx`: every graph of ../shared/onnx-zoo and ../shared/golden/cases imported
 * and compiled (wasm engine, one thread), its rank-aware and vanilla plans and the ort backend (its
 * rank-aware graph as ONNX on onnxruntime-node, one thread) timed side by side with onnxruntime-node
 * (native, one thread) and onnxruntime-web (wasm, one thread) on the same model.onnx,
 * at N = 16, 256, 1024, on seeded random requests. Every entry is timed from the request JSON to the scores
 * (the peers' input tensors are built in the timed call, as ours are encoded); two more time the compute
 * alone (our stages on encoded feeds, onnxruntime-node on tensors built once). Every entry's scores are checked against the float64
 * interpreter's before anything is timed. Prints one markdown table with the ratios and the FLOPs once
 * per request and per candidate.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RankawareError } from '../errors.js';
import { defaultTiming, median, sideBySide } from '../bench/measure.js';
import { importOrt } from '../bench/peer.js';
import type { PeerName } from '../bench/peer.js';
import { importOnnx } from './model.js';
import { importReport } from './report.js';
import { ortFeeds } from './bench.js';

export interface OnnxSuiteOptions {
  readonly ns: readonly number[];
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly note: (line: string) => void;
  /** Where onnx-zoo and golden live (default ../shared beside the package). */
  readonly shared?: string;
}

const LIST_LENGTH = 8;
const PEERS: readonly PeerName[] = ['ort-node', 'ort-web'];

/** The suite's graphs: [name, model.onnx path]. */
export function suiteGraphs(shared: string): [string, string][] {
  const graphs: [string, string][] = [];
  for (const [group, dir] of [['zoo', join(shared, 'onnx-zoo')], ['golden', join(shared, 'golden', 'cases')]] as const) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (existsSync(join(dir, name, 'model.onnx'))) graphs.push([`${group}/${name}`, join(dir, name, 'model.onnx')]);
  }
  if (graphs.length === 0) throw new RankawareError('--suite onnx', `the graphs of onnx-zoo and golden/cases under ${shared}`, 'no model.onnx there');
  return graphs;
}

export interface OnnxSuiteRow {
  readonly graph: string;
  readonly n: number;
  /** Request JSON in, scores out (each peer's tensors built from the request in the call, as ours are encoded). */
  /** ort: the ort backend (the rank-aware graph as ONNX on onnxruntime-node, one graph per request). */
  readonly ms: Readonly<Record<'rank-aware' | 'vanilla' | 'ort' | PeerName, number>>;
  /** Compute only: our rank-aware stages on encoded feeds, onnxruntime-node's run on tensors built once. */
  readonly computeMs: Readonly<Record<'rank-aware' | 'ort-node', number>>;
  readonly flopsOnce: number;
  readonly flopsPerCandidate: number;
  readonly flopsVanilla: number;
}

export async function benchOnnxSuite(o: OnnxSuiteOptions): Promise<OnnxSuiteRow[]> {
  const shared = o.shared ?? resolve('..', 'shared');
  const rows: OnnxSuiteRow[] = [];
  const orts = await Promise.all(PEERS.map(importOrt));
  for (const [graph, file] of suiteGraphs(shared)) {
    const bytes = new Uint8Array(readFileSync(file));
    const model = importOnnx(bytes, { context: 'ctx_', file });
    const sessions = await Promise.all(PEERS.map((p, i) => orts[i]!.InferenceSession.create(bytes, p === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {})));
    const { createOrtScorer } = await import('./ort/node.js');
    const ortBackend = await createOrtScorer(model, { threads: 1 });
    try {
      for (const n of o.ns) {
        o.note(`onnx suite: ${graph} N=${n}`);
        const request = model.randomRequest(n, 29 + n, LIST_LENGTH);
        const want = model.score(request, 'interpret').scores;
        const check = (what: string, got: ArrayLike<number>) => {
          let worst = 0;
          for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
          if (!(worst <= 1e-4)) throw new RankawareError(`${what} on ${graph}`, "the interpreter's scores within 1e-4", `a difference of ${worst}`, 'invalid');
        };
        const feeds = sessions.map((_, i) => ortFeeds(orts[i]!, model, request));
        const output = model.graph.outputs[0]!;
        // Each entry is a request in, scores out: the peers' tensors are built from the request in the timed call.
        const encoded = model.encode(request);
        const compiled = model.compiled('wasm');
        const runs = [
          () => model.score(request, 'rank-aware', 'wasm'),
          () => model.score(request, 'vanilla', 'wasm'),
          ...sessions.map((s, i) => () => s.run(ortFeeds(orts[i]!, model, request))),
          () => compiled.runCandidates(compiled.runContext(encoded.context), encoded.candidates, n),
          () => sessions[0]!.run(feeds[0]!),
          () => ortBackend.score(request),
        ];
        check('the ort backend', (await ortBackend.score(request)).scores);
        check('compiled rank-aware', model.score(request, 'rank-aware', 'wasm').scores);
        check('compiled vanilla', model.score(request, 'vanilla', 'wasm').scores);
        for (let i = 0; i < sessions.length; i++) check(PEERS[i]!, (await sessions[i]!.run(feeds[i]!))[output]!.data as Float32Array);
        const times = (await sideBySide(runs, defaultTiming(o.seconds))).map(median);
        const report = importReport(model, n);
        rows.push({
          graph,
          n,
          ms: { 'rank-aware': times[0]!, vanilla: times[1]!, 'ort-node': times[2]!, 'ort-web': times[3]!, ort: times[6]! },
          computeMs: { 'rank-aware': times[4]!, 'ort-node': times[5]! },
          flopsOnce: report.flopsOnce,
          flopsPerCandidate: report.flopsPerCandidate,
          flopsVanilla: report.flopsVanilla,
        });
      }
    } finally {
      for (const s of sessions) await s.release();
      await ortBackend.dispose();
    }
  }
  if (o.json) o.out(JSON.stringify({ suite: 'onnx', engine: 'wasm', threads: 1, rows }));
  else for (const line of onnxSuiteTable(rows)) o.out(line);
  return rows;
}

export const ms = (x: number) => x.toFixed(3);
export const ratio = (x: number) => `${x.toFixed(2)}x`;

export function onnxSuiteTable(rows: readonly OnnxSuiteRow[]): string[] {
  return [
    '| graph | N | rank-aware ms | vanilla ms | ort-node ms | ort-web ms | vs ort-node | vs ort-web | rank-aware vs vanilla | compute: rank-aware / ort-node ms | compute vs ort-node | ort backend ms | ort backend vs ort-node | FLOPs once | FLOPs per candidate | vanilla FLOPs per candidate |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.graph} | ${r.n} | ${ms(r.ms['rank-aware'])} | ${ms(r.ms.vanilla)} | ${ms(r.ms['ort-node'])} | ${ms(r.ms['ort-web'])} | ${ratio(r.ms['ort-node'] / r.ms['rank-aware'])} | ${ratio(r.ms['ort-web'] / r.ms['rank-aware'])} | ${ratio(r.ms.vanilla / r.ms['rank-aware'])} | ${ms(r.computeMs['rank-aware'])} / ${ms(r.computeMs['ort-node'])} | ${ratio(r.computeMs['ort-node'] / r.computeMs['rank-aware'])} | ${ms(r.ms.ort)} | ${ratio(r.ms['ort-node'] / r.ms.ort)} | ${r.flopsOnce} | ${r.flopsPerCandidate} | ${Math.round(r.flopsVanilla / r.n)} |`,
    ),
  ];
}
