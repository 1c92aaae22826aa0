/**
 * Peers: onnxruntime-node and onnxruntime-web (wasm) on the exported vanilla graph against our vanilla
 * and rank-aware plans (WASM backend) and our rank-aware plan as ONNX on onnxruntime-node (the ort
 * backend), per model, candidate count and thread count. Each thread count
 * runs in its own fresh process (onnxruntime-web fixes its thread count once per process); within it,
 * the runtimes of each (model, N) are timed side by side in rounds, and each comparison is the median of
 * per-round ratios. At more than one thread onnxruntime-web runs in a process of its own: its wasm
 * threads spin between its runs and took the cores our workers needed (measured: the DLRM's rank-aware
 * plan at N = 256 on two threads, 2.8 ms beside onnxruntime-node, 6.4 ms with onnxruntime-web in the
 * process); its ratios are then its times over the other process's median.
 */
import { createScorer } from '../scheduler/scorer.js';
import type { Scorer } from '../scheduler/scorer.js';
import { getPlan } from '../engine.js';
import { randomModel, randomRequest } from '../model/random.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import type { PeersConfig } from './config.js';
import { runInChild } from './fork.js';
import { mapStat, pairedRatio, sideBySide, stat } from './measure.js';
import type { Stat, Timing } from './measure.js';
import { loadPeer } from './peer.js';
import type { Peer } from './peer.js';
import type { Progress } from './progress.js';

export interface PeerRow {
  readonly model: string;
  /** Who ran it: rankaware's 'wasm' backend, its 'ort' backend (the rank-aware graphs on onnxruntime-node), or a peer on the vanilla graph. */
  readonly backend: 'wasm' | 'js' | 'ort' | 'ort-node' | 'ort-web';
  readonly plan: 'vanilla' | 'rank-aware';
  readonly n: number;
  readonly threads: number;
  readonly ms_per_request: Stat;
  readonly candidates_per_s: number;
  /** FLOPs of the plan it ran over its median time (peers: the vanilla FLOPs). */
  readonly gflops: number;
  /** Session creation or scorer creation, and the first score, in this process (after the module loaded). */
  readonly setup_ms: number;
  /** This row's time over rankaware rank-aware's, per round of the same run (null on that row itself). */
  readonly rank_aware_speedup: Stat | null;
  /**
   * This row's time over the ort backend's, per round (null on that row, and when it did not run);
   * onnxruntime-node's from rounds of the two alone (measurePeersAt says why).
   */
  readonly ort_speedup: Stat | null;
  /**
   * The rank-aware WASM row above one thread: the same plan on one thread and on this row's threads,
   * side by side in this process, in rounds of the two alone (ms, and one thread's time over the other's).
   */
  readonly threads_side_by_side?: { readonly one_ms: Stat; readonly many_ms: Stat; readonly speedup: Stat };
}

export interface PeersResult {
  readonly suite: 'peers';
  readonly rows: readonly PeerRow[];
}

/** Whether onnxruntime-web runs in a process of its own at this thread count. */
const webApart = (c: PeersConfig, threads: number) => threads > 1 && c.peers.includes('ort-web');

export function peersSteps(c: PeersConfig): number {
  return c.threads.reduce((a, t) => a + (webApart(c, t) ? 2 : 1), 0) * c.models.length * c.ns.length;
}

export async function runPeers(c: PeersConfig, timing: Timing, progress: Progress): Promise<PeersResult> {
  const rows: PeerRow[] = [];
  const tick = (label: string) => progress.tick(label);
  for (const threads of c.threads) {
    if (!webApart(c, threads)) {
      rows.push(...(await runInChild<PeerRow[]>({ kind: 'peers', config: c, threads, timing }, tick)));
      continue;
    }
    const main = await runInChild<PeerRow[]>({ kind: 'peers', config: { ...c, peers: c.peers.filter((p) => p !== 'ort-web') }, threads, timing }, tick);
    const web = await runInChild<PeerRow[]>({ kind: 'peers', config: { ...c, peers: ['ort-web'], ort: false, peersOnly: true }, threads, timing }, tick);
    rows.push(...main);
    for (const w of web) {
      const beside = (f: (r: PeerRow) => boolean) => main.find((r) => r.model === w.model && r.n === w.n && f(r));
      const ra = beside((r) => (r.backend === 'wasm' || r.backend === 'js') && r.plan === 'rank-aware')!;
      const ort = beside((r) => r.backend === 'ort');
      rows.push({ ...w, rank_aware_speedup: mapStat(w.ms_per_request, (x) => x / ra.ms_per_request.median), ort_speedup: ort ? mapStat(w.ms_per_request, (x) => x / ort.ms_per_request.median) : null });
    }
  }
  return { suite: 'peers', rows };
}

interface Runtime {
  readonly backend: PeerRow['backend'];
  readonly plan: PeerRow['plan'];
  readonly threads: number;
  readonly setupMs: number;
  readonly run: (request: ReturnType<typeof randomRequest>) => Promise<unknown>;
  readonly dispose: () => unknown;
}

async function ours(model: ReturnType<typeof randomModel>, plan: PeerRow['plan'], threads: number, first: ReturnType<typeof randomRequest>): Promise<Runtime> {
  const t0 = performance.now();
  const scorer: Scorer = await createScorer(model, { backend: 'wasm', plan, threads });
  await scorer.score(first);
  // createScorer runs wasm, or js where the engine has no WebAssembly SIMD.
  return { backend: scorer.info.backend as 'wasm' | 'js', plan, threads, setupMs: performance.now() - t0, run: (r) => scorer.score(r), dispose: () => scorer.dispose() };
}

/** The ort backend: the rank-aware graphs on onnxruntime-node, `threads` intra-op threads. */
async function onOrt(model: ReturnType<typeof randomModel>, threads: number, first: ReturnType<typeof randomRequest>): Promise<Runtime> {
  const { createScorer: createOrt } = await import('../onnx/ort/create.js');
  const t0 = performance.now();
  const scorer = await createOrt(model, { backend: 'ort', threads });
  await scorer.score(first);
  return { backend: 'ort', plan: 'rank-aware', threads, setupMs: performance.now() - t0, run: (r) => scorer.score(r), dispose: () => scorer.dispose() };
}

function peer(p: Peer): Runtime {
  return { backend: p.name, plan: 'vanilla', threads: p.threads, setupMs: p.coldMs, run: p.run, dispose: p.release };
}

/** In the child process: every model and N at one thread count. */
export async function measurePeersAt(c: PeersConfig, threads: number, timing: Timing, tick: (label: string) => void): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  for (const m of c.models) {
    const model = randomModel({ seed: 3, ...m.init });
    const first = randomRequest(model.spec, c.ns[0]!, 11);
    // Rank-aware first: every ratio is against it (peersOnly: runPeers sets the ratios).
    const runtimes: Runtime[] = c.peersOnly ? [] : [await ours(model, 'rank-aware', threads, first), await ours(model, 'vanilla', threads, first)];
    // Above one thread: the rank-aware plan on one thread too, for a paired 1 -> T threads ratio (the
    // thread counts' own processes run minutes apart, and this machine's load moves in between).
    const oneThread = threads > 1 && !c.peersOnly ? await ours(model, 'rank-aware', 1, first) : undefined;
    try {
      if (c.ort) runtimes.push(await onOrt(model, threads, first));
      for (const name of c.peers) runtimes.push(peer(await loadPeer(name, model, first, { threads })));
      const ortAt = runtimes.findIndex((r) => r.backend === 'ort');
      const nodeAt = runtimes.findIndex((r) => r.backend === 'ort-node');
      for (const n of c.ns) {
        tick(`peers ${m.name} N=${n} ${threads} thread(s)`);
        const request = randomRequest(model.spec, n, 11);
        const rounds = (of: readonly Runtime[]) => sideBySide(of.map((r) => () => r.run(request)), timing);
        const times = await rounds(runtimes);
        // The ort backend against onnxruntime-node: the two alone, in rounds of their own. In the rounds of
        // every runtime, whichever runs after the WASM backend runs slower (its memory and caches just
        // thrashed; a worker still polling at two threads), and the ort backend is the one after it.
        const apart = ortAt >= 0 && nodeAt >= 0 ? await rounds([runtimes[ortAt]!, runtimes[nodeAt]!]) : undefined;
        const paired = oneThread ? await rounds([oneThread, runtimes[0]!]) : undefined;
        const threadsSideBySide = paired ? { one_ms: stat(paired[0]!), many_ms: stat(paired[1]!), speedup: pairedRatio(paired[0]!, paired[1]!) } : undefined;
        const ortSpeedup = (i: number) => (ortAt < 0 || i === ortAt ? null : i === nodeAt && apart ? pairedRatio(apart[1]!, apart[0]!) : pairedRatio(times[i]!, times[ortAt]!));
        runtimes.forEach((r, i) => {
          const ms = stat(times[i]!);
          const flops = flopsFor(countFlops(getPlan(model, r.plan)), n);
          rows.push({ model: m.name, backend: r.backend, plan: r.plan, n, threads: r.threads, ms_per_request: ms, candidates_per_s: (n * 1000) / ms.median, gflops: flops / ms.median / 1e6, setup_ms: r.setupMs, rank_aware_speedup: i === 0 || c.peersOnly ? null : pairedRatio(times[i]!, times[0]!), ort_speedup: ortSpeedup(i), ...(i === 0 && threadsSideBySide ? { threads_side_by_side: threadsSideBySide } : {}) });
        });
      }
    } finally {
      for (const r of runtimes) await r.dispose();
      await oneThread?.dispose();
    }
  }
  return rows;
}
