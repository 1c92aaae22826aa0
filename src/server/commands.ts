/**
 * The `rankaware serve` and `rankaware load` commands: their options, parsed into startServer and runLoad
 * calls. src/cli/main.ts registers them.
 */
import { readFile } from 'node:fs/promises';
import { RankawareError, show } from '../errors.js';
import { loadModelDir } from '../node.js';
import { randomRequest } from '../model/random.js';
import { isCompiledDir, loadCompiledDir } from '../onnx/dir.js';
import type { PlanMode } from '../plan/ir.js';
import { formatReport, parseDuration, runLoad } from './load.js';
import { loadServedModel, SERVE_DEFAULTS, servedName, startServer } from './serve.js';

type Values = Record<string, unknown>;
type Out = (s: string) => void;
type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

function text(v: Values, key: string): string | undefined {
  const value = v[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new RankawareError(`--${key}`, 'a value', 'nothing');
  return value;
}

function required(v: Values, key: string): string {
  const value = text(v, key);
  if (value === undefined) throw new RankawareError(`--${key}`, 'a value', 'nothing (missing option)', 'missing');
  return value;
}

function numeric(v: Values, key: string, min: number, max = Number.MAX_SAFE_INTEGER, integer = true): number | undefined {
  const s = text(v, key);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    throw new RankawareError(`--${key}`, `${integer ? 'an integer' : 'a number'} ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`}`, show(s));
  return n;
}

function plan(v: Values): PlanMode | undefined {
  const p = text(v, 'plan');
  if (p !== undefined && p !== 'vanilla' && p !== 'rank-aware') throw new RankawareError('--plan', '"vanilla" or "rank-aware"', show(p));
  return p;
}

function backend(v: Values): 'auto' | 'js' | 'wasm' | 'ort' | undefined {
  const b = text(v, 'backend');
  if (b !== undefined && b !== 'auto' && b !== 'js' && b !== 'wasm' && b !== 'ort')
    throw new RankawareError('--backend', '"auto", "wasm", "js" (the server runs on CPU threads) or "ort" (onnxruntime-node)', show(b));
  return b;
}

export const SERVE_USAGE = `  rankaware serve --model DIR [--port 8080] [--host 0.0.0.0] [--threads T] [--backend auto|wasm|js|ort] [--plan rank-aware|vanilla]
                  [--context-cache-mb 64] [--max-body-bytes 8388608] [--max-candidates 10000] [--max-in-flight 64]
                  [--max-queued 1024] [--drain-timeout 30s] [--headers-timeout 10s] [--request-timeout 30s]
                  [--body-timeout 3s] [--keep-alive-timeout 65s] [--max-connections 2048]
      HTTP scoring: POST /v1/score (request JSON), GET /healthz, GET /metrics (Prometheus), and the Open
      Inference Protocol (KServe v2): POST /v2/models/NAME/infer, GET /v2/models/NAME. SIGTERM drains.
      --backend ort: the rank-aware plan on onnxruntime-node (installed beside rankaware), T intra-op threads.
  rankaware load --url http://HOST:PORT [--concurrency 64] [--duration 30s] [--warmup 2s]
                 (--request FILE.json | --model DIR [--candidates 256] [--users 1]) [--json]
      Closed-loop load: each of C clients sends its next request when the last one returns; prints RPS,
      p50, p99 and errors. FILE holds a request or an array of them (sent in turn); --model makes --users
      random requests, each its own context.`;

export const serveCommand = {
  options: {
    model: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, threads: { type: 'string' }, backend: { type: 'string' }, plan: { type: 'string' },
    'context-cache-mb': { type: 'string' }, 'max-body-bytes': { type: 'string' }, 'max-candidates': { type: 'string' }, 'max-in-flight': { type: 'string' },
    'max-queued': { type: 'string' }, 'drain-timeout': { type: 'string' }, 'headers-timeout': { type: 'string' }, 'request-timeout': { type: 'string' },
    'body-timeout': { type: 'string' }, 'keep-alive-timeout': { type: 'string' }, 'max-connections': { type: 'string' },
  } satisfies OptionSpec as OptionSpec,
  async run(v: Values, out: Out): Promise<void> {
    const drain = text(v, 'drain-timeout');
    const duration = (key: string) => {
      const d = text(v, key);
      return d === undefined ? undefined : Math.max(1, Math.round(parseDuration(d, `--${key}`)));
    };
    const timeouts = {
      headersTimeoutMs: duration('headers-timeout'),
      requestTimeoutMs: duration('request-timeout'),
      bodyTimeoutMs: duration('body-timeout'),
      keepAliveTimeoutMs: duration('keep-alive-timeout'),
      maxConnections: numeric(v, 'max-connections', 1),
    };
    const served = await loadServedModel(required(v, 'model'));
    const running = await startServer({
      ...served,
      port: numeric(v, 'port', 0, 65535) ?? SERVE_DEFAULTS.port,
      host: text(v, 'host'),
      threads: numeric(v, 'threads', 1),
      backend: backend(v),
      plan: plan(v),
      contextCacheMb: numeric(v, 'context-cache-mb', 0, Number.MAX_SAFE_INTEGER, false),
      maxBodyBytes: numeric(v, 'max-body-bytes', 1),
      maxCandidates: numeric(v, 'max-candidates', 1),
      maxInFlight: numeric(v, 'max-in-flight', 1),
      maxQueued: numeric(v, 'max-queued', 0),
      drainTimeoutMs: drain === undefined ? undefined : parseDuration(drain, '--drain-timeout'),
      ...timeouts,
    });
    const info = running.scorer.info;
    const cache = running.cache.enabled ? `context cache ${(running.cache.capacityBytes / 1048576).toFixed(0)} MiB` : 'context cache off';
    out(`rankaware serving ${servedName(served.model)} (version ${served.modelVersion.slice(0, 12)}), listening on ${running.listening}${running.listening === running.url ? '' : ` (${running.url})`}: ${info.backend} backend, ${info.plan} plan, ${info.threads} thread(s) (${info.mode}), ${cache}`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    out(`${signal}: draining in-flight requests`);
    await running.close();
    out('stopped');
  },
};

async function requestBodies(v: Values): Promise<Buffer[]> {
  const file = text(v, 'request');
  const dir = text(v, 'model');
  if ((file === undefined) === (dir === undefined)) throw new RankawareError('rankaware load', 'one of --request FILE or --model DIR', file ? 'both' : 'neither');
  if (dir !== undefined) {
    const n = numeric(v, 'candidates', 1) ?? 256;
    const users = numeric(v, 'users', 1) ?? 1;
    // An imported graph: requests by its input names.
    if (await isCompiledDir(dir)) {
      const model = await loadCompiledDir(dir);
      return Array.from({ length: users }, (_, u) => Buffer.from(JSON.stringify(model.randomRequest(n, 1 + u, 8))));
    }
    const model = await loadModelDir(dir);
    return Array.from({ length: users }, (_, u) => Buffer.from(JSON.stringify(randomRequest(model.spec, n, 1 + u))));
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file!, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RankawareError(file!, 'a readable file of request JSON', code ?? `a parse error (${(e as Error).message})`, code ? 'missing' : 'format');
  }
  const requests = Array.isArray(json) ? json : [json];
  if (requests.length === 0) throw new RankawareError(file!, 'a request or a non-empty array of requests', 'an empty array');
  return requests.map((r) => Buffer.from(JSON.stringify(r)));
}

export const loadCommand = {
  options: {
    url: { type: 'string' }, concurrency: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, request: { type: 'string' },
    model: { type: 'string' }, candidates: { type: 'string' }, users: { type: 'string' }, json: { type: 'boolean' },
  } satisfies OptionSpec as OptionSpec,
  async run(v: Values, out: Out): Promise<void> {
    const report = await runLoad({
      url: required(v, 'url'),
      bodies: await requestBodies(v),
      concurrency: numeric(v, 'concurrency', 1, 100_000) ?? 64,
      durationMs: parseDuration(text(v, 'duration') ?? '30s', '--duration'),
      warmupMs: v.warmup === undefined ? 2000 : text(v, 'warmup') === '0' ? 0 : parseDuration(text(v, 'warmup')!, '--warmup'),
    });
    out(v.json ? JSON.stringify(report) : formatReport(report));
  },
};
