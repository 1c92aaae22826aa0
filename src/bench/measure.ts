/**
 * The measurement core of every benchmark: time calls after a warm-up, and time several configurations
 * side by side in rounds so that their ratios see the same machine. Statistics are medians with the
 * 10th-90th percentile spread; a ratio is the median of per-round ratios, so a slow round (a noisy
 * neighbour) slows both sides of it alike.
 */

/** A median over repeated runs and its spread. */
export interface Stat {
  readonly median: number;
  /** 10th and 90th percentiles (with fewer than 10 runs: the smallest and the largest). */
  readonly p10: number;
  readonly p90: number;
  readonly runs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export function stat(xs: readonly number[]): Stat {
  if (xs.length === 0) throw new Error('stat of no runs');
  const s = [...xs].sort((a, b) => a - b);
  const few = s.length < 10;
  return { median: median(s), p10: few ? s[0]! : quantile(s, 0.1), p90: few ? s[s.length - 1]! : quantile(s, 0.9), runs: s.length };
}

/** The statistic of a[i] / b[i] over rounds measured side by side (a and b from the same rounds). */
export function pairedRatio(a: readonly number[], b: readonly number[]): Stat {
  if (a.length !== b.length) throw new Error(`paired ratio of ${a.length} and ${b.length} runs`);
  return stat(a.map((x, i) => x / b[i]!));
}

/** Apply `f` to a statistic (a unit change, or a reciprocal: then p10 and p90 swap). */
export function mapStat(s: Stat, f: (x: number) => number): Stat {
  const [a, b] = [f(s.p10), f(s.p90)];
  return { median: f(s.median), p10: Math.min(a, b), p90: Math.max(a, b), runs: s.runs };
}

/** How long and how often to measure. */
export interface Timing {
  /** Seconds of measured rounds per configuration (a run of k configurations gets k times this). */
  readonly seconds: number;
  /** Rounds measured at least, even past the time budget. */
  readonly minRounds: number;
  /** Rounds measured at most. */
  readonly maxRounds: number;
  /** Warm-up before timing, in milliseconds (V8 tiers wasm up on a background thread for 1-2 s after its first run). */
  readonly warmupMs: number;
}

/** What `rankaware bench --model` has always used: rounds of at least 5, up to 10,000. */
export function defaultTiming(seconds: number): Timing {
  return { seconds, minRounds: 5, maxRounds: 10_000, warmupMs: Math.min(2000, seconds * 500) };
}

/** Time `fn` repeatedly after a warm-up; per-call milliseconds. */
export async function timeIt(fn: () => unknown | Promise<unknown>, seconds: number): Promise<number[]> {
  return (await sideBySide([fn], defaultTiming(seconds)))[0]!;
}

/**
 * Time several configurations in rounds for about `seconds` each in all (after a warm-up running them
 * all): per configuration, the per-call milliseconds of every round. In a round each configuration runs
 * twice back to back and the second call is timed: warm latency, as under steady traffic, with the
 * configuration's worker threads awake and its weights in cache after the others ran; a thread woken
 * from sleep (0.1-0.3 ms in a VM) or weights evicted by the other configurations would otherwise be
 * charged to whichever ran second.
 */
export async function sideBySide(fns: readonly (() => unknown)[], t: Timing): Promise<number[][]> {
  const warmEnd = performance.now() + t.warmupMs;
  do for (const fn of fns) await fn();
  while (performance.now() < warmEnd);
  const times = fns.map((): number[] => []);
  const end = performance.now() + t.seconds * fns.length * 1000;
  while (times[0]!.length < t.minRounds || (performance.now() < end && times[0]!.length < t.maxRounds)) {
    for (let i = 0; i < fns.length; i++) {
      await fns[i]!();
      const t0 = performance.now();
      await fns[i]!();
      times[i]!.push(performance.now() - t0);
    }
  }
  return times;
}

/** Throughput with `concurrency` requests kept in flight (a closed loop): wall ms per request and latencies. */
export async function closedLoop(fn: () => Promise<unknown> | unknown, seconds: number, concurrency: number): Promise<{ msPerRequest: number; latencies: number[] }> {
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
  return { msPerRequest: (performance.now() - t0) / latencies.length, latencies };
}
