/**
 * The series the scoring server exposes on GET /metrics (docs/server.md lists them): requests by route and
 * status, errors by kind, latency, candidates scored, the context cache, the scorer's recoveries, memory.
 */
import type { ServingScorer } from './serving-scorer.js';
import type { ContextCache } from './context-cache.js';
import type { IdleGc } from './idle-gc.js';
import { Counter, Gauge, Histogram, RateWindow, Registry } from './metrics.js';

/** Seconds; from a sub-millisecond cache hit on a tiny request to a queue many seconds deep. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  private readonly registry = new Registry();
  readonly requests = this.registry.add(new Counter('rankaware_http_requests_total', 'HTTP requests answered, by route and status code.'));
  readonly errors = this.registry.add(new Counter('rankaware_request_errors_total', 'Requests that failed, by kind (bad_json, too_deep, invalid_request, too_many_candidates, body_too_large, body_timeout, unsupported_media_type, not_found, method_not_allowed, overloaded, unavailable, non_finite_score, client_closed, internal, bad_http, headers_too_large, too_many_headers).'));
  readonly latency = this.registry.add(new Histogram('rankaware_score_duration_seconds', 'Time from a score request arriving to its answer, for requests that scored.', LATENCY_BUCKETS));
  readonly candidates = this.registry.add(new Counter('rankaware_candidates_scored_total', 'Candidates scored (rate() gives candidates per second).'));
  readonly connectionsOpened = this.registry.add(new Counter('rankaware_connections_total', 'TCP connections accepted.'));
  readonly connectionsRefused = this.registry.add(new Counter('rankaware_connections_refused_total', 'Connections beyond --max-connections: how="503" (their request answered 503 + Retry-After, then closed) or how="dropped" (beyond twice the cap, closed on accept).'));
  readonly timeouts = this.registry.add(new Counter('rankaware_connection_timeouts_total', 'Connections closed by a timeout: timeout="headers" (--headers-timeout), "request" (--request-timeout), "body" (--body-timeout), "keep_alive" (--keep-alive-timeout, idle between requests).'));
  private readonly candidateRate = new RateWindow(10);
  /** Connections open now (the cap's count). */
  connectionsOpen = 0;
  /** Requests of any route with their head read and their answer not yet sent (a drain waits for them). */
  requestsOpen = 0;
  /** Score requests being read, queued or scored. */
  inFlight = 0;

  constructor(scorer: ServingScorer, cache: ContextCache, idleGc?: IdleGc) {
    const r = this.registry;
    const info = scorer.info;
    r.add(new Gauge('rankaware_info', 'The model version and how it is served (value 1).', () => [{ labels: { model_version: cache.modelVersion, backend: info.backend, plan: info.plan, threads: String(info.threads), mode: info.mode }, value: 1 }]));
    r.add(new Gauge('rankaware_candidates_per_second', 'Candidates scored per second over the last 10 s.', () => this.candidateRate.rate()));
    r.add(new Gauge('rankaware_connections_open', 'TCP connections open now (--max-connections bounds them).', () => this.connectionsOpen));
    r.add(new Gauge('rankaware_requests_in_flight', 'Score requests being read, queued or scored.', () => this.inFlight));
    r.add(new Gauge('rankaware_context_cache_enabled', '1 when the context cache is on (--context-cache-mb > 0).', () => (cache.enabled ? 1 : 0)));
    r.add(new Gauge('rankaware_context_cache_hits_total', 'Requests whose context stage was skipped (a returning context).', () => cache.stats.hits, 'counter'));
    r.add(new Gauge('rankaware_context_cache_misses_total', 'Requests whose context stage ran and was cached.', () => cache.stats.misses, 'counter'));
    r.add(new Gauge('rankaware_context_cache_evictions_total', 'Cached contexts dropped by the byte or count bound.', () => cache.stats.evictions, 'counter'));
    r.add(new Gauge('rankaware_context_cache_hit_ratio', 'hits / (hits + misses) since start.', () => cache.stats.hitRatio));
    r.add(new Gauge('rankaware_context_cache_entries', 'Contexts cached now.', () => cache.stats.handles));
    r.add(new Gauge('rankaware_context_cache_bytes', 'Bytes of the cached contexts.', () => cache.stats.bytes));
    r.add(new Gauge('rankaware_context_cache_capacity_bytes', 'The cache bound (--context-cache-mb).', () => cache.capacityBytes));
    r.add(new Gauge('rankaware_scorer_tiles_retried_total', 'Candidate tiles retried after a worker failed.', () => scorer.stats.tilesRetried, 'counter'));
    r.add(new Gauge('rankaware_scorer_workers_replaced_total', 'Worker threads that died, threw or hung, and were replaced.', () => scorer.stats.workersReplaced, 'counter'));
    if (idleGc) r.add(new Gauge('rankaware_idle_gc_total', 'Full garbage collections run once the server idled after a burst.', () => idleGc.collections, 'counter'));
    r.add(new Gauge('process_resident_memory_bytes', 'Resident set size in bytes.', () => process.memoryUsage.rss()));
    r.add(new Gauge('nodejs_heap_size_used_bytes', 'V8 heap used, in bytes.', () => process.memoryUsage().heapUsed));
    r.add(new Gauge('nodejs_heap_size_total_bytes', 'V8 heap committed, in bytes.', () => process.memoryUsage().heapTotal));
    r.add(new Gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JS (Buffers, WebAssembly memories), in bytes.', () => process.memoryUsage().external));
  }

  observeScored(candidates: number, seconds: number): void {
    this.candidates.inc({}, candidates);
    this.candidateRate.add(candidates);
    this.latency.observe(seconds);
  }

  render(): string {
    return this.registry.render();
  }
}
