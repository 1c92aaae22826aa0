/**
 * The HTTP API over a scorer: routing, body limits, validation and the mapping of every failure to a
 * status code. A bad request gets a 4xx with its one-line RankawareError and touches nothing shared;
 * a full queue gets 503 with Retry-After; a client that hangs up aborts its request's pending tiles.
 *
 *   POST /v1/score   request JSON (docs/model-format.md) -> {"scores": [...], "backend", "plan", "timing"}
 *   GET  /healthz    200 {"status": "ok", ...}; 503 {"status": "draining"} once shutdown began
 *   GET  /metrics    Prometheus text
 *   /v2/...          the Open Inference Protocol (KServe v2, Triton's HTTP API): open-inference.ts
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RankawareError, show } from '../errors.js';
import { closeAfterResponse, isOverCap, trackRequest } from './connections.js';
import { checkRequestShape } from '../model/request.js';
import type { ServingResult, ServingScorer } from './serving-scorer.js';
import type { ContextCache } from './context-cache.js';
import type { IdleGc } from './idle-gc.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { discard, readBytes } from './read-bytes.js';
import type { ServerMetrics } from './server-metrics.js';
import { decodeInferRequest, inferResponse, modelMetadata, openInferenceRoute } from './open-inference.js';
import type { OpenInferenceModel } from './open-inference.js';

export interface ApiLimits {
  /** Request bodies above this many bytes get 413. */
  readonly maxBodyBytes: number;
  /** Requests with more candidates get 400. */
  readonly maxCandidates: number;
  /** A request body silent this long gets 408 (default 3 s). */
  readonly bodyTimeoutMs?: number;
  /** The connection cap, as the 503 beyond it says it. */
  readonly maxConnections?: number;
}

export interface ApiState {
  /** Set when shutdown began: health checks fail (the load balancer stops routing here) and connections close after their response. */
  draining: boolean;
}

export interface Api {
  readonly scorer: ServingScorer;
  readonly cache: ContextCache;
  readonly metrics: ServerMetrics;
  readonly limits: ApiLimits;
  readonly state: ApiState;
  /** Collects the garbage of a burst once the server idles (serve.ts). */
  readonly idleGc?: IdleGc;
  /** The served model as the Open Inference Protocol's routes name and describe it. */
  readonly openInference: OpenInferenceModel;
}

/** Why a request failed, as counted in rankaware_request_errors_total{kind}. */
export type FailureKind =
  | 'too_many_headers'
  | 'bad_json'
  | 'too_deep'
  | 'invalid_request'
  | 'too_many_candidates'
  | 'body_too_large'
  | 'body_timeout'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'overloaded'
  | 'unavailable'
  | 'non_finite_score'
  | 'client_closed'
  | 'internal'
  | 'bad_http' // unparseable HTTP, counted by the server's clientError handler (connections.ts)
  | 'headers_too_large'; // a request head over node:http's 16 KiB, answered 431 there

/** A failure with its status and kind; `error` is what the client reads. */
class HttpFailure {
  constructor(
    readonly status: number,
    readonly kind: FailureKind,
    readonly error: RankawareError,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

const ROUTES: Readonly<Record<string, { method: string; route: string }>> = {
  '/v1/score': { method: 'POST', route: 'score' },
  '/healthz': { method: 'GET', route: 'healthz' },
  '/metrics': { method: 'GET', route: 'metrics' },
};

/** Headers a request may carry (browsers and proxies send a few dozen at most). */
export const MAX_HEADERS = 100;

/** The request listener for node:http's createServer. */
export function createHandler(api: Api): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const v2 = path === '/v2' || path.startsWith('/v2/') ? openInferenceRoute(path, api.openInference.name) : undefined;
    const entry = Object.hasOwn(ROUTES, path) ? ROUTES[path]! : v2 && 'method' in v2 ? v2 : undefined;
    const route = entry?.route ?? 'unknown';
    trackRequest(req, res);
    api.metrics.requestsOpen++;
    const idle = api.idleGc?.begin();
    res.once('close', () => {
      api.metrics.requestsOpen--;
      idle?.();
    });
    res.on('finish', () => api.metrics.requests.inc({ route, code: String(res.statusCode) }));
    if (isOverCap(req.socket)) {
      // A connection beyond the cap: refused at once (its body unread), then closed.
      api.metrics.connectionsRefused.inc({ how: '503' });
      res.setHeader('Connection', 'close');
      const cap = api.limits.maxConnections;
      return fail(api, req, res, new HttpFailure(503, 'overloaded', new RankawareError('server connections', `at most ${cap ?? 'the cap of'} open connections (--max-connections)`, 'one more (overloaded: retry later)', 'overloaded'), { 'Retry-After': '1' }));
    }
    // node:http answers an HTTP/0.9 request line (no version) as if it were 1.x: refuse what no client sends.
    if (req.httpVersionMajor !== 1) {
      res.setHeader('Connection', 'close');
      return fail(api, req, res, new HttpFailure(400, 'bad_http', new RankawareError('request line', 'HTTP/1.0 or HTTP/1.1', `HTTP/${req.httpVersion}`, 'format')));
    }
    // node:http bounds the head's bytes, not its header count: hundreds of tiny headers pass that bound.
    if (req.rawHeaders.length > 2 * MAX_HEADERS) {
      res.setHeader('Connection', 'close');
      return fail(api, req, res, new HttpFailure(431, 'too_many_headers', new RankawareError('request headers', `at most ${MAX_HEADERS} headers`, `${req.rawHeaders.length / 2}`, 'format')));
    }
    if (v2 && !('method' in v2))
      return fail(api, req, res, new HttpFailure(404, 'not_found', new RankawareError('model name', `the served model, ${show(api.openInference.name)}`, show(v2.name), 'unknown')));
    if (!entry) return fail(api, req, res, new HttpFailure(404, 'not_found', new RankawareError('path', `one of ${Object.keys(ROUTES).join(', ')}, or /v2/models/${api.openInference.name}/infer (Open Inference Protocol)`, show(path))));
    // HEAD is GET without a body (node:http drops the body itself).
    const method = req.method === 'HEAD' && entry.method === 'GET' ? 'GET' : req.method;
    if (method !== entry.method)
      return fail(api, req, res, new HttpFailure(405, 'method_not_allowed', new RankawareError(`${path} method`, entry.method, show(req.method)), { Allow: entry.method === 'GET' ? 'GET, HEAD' : entry.method }));
    if (entry.route === 'healthz') return health(api, res);
    if (entry.route === 'metrics') {
      discard(req);
      if (api.state.draining) res.setHeader('Connection', 'close');
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE });
      return void res.end(api.metrics.render());
    }
    if (entry.route === 'v2_infer') return void scoreRoute(api, req, res, 'v2');
    if (entry.route.startsWith('v2_')) return openInferenceInfo(api, req, res, entry.route);
    void scoreRoute(api, req, res, 'v1');
  };
}

/** The Open Inference Protocol's metadata, liveness and readiness routes. */
function openInferenceInfo(api: Api, req: IncomingMessage, res: ServerResponse, route: string): void {
  discard(req);
  const ready = !api.state.draining;
  if (route === 'v2_live') return sendJson(api, res, 200, { live: true });
  if (route === 'v2_ready' || route === 'v2_model_ready') return sendJson(api, res, ready ? 200 : 503, { ready });
  if (route === 'v2_server') return sendJson(api, res, 200, { name: 'rankaware', version: api.openInference.serverVersion, extensions: [] });
  sendJson(api, res, 200, modelMetadata(api.openInference));
}

function health(api: Api, res: ServerResponse): void {
  const info = api.scorer.info;
  const body = { status: api.state.draining ? 'draining' : 'ok', modelVersion: api.cache.modelVersion, backend: info.backend, plan: info.plan, threads: info.threads };
  sendJson(api, res, api.state.draining ? 503 : 200, body);
}

/** POST /v1/score (request JSON), or POST /v2/models/NAME/infer (Open Inference tensors): one scoring path. */
async function scoreRoute(api: Api, req: IncomingMessage, res: ServerResponse, protocol: 'v1' | 'v2'): Promise<void> {
  const started = performance.now();
  const controller = new AbortController();
  // The client hung up before its answer: drop the request's pending tiles.
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  watchHalfClose(req, res);
  api.metrics.inFlight++;
  try {
    checkContentType(req);
    const json = parseJson(await readBody(api, req));
    const infer = protocol === 'v2' ? decodeInferRequest(json, api.openInference) : undefined;
    const request = checkRequest(infer ? infer.request : json, api.limits.maxCandidates);
    // One encoding of the context: the cache key is derived from it, and a miss's context stage runs on it.
    const cached = api.cache.lookup(request.context);
    const result = await api.scorer.score(request, { signal: controller.signal, contextKey: cached?.contextKey, encodedContext: cached?.encodedContext });
    const totalMs = performance.now() - started;
    api.metrics.observeScored(result.scores.length, totalMs / 1000);
    const timing = timingOf(result, totalMs, cached !== undefined);
    if (infer) sendJson(api, res, 200, inferResponse(api.openInference, infer.id, result.scores, { backend: result.backend, plan: result.plan, total_ms: timing.totalMs, context_cache: timing.contextCache }));
    else sendJson(api, res, 200, { scores: result.scores, backend: result.backend, plan: result.plan, timing });
  } catch (e) {
    if (controller.signal.aborted || res.destroyed) {
      api.metrics.errors.inc({ kind: 'client_closed' });
      return;
    }
    fail(api, req, res, classify(e));
  } finally {
    api.metrics.inFlight--;
  }
}

/** How often a request whose client sent FIN is probed with a 102 (watchHalfClose). */
const PROBE_MS = 250;

/**
 * The client ended its side (FIN) before the answer. It may have half-closed and wait for the answer
 * (connections.ts keeps the socket open for it), or be gone, which TCP tells only by a reset when we
 * write. So until the answer, a `102 Processing` goes every PROBE_MS: an interim answer a waiting HTTP/1.1
 * client skips, and whose second write fails on a gone one, closing the socket and so aborting the
 * request's tiles. HTTP/1.0 has no interim answers: its FIN counts as a hang-up.
 */
function watchHalfClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let timer: NodeJS.Timeout | undefined;
  const onEnd = () => {
    if (res.headersSent || res.destroyed) return;
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return void socket.destroy();
    const probe = () => {
      if (!res.headersSent && !res.destroyed && socket.writable) res.writeProcessing();
    };
    probe();
    timer = setInterval(probe, PROBE_MS);
    timer.unref();
  };
  socket.once('end', onEnd);
  res.once('close', () => {
    clearInterval(timer);
    socket.off('end', onEnd);
  });
}

function timingOf(result: ServingResult, totalMs: number, cacheOn: boolean) {
  const t = result.timing;
  return { totalMs, contextMs: t.contextMs, queuedMs: t.queuedMs, candidatesMs: t.candidatesMs, tiles: t.tiles, contextCache: cacheOn ? (t.contextCache ?? 'miss') : 'off' };
}

/** application/json (any parameters), or no Content-Type at all; anything else is refused with 415. */
function checkContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (type !== undefined && type.split(';')[0]!.trim().toLowerCase() !== 'application/json')
    throw new HttpFailure(415, 'unsupported_media_type', new RankawareError('Content-Type', '"application/json"', show(type)));
}

/** A request body as text, read without ever holding it in one native buffer. */
interface Body {
  readonly text: string;
  readonly bytes: number;
  /** The byte offset where it first nests deeper than MAX_JSON_DEPTH, or -1. */
  readonly tooDeepAt: number;
}

/**
 * The body, refused with 413 as soon as it is known to exceed the limit (declared length first, then bytes
 * read), and with 408 when it falls silent for bodyTimeoutMs (a client that stalls, or declares a chunk it
 * never sends). Each chunk is decoded and scanned as it arrives: joining the chunks into one Buffer would
 * be one malloc of up to --max-body-bytes, and freeing it makes glibc raise its mmap threshold, after
 * which the heap keeps every later burst (RSS stayed 35 MiB higher after the attack suite). The text
 * lives on V8's heap, which gives its pages back.
 */
function readBody(api: Api, req: IncomingMessage): Promise<Body> {
  const limit = api.limits.maxBodyBytes;
  const tooLarge = (received: string) => new HttpFailure(413, 'body_too_large', new RankawareError('request body', `at most ${limit} bytes (--max-body-bytes)`, received));
  const declared = Number(req.headers['content-length']);
  if (req.headers['content-length'] !== undefined && declared > limit) return Promise.reject(tooLarge(`${declared} bytes (Content-Length)`));
  const silence = api.limits.bodyTimeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    // ignoreBOM keeps a byte-order mark in the text, as Buffer#toString does: JSON refuses it.
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const nesting = new NestingScan(MAX_JSON_DEPTH);
    let parts: string[] = [];
    let length = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      parts = [];
      fn();
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        api.metrics.timeouts.inc({ timeout: 'body' });
        settle(() => reject(new HttpFailure(408, 'body_timeout', new RankawareError('request body', `its next bytes within ${silence} ms (--body-timeout)`, `none for ${silence} ms after ${length} bytes`))));
      }, silence);
    };
    arm();
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      length += chunk.length;
      if (length > limit) return settle(() => reject(tooLarge(`more than ${limit} bytes`)));
      readBytes(chunk.length);
      nesting.push(chunk);
      // Past the depth bound the text is never parsed: no need to keep it.
      if (nesting.pastAt < 0) parts.push(decoder.decode(chunk, { stream: true }));
      arm();
    });
    req.on('end', () => {
      if (settled) return;
      const body: Body = { text: nesting.pastAt < 0 ? parts.join('') + decoder.decode() : '', bytes: length, tooDeepAt: nesting.pastAt };
      settle(() => resolve(body));
    });
    req.on('error', (e) => settle(() => reject(e)));
    // A client gone mid-body: no 'end' will come (a promise left pending would hold the request forever).
    req.on('close', () => {
      if (!req.complete) settle(() => reject(new Error('the client closed the connection before the body ended')));
    });
  });
}

interface ParsedRequest {
  readonly context: unknown;
  readonly candidates: unknown;
}

/**
 * How deep a request body may nest arrays and objects. A request nests 4 deep (the request, its candidates,
 * a candidate, a list of ids); the bound leaves room and caps every later walk of the parsed value.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Where JSON text first nests deeper than `max`: a scan of the brackets outside strings, chunk by chunk,
 * in constant stack, before anything parses or walks the value (the text need not be valid JSON).
 */
export class NestingScan {
  /** The byte offset of the first bracket past the bound, or -1. */
  pastAt = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private offset = 0;

  constructor(private readonly max: number) {}

  push(bytes: Uint8Array): void {
    let { depth, inString, escaped } = this;
    for (let i = 0; i < bytes.length && this.pastAt < 0; i++) {
      const c = bytes[i]!;
      if (escaped) escaped = false;
      else if (inString) {
        if (c === 0x5c) escaped = true; // a backslash escapes the next byte, maybe in the next chunk
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (++depth > this.max) this.pastAt = this.offset + i;
      } else if (c === 0x5d || c === 0x7d) depth--;
    }
    this.offset += bytes.length;
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
  }
}

function parseJson(body: Body): unknown {
  const deep = body.tooDeepAt;
  if (deep >= 0)
    throw new HttpFailure(400, 'too_deep', new RankawareError('request body', `JSON nested at most ${MAX_JSON_DEPTH} deep (a request nests 4)`, `arrays or objects nested deeper, at byte ${deep}`, 'format'));
  let json: unknown;
  try {
    json = JSON.parse(body.text);
  } catch (e) {
    const message = (e as Error).message.replace(/\s*[\r\n]+\s*/g, ' ');
    throw new HttpFailure(400, 'bad_json', new RankawareError('request body', 'valid JSON', body.bytes === 0 ? 'an empty body' : `a parse error (${message})`, 'format'));
  }
  return json;
}

function checkRequest(json: unknown, maxCandidates: number): ParsedRequest {
  // The outer shape first: the context cache's key is derived before the scorer sees the request.
  checkRequestShape(json);
  // Refused before any encoding work: the limit protects the server's memory and time.
  if (Array.isArray(json.candidates) && json.candidates.length > maxCandidates)
    throw new HttpFailure(400, 'too_many_candidates', new RankawareError('request.candidates', `at most ${maxCandidates} candidates (--max-candidates)`, `${json.candidates.length} candidates`));
  // The scorer checks the rest (fields, ids, values) and refuses with a RankawareError.
  return json;
}

/** Map anything a score call threw to a status: the client's fault (4xx), overload (503), or ours (500). */
function classify(e: unknown): HttpFailure {
  if (e instanceof HttpFailure) return e;
  if (e instanceof RankawareError) {
    if (e.kind === 'overloaded') return new HttpFailure(503, 'overloaded', e, { 'Retry-After': '1' });
    if (e.kind === 'unavailable') return new HttpFailure(503, 'unavailable', e, { 'Retry-After': '1' });
    // Inputs within range whose logits overflow: the request cannot be scored, the server is fine.
    if (e.where.startsWith('score of ')) return new HttpFailure(422, 'non_finite_score', e);
    if (e.where === 'request' || e.where.startsWith('request.')) return new HttpFailure(400, 'invalid_request', e);
    return new HttpFailure(500, 'internal', e);
  }
  const message = e instanceof Error ? e.message : String(e);
  return new HttpFailure(500, 'internal', new RankawareError('server', 'no internal error', message.replace(/\s*[\r\n]+\s*/g, ' ')));
}

function fail(api: Api, req: IncomingMessage, res: ServerResponse, failure: HttpFailure): void {
  api.metrics.errors.inc({ kind: failure.kind });
  if (res.headersSent || res.destroyed) return;
  if (!req.complete) {
    // Unread body (413, 408, or a route that takes none): discard it, and close after this response,
    // lingering so that the client can read it however much it is still sending.
    discard(req);
    res.setHeader('Connection', 'close');
    closeAfterResponse(req.socket);
  }
  const { where, expected, received } = failure.error;
  sendJson(api, res, failure.status, { error: failure.error.message, kind: failure.kind, where, expected, received }, failure.headers);
}

function sendJson(api: Api, res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  // Shutdown began while this request ran: its connection closes after the answer.
  if (api.state.draining) res.setHeader('Connection', 'close');
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
