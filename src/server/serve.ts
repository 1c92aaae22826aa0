/**
 * startServer: a scorer behind node:http, with the context cache, metrics, limits and a graceful drain.
 * Stateless apart from the context cache (which only saves work), so replicas scale behind any HTTP load
 * balancer (docs/server.md).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import type { PlanMode } from '../plan/ir.js';
import { loadModelDir } from '../node.js';
import { createScorer } from '../scorer.js';
import type { Scorer } from '../scorer.js';
import { ContextCache, modelDigest } from './context-cache.js';
import { createHandler } from './http.js';
import type { ApiState } from './http.js';
import { ServerMetrics } from './server-metrics.js';

export interface ServeOptions {
  readonly model: Model;
  /** The model's version (modelDigest of its files): part of every context cache key, reported by /healthz and /metrics. */
  readonly modelVersion: string;
  /** Default 8080; 0 picks a free port (see `port` of the result). */
  readonly port?: number;
  /** Default '0.0.0.0' (every interface, as a container needs). */
  readonly host?: string;
  /** Default 'auto': WASM where it compiles, else js (the server scores on CPU threads). */
  readonly backend?: 'auto' | 'js' | 'wasm';
  readonly plan?: PlanMode;
  /** Threads scoring tiles (default: the hardware's cores). */
  readonly threads?: number;
  /** The context cache's bound in MiB (default 64); 0 turns it off. */
  readonly contextCacheMb?: number;
  /** Default 8 MiB. */
  readonly maxBodyBytes?: number;
  /** Default 10,000. */
  readonly maxCandidates?: number;
  /** The scorer's requests scheduled at once (default 64) and waiting beyond them (default 1024; more get 503). */
  readonly maxInFlight?: number;
  readonly maxQueued?: number;
  /** How long shutdown waits for in-flight requests before closing their connections (default 30 s). */
  readonly drainTimeoutMs?: number;
}

export interface RunningServer {
  /** A URL to reach the server at (127.0.0.1 when it listens on every interface). */
  readonly url: string;
  /** What it really listens on, as the socket reports it (http://0.0.0.0:8080, http://[::]:8080). */
  readonly listening: string;
  readonly port: number;
  readonly server: Server;
  readonly scorer: Scorer;
  readonly cache: ContextCache;
  readonly metrics: ServerMetrics;
  /**
   * Graceful shutdown: fail health checks, stop accepting connections, let in-flight requests finish (up to
   * drainTimeoutMs), close every connection, dispose the scorer. Idempotent.
   */
  close(): Promise<void>;
}

export const SERVE_DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  contextCacheMb: 64,
  maxBodyBytes: 8 * 1024 * 1024,
  maxCandidates: 10_000,
  drainTimeoutMs: 30_000,
} as const;

/** Load a model directory and its version (the digest of its two files). */
export async function loadServedModel(dir: string): Promise<{ model: Model; modelVersion: string }> {
  const model = await loadModelDir(dir);
  const [json, weights] = await Promise.all([readFile(join(dir, 'model.json')), readFile(join(dir, 'weights.safetensors'))]);
  return { model, modelVersion: modelDigest(json, weights) };
}

function checkNumber(name: string, value: number | undefined, min: number, integer = true): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))))
    throw new RankawareError(`options.${name}`, `${integer ? 'an integer' : 'a number'} >= ${min}`, show(value));
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  checkNumber('port', options.port, 0);
  if (options.port !== undefined && options.port > 65535) throw new RankawareError('options.port', 'a port in [0, 65535]', show(options.port));
  checkNumber('contextCacheMb', options.contextCacheMb, 0, false);
  checkNumber('maxBodyBytes', options.maxBodyBytes, 1);
  checkNumber('maxCandidates', options.maxCandidates, 1);
  checkNumber('drainTimeoutMs', options.drainTimeoutMs, 0);
  const cacheBytes = Math.floor((options.contextCacheMb ?? SERVE_DEFAULTS.contextCacheMb) * 1024 * 1024);
  const scorer = await createScorer(options.model, {
    // auto is the CPU preference list: the server's pool runs on CPU threads, never on a GPU queue.
    ...(options.backend === undefined || options.backend === 'auto' ? { backends: ['wasm', 'js'] as const } : { backend: options.backend }),
    plan: options.plan ?? 'rank-aware',
    threads: options.threads,
    maxInFlight: options.maxInFlight,
    maxQueued: options.maxQueued,
    // The cache's bound is the scorer's context LRU's; with the cache off the server keeps no contexts.
    maxContextBytes: cacheBytes > 0 ? cacheBytes : undefined,
    maxContexts: cacheBytes > 0 ? Number.MAX_SAFE_INTEGER : undefined,
  });
  const cache = new ContextCache(scorer, options.model, options.modelVersion, cacheBytes);
  const metrics = new ServerMetrics(scorer, cache);
  const state: ApiState = { draining: false };
  const server = createServer(
    createHandler({ scorer, cache, metrics, state, limits: { maxBodyBytes: options.maxBodyBytes ?? SERVE_DEFAULTS.maxBodyBytes, maxCandidates: options.maxCandidates ?? SERVE_DEFAULTS.maxCandidates } }),
  );
  // Longer than common load balancers' idle timeout (60 s), so that they, not we, close idle connections
  // (a connection we close as the balancer reuses it would fail that request).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Unparseable HTTP (not a request we could route): count it and answer as node:http would.
    metrics.errors.inc({ kind: 'bad_http' });
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? SERVE_DEFAULTS.port, options.host ?? SERVE_DEFAULTS.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    scorer.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    throw new RankawareError('--port', 'a port free to listen on', `${show(options.port ?? SERVE_DEFAULTS.port)} (${code ?? (e as Error).message})`);
  }
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  const listening = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${port}`;
  const host = options.host ?? SERVE_DEFAULTS.host;
  const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      state.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle keep-alive connections end now; busy ones after their response (sent with Connection: close).
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.drainTimeoutMs ?? SERVE_DEFAULTS.drainTimeoutMs)));
      await Promise.race([closed, timeout]);
      clearTimeout(timer);
      server.closeAllConnections();
      scorer.dispose();
    })());
  return { url, listening, port, server, scorer, cache, metrics, close };
}
