/**
 * Which sessions a request of n candidates runs on, when the ort backend has more than one intra-op
 * thread: the one-thread sessions or the multi-thread ones, whichever has been faster for requests of
 * about that size. onnxruntime's second thread pays for a large GEMM but costs a wake-up per node it
 * splits: measured on this 2-core machine, one thread was faster below about 1 ms of work on every peer
 * model, and on a graph of many small nodes (AutoInt) it stayed as fast at N = 256, or faster while the
 * machine was busy. So the choice is measured, not fixed: requests are grouped by graph and size (powers of two),
 * each group keeps the latest run times of both kinds (ms per candidate, their median), and one request
 * in PROBE_EVERY runs on the other kind, so that both stay measured as the machine's load changes.
 * Until a group has both measured, one thread takes a request predicted under ONE_THREAD_MS there.
 */

/** A request predicted under this on one thread runs on one (before both kinds are measured). */
export const ONE_THREAD_MS = 1;
/** Before any one-thread run was measured: requests of up to this many candidates run on one thread. */
const UNMEASURED_ROWS = 64;
/** Latest runs each group keeps per kind; runs of a kind before its median counts. */
const SAMPLES = 9;
const MEASURED = 3;
/** One request in this many (per group) runs on the kind not chosen. */
export const PROBE_EVERY = 16;
/** Runs of fewer candidates are no samples (their fixed cost is most of their time), and are not probed. */
const MIN_ROWS = 8;

/**
 * The graph a request runs: the one-graph form (both stages), or the candidate stage alone (a cached
 * context). Their times differ by the context stage, so each has groups of its own.
 */
export type ChoiceGraph = 'single' | 'candidates';

/** Size groups go up to 2^MAX_SIZE candidates. */
const MAX_SIZE = 40;

interface Group {
  readonly one: number[];
  readonly all: number[];
  sinceProbe: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export class ThreadChoice {
  private readonly groups = new Map<string, Group>();
  /** The sessions that have run (a session's first run, a cold one, is not a sample). */
  private readonly warm = new Set<string>();

  private group(graph: ChoiceGraph, n: number): Group {
    const key = `${graph}:${Math.floor(Math.log2(Math.max(1, n)))}`;
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { one: [], all: [], sinceProbe: 0 }));
    return g;
  }

  /**
   * The one-thread ms per candidate of the nearest group of n candidates or more that has one (undefined:
   * none). Not from smaller ones: their fixed cost per run, spread over fewer rows, would predict too much.
   */
  private oneThreadMsPerRow(graph: ChoiceGraph, n: number): number | undefined {
    const size = Math.floor(Math.log2(Math.max(1, n)));
    let best: { size: number; ms: number } | undefined;
    for (let k = size; k <= MAX_SIZE && !best; k++) {
      const g = this.groups.get(`${graph}:${k}`);
      if (g && g.one.length > 0) best = { size: k, ms: median(g.one) };
    }
    return best?.ms;
  }

  /** Whether a request of n candidates runs on the one-thread sessions of `graph`. */
  choose(graph: ChoiceGraph, n: number): boolean {
    const g = this.group(graph, n);
    let one: boolean;
    if (g.one.length >= MEASURED && g.all.length >= MEASURED) one = median(g.one) <= median(g.all);
    else {
      // Not both measured: one thread when its predicted time is under ONE_THREAD_MS (at most
      // UNMEASURED_ROWS candidates when no size as large has run on one thread).
      const msPerRow = this.oneThreadMsPerRow(graph, n);
      one = msPerRow === undefined ? n <= UNMEASURED_ROWS : n * msPerRow < ONE_THREAD_MS;
    }
    if (n >= MIN_ROWS && ++g.sinceProbe >= PROBE_EVERY) {
      g.sinceProbe = 0;
      return !one;
    }
    return one;
  }

  /** A run's time on `session`: a sample of its kind for its group (runs of at least MIN_ROWS candidates; not the session's first). */
  record(graph: ChoiceGraph, n: number, session: string, one: boolean, ms: number): void {
    if (!this.warm.has(session)) {
      this.warm.add(session);
      return;
    }
    if (n < MIN_ROWS) return;
    const samples = this.group(graph, n)[one ? 'one' : 'all'];
    samples.push(ms / n);
    if (samples.length > SAMPLES) samples.shift();
  }
}
