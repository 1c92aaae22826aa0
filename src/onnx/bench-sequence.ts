/**
 * `rankaware bench --suite sequence`: DIN and BST models (init-sized, a history of up to 256 items) at
 * history lengths L = 20, 50, 200 and N = 16, 256, 1024, one thread: the compiled rank-aware plan (wasm)
 * and its vanilla plan, and the ort backend (the rank-aware plan as ONNX on onnxruntime-node, src/onnx/ort),
 * beside onnxruntime-node (native, one thread) and onnxruntime-web (wasm) on the vanilla export, fed the
 * history at its own length. Every entry is request JSON in, scores out, interleaved
 * round by round; the history stage (the context stage) is also timed alone. Scores are checked against
 * onnxruntime-node's before timing. FLOPs are counted by the interpreter's staged program at the request's
 * own shapes (once per request, per candidate) and on the vanilla graph.
 */
import { RankawareError } from '../errors.js';
import { defaultTiming, median, sideBySide } from '../bench/measure.js';
import { importOrt } from '../bench/peer.js';
import type { PeerName } from '../bench/peer.js';
import type { Architecture } from '../model/spec.js';
import { randomModel } from '../model/random.js';
import type { InitOptions } from '../model/random.js';
import { requestFlops } from './request-flops.js';
import { compileModel } from './native-graph.js';
import { exportOnnx } from './writer/export.js';
import { onnxFeeds } from './writer/feeds.js';
import { ms, ratio } from './bench-suite.js';

export interface SequenceSuiteOptions {
  readonly ns: readonly number[];
  readonly lengths: readonly number[];
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly note: (line: string) => void;
  /** The models (default: SEQUENCE_SUITE_MODELS). */
  readonly models?: readonly { readonly name: string; readonly init: InitOptions }[];
}

const FIELDS = { context: 4, target: 3, dim: 16, mlp: [200, 80], vocab: 1000, history: 256, seed: 13 } as const;

/** DIN with the paper's activation unit (one hidden layer of 36), BST with two heads and an FFN of 64. */
export const SEQUENCE_SUITE_MODELS: readonly { readonly name: string; readonly init: InitOptions }[] = [
  { name: 'din', init: { arch: 'din' as Architecture, ...FIELDS, options: { attention: [36] } } },
  { name: 'bst', init: { arch: 'bst' as Architecture, ...FIELDS, options: { heads: 2, ffn: 64 } } },
];

const PEERS: readonly PeerName[] = ['ort-node', 'ort-web'];

export interface SequenceSuiteRow {
  readonly model: string;
  readonly length: number;
  readonly n: number;
  /** ort: the ort backend (one graph per request: the history stage and the candidates in one run). */
  readonly ms: Readonly<Record<'rank-aware' | 'vanilla' | 'history stage' | 'ort' | PeerName, number>>;
  readonly flopsOnce: number;
  readonly flopsPerCandidate: number;
  readonly vanillaFlopsPerCandidate: number;
}

export async function benchSequenceSuite(o: SequenceSuiteOptions): Promise<SequenceSuiteRow[]> {
  const orts = await Promise.all(PEERS.map(importOrt));
  const rows: SequenceSuiteRow[] = [];
  for (const { name, init } of o.models ?? SEQUENCE_SUITE_MODELS) {
    const model = randomModel(init);
    const compiled = compileModel(model);
    const bytes = exportOnnx(model);
    const sessions = await Promise.all(PEERS.map((p, i) => orts[i]!.InferenceSession.create(bytes, p === 'ort-node' ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : {})));
    const { createOrtScorer } = await import('./ort/node.js');
    const ortBackend = await createOrtScorer(compiled, { threads: 1 });
    const feedsOf = (i: number, request: unknown) => {
      const feeds: Record<string, InstanceType<(typeof orts)[number]['Tensor']>> = {};
      for (const [k, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[k] = new orts[i]!.Tensor(f.type, f.data as never, [...f.dims]);
      return feeds;
    };
    try {
      for (const length of o.lengths) {
        for (const n of o.ns) {
          o.note(`sequence suite: ${name} L=${length} N=${n}`);
          const request = compiled.randomRequest(n, 31 + n + length, length);
          const ours = compiled.score(request).scores;
          const ref = (await sessions[0]!.run(feedsOf(0, request))).score!.data as Float32Array;
          let worst = 0;
          for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
          const onOrt = (await ortBackend.score(request)).scores;
          for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(onOrt[i]! - ref[i]!));
          if (!(worst <= 1e-4)) throw new RankawareError(`the compiled ${name} at L = ${length}`, "onnxruntime-node's scores within 1e-4 (wasm and the ort backend)", `a difference of ${worst}`, 'invalid');
          const graph = compiled.compiled('wasm');
          const context = compiled.encodeContext(request.context);
          const times = (
            await sideBySide(
              [
                () => compiled.score(request, 'rank-aware', 'wasm'),
                () => compiled.score(request, 'vanilla', 'wasm'),
                ...sessions.map((s, i) => () => s.run(feedsOf(i, request))),
                () => graph.runContext(context),
                () => ortBackend.score(request),
              ],
              defaultTiming(o.seconds),
            )
          ).map(median);
          const flops = requestFlops(compiled, request);
          rows.push({
            model: name,
            length,
            n,
            ms: { 'rank-aware': times[0]!, vanilla: times[1]!, 'ort-node': times[2]!, 'ort-web': times[3]!, 'history stage': times[4]!, ort: times[5]! },
            flopsOnce: Math.round(flops.once),
            flopsPerCandidate: Math.round(flops.perCandidate),
            vanillaFlopsPerCandidate: Math.round(flops.vanillaPerCandidate),
          });
        }
      }
    } finally {
      for (const s of sessions) await s.release();
      await ortBackend.dispose();
    }
  }
  if (o.json) o.out(JSON.stringify({ suite: 'sequence', engine: 'wasm', threads: 1, rows }));
  else for (const line of sequenceSuiteTable(rows)) o.out(line);
  return rows;
}

export function sequenceSuiteTable(rows: readonly SequenceSuiteRow[]): string[] {
  return [
    '| model | L | N | rank-aware ms | history stage ms | vanilla ms | ort-node ms | ort-web ms | vs ort-node | vs ort-web | rank-aware vs vanilla | ort backend ms | ort backend vs ort-node | FLOPs once | FLOPs per candidate | vanilla FLOPs per candidate | FLOPs per candidate, vanilla / rank-aware |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.length} | ${r.n} | ${ms(r.ms['rank-aware'])} | ${ms(r.ms['history stage'])} | ${ms(r.ms.vanilla)} | ${ms(r.ms['ort-node'])} | ${ms(r.ms['ort-web'])} | ${ratio(r.ms['ort-node'] / r.ms['rank-aware'])} | ${ratio(r.ms['ort-web'] / r.ms['rank-aware'])} | ${ratio(r.ms.vanilla / r.ms['rank-aware'])} | ${ms(r.ms.ort)} | ${ratio(r.ms['ort-node'] / r.ms.ort)} | ${r.flopsOnce} | ${r.flopsPerCandidate} | ${r.vanillaFlopsPerCandidate} | ${ratio(r.vanillaFlopsPerCandidate / r.flopsPerCandidate)} |`,
    ),
  ];
}
