/**
 * The context stage of a request, run once on the calling thread: whole, or with its last layer split by
 * columns between the calling thread and idle workers; and what the result costs to keep.
 */
import { canSplitContext } from '../backends/backend.js';
import type { CompiledPlan, ContextPayload, ContextState } from '../backends/backend.js';
import type { GpuRoute } from '../backends/webgpu/route.js';
import type { Inputs } from '../model/request.js';
import type { ContextEntry } from './contexts.js';
import { now } from './pool.js';
import type { WorkerPool } from './pool.js';

/** A context split gives each thread at least this much of the last layer's weight (smaller shares cost more in messages than they save). */
const SPLIT_BYTES_PER_THREAD = 1 << 20;
const payloadBytes = (payload: ContextPayload) => payload.arrays.reduce((a, x) => a + (x?.byteLength ?? 0), 0);

export class ContextStage {
  /** Context stages whose last layer was split between the calling thread and idle workers. */
  splits = 0;
  /** Bytes of one context state (the same for every context of a plan), measured on the first one. */
  private stateBytes: number | undefined;

  constructor(
    private readonly main: CompiledPlan,
    private readonly pool: WorkerPool,
    /** Whether tiles run on workers (which take the context as an exported payload). */
    private readonly exports: boolean,
    private readonly spinMs: number,
    private readonly route?: GpuRoute,
  ) {}

  async compute(inputs: Inputs): Promise<ContextEntry> {
    if (this.route) return { state: this.route.runContext(inputs), bytes: 1024 };
    const state = (await this.split(inputs)) ?? this.main.runContext(inputs);
    const payload = this.exports ? this.main.exportContext(state) : undefined;
    // Inline mode exports nothing; its state's size is measured once from an export (it is the same for every context of a plan).
    this.stateBytes ??= payloadBytes(payload ?? this.main.exportContext(state));
    // Workers' payload copy and the state it came from are both held.
    const bytes = this.stateBytes * (payload ? 2 : 1);
    return { state, payload, bytes };
  }

  /**
   * The context stage split by threads: its last layer (a GEMV over the largest weight, e.g. 7.8 MB in
   * DLRM K=27 D=128) is cut by output columns between the calling thread and the idle workers, each of
   * which runs the cheap ops before it too. Undefined (run it whole) when the layer is too small to pay
   * for the messages, no worker is idle, or the plan has no such layer.
   */
  private async split(inputs: Inputs): Promise<ContextState | undefined> {
    const main = this.main;
    if (!canSplitContext(main)) return undefined;
    // Only workers still polling: waking a sleeping thread (0.1-0.3 ms in a VM) costs more than its share saves.
    const t = now();
    const idle = this.pool.runners.filter((r) => r.columns && !r.dead && r.inflight === 0 && r.pollingUntil > t);
    const parts = Math.min(idle.length + 1, Math.floor(main.contextSplitBytes / SPLIT_BYTES_PER_THREAD), Math.ceil(main.contextSplitWidth / 16));
    if (parts < 2) return undefined;
    const width = main.contextSplitWidth;
    const chunk = Math.ceil(width / parts / 16) * 16;
    const ranges: [number, number][] = [];
    for (let lo = 0; lo < width; lo += chunk) ranges.push([lo, Math.min(width, lo + chunk)]);
    const begun = main.beginContext(inputs);
    const calls = ranges.slice(1).map(([lo, hi], i) => ({ lo, hi, runner: idle[i]!, answer: idle[i]!.columns!(begun, lo, hi) }));
    // Settled by the loop below; a rejection is handled there too.
    for (const c of calls) c.answer.catch(() => {});
    const shares = [{ lo: 0, values: main.contextColumns(undefined, ranges[0]![0], ranges[0]![1]) }];
    if (this.spinMs > 0) {
      const waiting = new Set(calls.map((c) => c.runner));
      const until = now() + this.spinMs;
      while (waiting.size > 0 && now() < until) for (const r of waiting) if (r.worker?.poll?.()) waiting.delete(r);
    }
    for (const c of calls) {
      try {
        shares.push({ lo: c.lo, values: await c.answer });
      } catch {
        // A worker that failed its share: replace it, and the calling thread computes those columns.
        if (this.pool.runners.includes(c.runner)) this.pool.replace(c.runner);
        shares.push({ lo: c.lo, values: main.contextColumns(begun, c.lo, c.hi) });
      }
    }
    this.splits++;
    return main.finishContext(begun, shares);
  }
}
