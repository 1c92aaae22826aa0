/**
 * startServer: a scorer behind node:http, with the context cache, metrics, limits and a graceful drain.
 * Stateless apart from the context cache (which only saves work), so replicas scale behind any HTTP load
 * balancer (docs/server.md).
 */
import { createServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import type { PlanMode } from '../plan/ir.js';
import { loadModelDir } from '../node.js';
import { createScorer } from '../scheduler/scorer.js';
import { importedContextKey } from './serving-scorer.js';
import { createImportedScorer } from '../onnx/scorer/scorer.js';
import type { ImportedScorer } from '../onnx/scorer/scorer.js';
import type { Scorer } from '../scheduler/scorer.js';
import { ImportedModel } from '../onnx/model.js';
import { compileModel } from '../onnx/native-graph.js';
import { createOrtScorer } from '../onnx/ort/node.js';
import { OrtServingScorer } from './ort-serving.js';
import { isCompiledDir, isImportedDir, loadCompiledDir } from '../onnx/dir.js';
import { guardConnections } from './connections.js';
import { ContextCache, modelDigest } from './context-cache.js';
import { IdleGc } from './idle-gc.js';
import { createHandler } from './http.js';
import type { ApiState } from './http.js';
import { ServerMetrics } from './server-metrics.js';
import { openInferenceFields } from './open-inference.js';
import { packageVersion } from '../package-version.js';

export interface ServeOptions {
  /** A native model, or an imported graph (compiled). */
  readonly model: Model | ImportedModel;
  /** The model's version (modelDigest of its files): part of every context cache key, reported by /healthz and /metrics. */
  readonly modelVersion: string;
  /** Default 8080; 0 picks a free port (see `port` of the result). */
  readonly port?: number;
  /** Default '0.0.0.0' (every interface, as a container needs). */
  readonly host?: string;
  /**
   * Default 'auto': WASM where it compiles, else js (the server scores on CPU threads). 'ort': the
   * rank-aware plan as ONNX on onnxruntime-node (installed beside rankaware), `threads` intra-op threads.
   */
  readonly backend?: 'auto' | 'js' | 'wasm' | 'ort';
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
  /** The request head must arrive within this (default 10 s; answered 408, closed). */
  readonly headersTimeoutMs?: number;
  /** The whole request, head and body, must arrive within this (default 30 s; at least headersTimeoutMs). */
  readonly requestTimeoutMs?: number;
  /** The longest silence while a body is read (default 3 s; answered 408, closed). */
  readonly bodyTimeoutMs?: number;
  /** Idle keep-alive connections close after this (default 65 s, above load balancers' 60 s). */
  readonly keepAliveTimeoutMs?: number;
  /** Connections open at once (default 2048); a request on one beyond them gets 503 + Retry-After. */
  readonly maxConnections?: number;
  /** After a burst, one full garbage collection once no request has been open this long (default 2 s; 0: never). */
  readonly idleGcMs?: number;
}

export interface RunningServer {
  /** A URL to reach the server at (127.0.0.1 when it listens on every interface). */
  readonly url: string;
  /** What it really listens on, as the socket reports it (http://0.0.0.0:8080, http://[::]:8080). */
  readonly listening: string;
  readonly port: number;
  readonly server: Server;
  /** The worker-pool scorer of a native model, an imported graph's (ImportedScorer), or onnxruntime's (--backend ort). */
  readonly scorer: Scorer | ImportedScorer | OrtServingScorer;
  readonly cache: ContextCache;
  readonly metrics: ServerMetrics;
  /**
   * Graceful shutdown: fail health checks, stop accepting connections, let in-flight requests finish (up to
   * drainTimeoutMs; idle keep-alive connections stay open meanwhile, and any request on them is answered
   * with Connection: close), close every connection, dispose the scorer. Idempotent.
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
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  bodyTimeoutMs: 3_000,
  // Longer than common load balancers' idle timeout (60 s), so that they, not we, close idle connections
  // (a connection we close as the balancer reuses it would fail that request).
  keepAliveTimeoutMs: 65_000,
  maxConnections: 2048,
  idleGcMs: 2000,
} as const;

/** How long a draining server leaves idle keep-alive connections open once no request is in flight: a request a client is sending on one then is answered (with Connection: close) rather than reset. */
const DRAIN_IDLE_GRACE_MS = 250;

/**
 * Load a model directory and its version (the digest of its two files): a native model, or a directory of
 * `rankaware import` (its version the digest of model.onnx and import.json), or a din / bst model compiled from its export.
 */
export async function loadServedModel(dir: string): Promise<{ model: Model | ImportedModel; modelVersion: string }> {
  if (await isImportedDir(dir)) {
    const model = await loadCompiledDir(dir);
    const [onnx, record] = await Promise.all([readFile(join(dir, 'model.onnx')), readFile(join(dir, 'import.json'))]);
    return { model, modelVersion: modelDigest(record, onnx) };
  }
  const [json, weights] = await Promise.all([readFile(join(dir, 'model.json')), readFile(join(dir, 'weights.safetensors'))]);
  // din and bst: compiled from their export.
  if (await isCompiledDir(dir)) return { model: await loadCompiledDir(dir), modelVersion: modelDigest(json, weights) };
  const model = await loadModelDir(dir);
  return { model, modelVersion: modelDigest(json, weights) };
}

/** The name a served model goes by (startup line, logs). */
export function servedName(model: Model | ImportedModel): string {
  return model instanceof ImportedModel ? model.name : model.spec.name;
}

function checkNumber(name: string, value: number | undefined, min: number, integer = true): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))))
    throw new RankawareError(`options.${name}`, `${integer ? 'an integer' : 'a number'} >= ${min}`, show(value));
}

/** The scorer and context cache of a served model: the worker-pool scorer, or an imported graph's. */
async function scorerFor(options: ServeOptions, cacheBytes: number): Promise<{ scorer: Scorer | ImportedScorer | OrtServingScorer; cache: ContextCache }> {
  const model = options.model;
  if (options.backend === 'ort') {
    if (options.plan === 'vanilla') throw new RankawareError('--plan', '"rank-aware" with --backend ort (it runs the rank-aware plan\'s ONNX graphs)', '"vanilla"');
    const compiled = model instanceof ImportedModel ? model : compileModel(model);
    // On a worker thread: onnxruntime-node's run would block the event loop (health checks, the next request's body).
    const ort = await createOrtScorer(compiled, { threads: options.threads, workers: 1, maxContextBytes: cacheBytes, maxInFlight: options.maxInFlight, maxQueued: options.maxQueued });
    const scorer = new OrtServingScorer(ort);
    return { scorer, cache: new ContextCache(scorer, (context) => importedContextKey(compiled, options.modelVersion, context), options.modelVersion, cacheBytes) };
  }
  if (model instanceof ImportedModel) {
    const engine = options.backend === 'js' ? 'js' : 'wasm';
    const scorer = await createImportedScorer(model, { plan: options.plan, engine, threads: options.threads, maxInFlight: options.maxInFlight, maxQueued: options.maxQueued, maxContextBytes: cacheBytes });
    return { scorer, cache: new ContextCache(scorer, (context) => importedContextKey(model, options.modelVersion, context), options.modelVersion, cacheBytes) };
  }
  const scorer = await createScorer(model, {
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
  return { scorer, cache: new ContextCache(scorer, model, options.modelVersion, cacheBytes) };
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  checkNumber('port', options.port, 0);
  if (options.port !== undefined && options.port > 65535) throw new RankawareError('options.port', 'a port in [0, 65535]', show(options.port));
  checkNumber('contextCacheMb', options.contextCacheMb, 0, false);
  checkNumber('maxBodyBytes', options.maxBodyBytes, 1);
  checkNumber('maxCandidates', options.maxCandidates, 1);
  checkNumber('drainTimeoutMs', options.drainTimeoutMs, 0);
  checkNumber('idleGcMs', options.idleGcMs, 0);
  for (const name of ['headersTimeoutMs', 'requestTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs', 'maxConnections'] as const) checkNumber(name, options[name], 1);
  const limits = {
    headersTimeoutMs: options.headersTimeoutMs ?? SERVE_DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? Math.max(SERVE_DEFAULTS.requestTimeoutMs, options.headersTimeoutMs ?? 0),
    bodyTimeoutMs: options.bodyTimeoutMs ?? SERVE_DEFAULTS.bodyTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? SERVE_DEFAULTS.keepAliveTimeoutMs,
    maxConnections: options.maxConnections ?? SERVE_DEFAULTS.maxConnections,
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new RankawareError('options.headersTimeoutMs', `at most requestTimeoutMs (${limits.requestTimeoutMs} ms): the head is part of the request`, show(limits.headersTimeoutMs));
  const cacheBytes = Math.floor((options.contextCacheMb ?? SERVE_DEFAULTS.contextCacheMb) * 1024 * 1024);
  const { scorer, cache } = await scorerFor(options, cacheBytes);
  const idleGc = new IdleGc(options.idleGcMs ?? SERVE_DEFAULTS.idleGcMs);
  const metrics = new ServerMetrics(scorer, cache, idleGc);
  const state: ApiState = { draining: false };
  const api = {
    scorer,
    cache,
    metrics,
    state,
    idleGc,
    openInference: { name: servedName(options.model), version: options.modelVersion, fields: openInferenceFields(options.model), serverVersion: packageVersion() },
    limits: { maxBodyBytes: options.maxBodyBytes ?? SERVE_DEFAULTS.maxBodyBytes, maxCandidates: options.maxCandidates ?? SERVE_DEFAULTS.maxCandidates, bodyTimeoutMs: limits.bodyTimeoutMs, maxConnections: limits.maxConnections },
  };
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often node:http looks for requests past their timeouts (its default, 30 s, would let a 10 s limit run to 40 s).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    createHandler(api),
  );
  guardConnections(server, limits, metrics);
  server.on('connection', (socket) => idleGc.connection(socket));
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
  const drainTimeoutMs = options.drainTimeoutMs ?? SERVE_DEFAULTS.drainTimeoutMs;
  const close = () =>
    (closing ??= (async () => {
      state.draining = true;
      const deadline = performance.now() + drainTimeoutMs;
      const left = () => Math.max(0, deadline - performance.now());
      // Stop listening only (http.Server's close would also destroy idle keep-alive connections at once, and
      // reset a request a client is sending on one). Busy connections close after their answer, sent with
      // Connection: close; so does an idle one that sends another request now.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      // Unref'd: the open connections, not these waits, keep the process alive.
      const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
      const quiet = async () => {
        while (metrics.requestsOpen > 0 && left() > 0) await Promise.race([closed, timeout(Math.min(20, left()))]);
        // No request in flight: the idle connections get a moment for a request already on its way, then close.
        await Promise.race([closed, timeout(Math.min(DRAIN_IDLE_GRACE_MS, left()))]);
        server.closeIdleConnections();
      };
      await Promise.race([closed, quiet()]);
      await Promise.race([closed, timeout(left())]);
      server.closeAllConnections();
      // Stops node:http's timeout checks too.
      server.close();
      idleGc.dispose();
      scorer.dispose();
    })());
  return { url, listening, port, server, scorer, cache, metrics, close };
}
