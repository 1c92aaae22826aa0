/**
 * A closed-loop load generator, as in the paper's serving measurements: `concurrency` clients each send a
 * request, wait for its answer, and send the next at once, for a fixed duration. Throughput is what the
 * server sustains at that many requests in flight; latency percentiles come from every answer.
 */
import { Agent, request as httpRequest } from 'node:http';
import { RankawareError, show } from '../errors.js';

export interface LoadOptions {
  /** The score endpoint, e.g. http://127.0.0.1:8080/v1/score (a bare http://host:port gets /v1/score). */
  readonly url: string;
  /** Request bodies (JSON), sent in turn: one request, or one per simulated user. */
  readonly bodies: readonly Buffer[];
  readonly concurrency: number;
  readonly durationMs: number;
  /** Requests sent and not counted first (tier-up compilation, caches filling). Default 0. */
  readonly warmupMs?: number;
  /** A request unanswered after this long counts as an error (default 30 s). */
  readonly timeoutMs?: number;
}

export interface LoadReport {
  readonly concurrency: number;
  readonly seconds: number;
  /** Answered with 200 within the measured period (requests still in flight at its end are waited for, not counted). */
  readonly requests: number;
  /**
   * Answers per second: each answered request counts for the share of its lifetime inside the measured
   * period. Counting whole answers instead is quantized when latency is a sizeable part of the period: a
   * server that interleaves all its requests finishes them in waves, and a 5 s period holds one wave of
   * 3 s requests or two.
   */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly errors: number;
  /** Errors by status code ("503") or by failure ("ECONNRESET", "timeout"). */
  readonly errorsByKind: Readonly<Record<string, number>>;
}

/** The score endpoint for a user-given URL. */
export function scoreUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RankawareError('--url', 'an http:// URL such as http://127.0.0.1:8080', show(url));
  }
  if (parsed.protocol !== 'http:') throw new RankawareError('--url', 'an http:// URL (put TLS in the load balancer)', show(url));
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/v1/score';
  return parsed;
}

/** "30s", "500ms", "2m" or a plain number of seconds, in milliseconds. */
export function parseDuration(text: string, where: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const value = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
  if (!Number.isFinite(value) || value <= 0) throw new RankawareError(where, 'a positive duration such as 30s, 500ms or 2m', show(text));
  return value;
}

/** The percentile p (0..100) of sorted values, nearest rank. */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

interface Outcome {
  readonly ms: number;
  /** undefined for a 200, else the status code or the failure. */
  readonly error?: string;
}

function send(url: URL, agent: Agent, body: Buffer, timeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      resolve({ ms: performance.now() - t0, error });
    };
    const req = httpRequest(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } }, (res) => {
      // The body is drained unread: parsing 256 scores per answer would cost the generator the CPU the server needs.
      res.resume();
      res.on('end', () => done(res.statusCode === 200 ? undefined : String(res.statusCode)));
      res.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'response error'));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      done('timeout');
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    req.end(body);
  });
}

/** Latencies of answered requests and the errors, gathered while the loop runs. */
class Tally {
  private latencies = new Float64Array(1 << 14);
  count = 0;
  readonly errors = new Map<string, number>();

  add(outcome: Outcome): void {
    if (outcome.error !== undefined) {
      this.errors.set(outcome.error, (this.errors.get(outcome.error) ?? 0) + 1);
      return;
    }
    if (this.count === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.count++] = outcome.ms;
  }

  sorted(): Float64Array {
    return this.latencies.slice(0, this.count).sort();
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const url = scoreUrl(options.url);
  if (options.bodies.length === 0) throw new RankawareError('load requests', 'at least one request body', 'none');
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new RankawareError('--concurrency', 'an integer >= 1', show(options.concurrency));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const warmupEnd = performance.now() + (options.warmupMs ?? 0);
  const end = warmupEnd + options.durationMs;
  const tally = new Tally();
  let next = 0;
  /** Answered requests, each weighted by the share of its lifetime inside the measured period. */
  let answered = 0;
  const client = async () => {
    while (performance.now() < end) {
      const body = options.bodies[next++ % options.bodies.length]!;
      const sentAt = performance.now();
      const outcome = await send(url, agent, body, timeoutMs);
      const doneAt = performance.now();
      if (outcome.error === undefined) {
        const inside = Math.min(doneAt, end) - Math.max(sentAt, warmupEnd);
        if (inside > 0) answered += inside / Math.max(doneAt - sentAt, 1e-6);
      }
      // Latency counts the answers that arrive inside the measured period; errors count from its start
      // to the last answer (none may go unseen).
      if (doneAt >= warmupEnd && (doneAt <= end || outcome.error !== undefined)) tally.add(outcome);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, client));
  } finally {
    agent.destroy();
  }
  const seconds = options.durationMs / 1000;
  const sorted = tally.sorted();
  const errors = [...tally.errors.values()].reduce((a, b) => a + b, 0);
  return {
    concurrency: options.concurrency,
    seconds,
    requests: tally.count,
    rps: answered / seconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    meanMs: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0,
    errors,
    errorsByKind: Object.fromEntries(tally.errors),
  };
}

/** One line for people: RPS, latency percentiles, errors. */
export function formatReport(r: LoadReport): string {
  const kinds = Object.entries(r.errorsByKind).map(([k, n]) => `${k}: ${n}`).join(', ');
  return (
    `${r.requests} requests in ${r.seconds.toFixed(1)} s at concurrency ${r.concurrency}: ${r.rps.toFixed(1)} RPS, ` +
    `p50 ${r.p50Ms.toFixed(2)} ms, p90 ${r.p90Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(2)} ms, ` +
    `errors ${r.errors}${kinds ? ` (${kinds})` : ''}`
  );
}
