/**
 * The scoring server over HTTP, started in-process on a free port: the API and its metrics, every kind of
 * bad input (each answered 4xx, none harming the requests after it), overload (503 + Retry-After), a
 * client hanging up, the context cache (scores identical with it on and off), and closed-loop load with no
 * errors. Shutdown by SIGTERM runs the built CLI in a child process (server-shutdown.test.ts).
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelToFiles, randomModel, randomRequest, score } from '../src/index.js';
import { saveModelDir } from '../src/node.js';
import { runCli } from './helpers.js';
import type { Model, RequestJson } from '../src/index.js';
import { modelDigest } from '../src/server/context-cache.js';
import { runLoad } from '../src/server/load.js';
import { startServer } from '../src/server/serve.js';
import type { RunningServer, ServeOptions } from '../src/server/serve.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: any;
}

/** One HTTP exchange with node:http (fetch would hide chunked bodies and the exact headers sent). */
function exchange(url: string, options: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string | number>; chunked?: boolean } = {}): Promise<Reply> {
  const target = new URL(options.path ?? '/v1/score', url);
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', ...options.headers };
    if (body && !options.chunked) headers['Content-Length'] = body.length;
    const req = httpRequest(target, { method: options.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body && options.chunked) {
      // Two chunks and no Content-Length: the limit must be enforced while reading.
      req.write(body.subarray(0, body.length >> 1));
      req.end(body.subarray(body.length >> 1));
    } else req.end(body);
  });
}

const post = (server: RunningServer, body: unknown) => exchange(server.url, { body: JSON.stringify(body) });

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function scrape(server: RunningServer): Promise<string> {
  const reply = await exchange(server.url, { method: 'GET', path: '/metrics' });
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return reply.text;
}

function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `candidate ${i}`).toBeLessThanOrEqual(1e-5));
}

function served(model: Model): Pick<ServeOptions, 'model' | 'modelVersion'> {
  const files = modelToFiles(model);
  return { model, modelVersion: modelDigest(files.modelJson, files.weightsBytes) };
}

// Interleaved context and target fields (c0 t0 c1 c2 t1 ...), odd dim.
const model = randomModel({ arch: 'dlrm', context: 5, target: 3, dim: 7, mlp: [16, 8], seed: 3 });
const reference = (request: RequestJson) => score(model, request, { backend: 'js' }).scores;

describe('the scoring API', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 2, maxBodyBytes: 16 * 1024, maxCandidates: 100 });
  });
  afterAll(() => server?.close());

  it('POST /v1/score returns the scores in request order, the backend, the plan and the timing', async () => {
    for (const n of [1, 2, 37, 100]) {
      const request = randomRequest(model.spec, n, n);
      const reply = await post(server, request);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.json).toMatchObject({ backend: 'wasm', plan: 'rank-aware' });
      expectClose(reply.json.scores, reference(request));
      const t = reply.json.timing;
      for (const k of ['totalMs', 'contextMs', 'queuedMs', 'candidatesMs', 'tiles']) expect(typeof t[k], k).toBe('number');
      expect(t.totalMs).toBeGreaterThanOrEqual(t.candidatesMs);
      expect(t.contextCache).toBe('miss');
    }
  });

  it('GET /healthz says ok, with the model version and how it is served; HEAD works too', async () => {
    const reply = await exchange(server.url, { method: 'GET', path: '/healthz' });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ status: 'ok', modelVersion: server.cache.modelVersion, backend: 'wasm', plan: 'rank-aware', threads: 2 });
    expect(server.cache.modelVersion).toMatch(/^[0-9a-f]{64}$/);
    expect((await exchange(server.url, { method: 'HEAD', path: '/healthz' })).status).toBe(200);
  });

  it('GET /metrics is Prometheus text with requests, latency, candidates and the context cache', async () => {
    const request = randomRequest(model.spec, 9, 99);
    const before = await scrape(server);
    await post(server, request);
    await post(server, request);
    const text = await scrape(server);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#')))
      expect(line).toMatch(/^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? (-?[0-9.e+-]+|NaN|\+Inf)$/);
    const delta = (series: string) => metricValue(text, series) - metricValue(before, series);
    expect(delta('rankaware_http_requests_total{route="score",code="200"}')).toBe(2);
    expect(delta('rankaware_candidates_scored_total')).toBe(18);
    expect(delta('rankaware_score_duration_seconds_count')).toBe(2);
    expect(delta('rankaware_context_cache_hits_total')).toBe(1);
    expect(delta('rankaware_context_cache_misses_total')).toBe(1);
    expect(metricValue(text, 'rankaware_context_cache_bytes')).toBeGreaterThan(0);
    expect(metricValue(text, 'rankaware_context_cache_capacity_bytes')).toBe(64 * 1024 * 1024);
    expect(metricValue(text, 'rankaware_requests_in_flight')).toBe(0);
    expect(metricValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(text).toContain(`rankaware_info{model_version="${server.cache.modelVersion}",backend="wasm",plan="rank-aware",threads="2",mode="shared-memory"} 1`);
    expect(text).toMatch(/# TYPE rankaware_score_duration_seconds histogram/);
  });

  describe('bad input gets a 4xx naming the problem, and harms no other request', () => {
    const good = randomRequest(model.spec, 4, 1);
    const body = (v: unknown) => ({ body: JSON.stringify(v) });
    const cases: { name: string; send: Parameters<typeof exchange>[1]; status: number; kind: string; error: RegExp }[] = [
      { name: 'malformed JSON', send: { body: '{"context": {' }, status: 400, kind: 'bad_json', error: /^request body: expected valid JSON, received a parse error/ },
      { name: 'an empty body', send: { body: '' }, status: 400, kind: 'bad_json', error: /^request body: expected valid JSON, received an empty body$/ },
      // Nested 5,000 deep (within --max-body-bytes): refused before parsing, not a 500 from a recursion's stack.
      { name: 'arrays nested deeply at the top level', send: { body: '['.repeat(5000) + ']'.repeat(5000) }, status: 400, kind: 'too_deep', error: /^request body: expected JSON nested at most 32 deep \(a request nests 4\), received arrays or objects nested deeper, at byte 32$/ },
      { name: 'arrays nested deeply in a context value', send: { body: `{"context": {"c0": ${'['.repeat(5000) + ']'.repeat(5000)}}, "candidates": [{}]}` }, status: 400, kind: 'too_deep', error: /^request body: expected JSON nested at most 32 deep/ },
      { name: 'arrays nested deeply as a candidate', send: { body: `{"context": {}, "candidates": [${'['.repeat(5000) + ']'.repeat(5000)}]}` }, status: 400, kind: 'too_deep', error: /^request body: expected JSON nested at most 32 deep/ },
      { name: 'nesting just within the bound, in a string-free shape', send: { body: '['.repeat(32) + ']'.repeat(32) }, status: 400, kind: 'invalid_request', error: /^request: expected an object \{"context"/ },
      { name: 'JSON that is not an object', send: body([1, 2]), status: 400, kind: 'invalid_request', error: /^request: expected an object \{"context"/ },
      { name: 'an unknown top-level key', send: body({ ...good, user: 1 }), status: 400, kind: 'invalid_request', error: /^request\.user: expected only the keys "context" and "candidates"/ },
      { name: 'no context', send: body({ candidates: good.candidates }), status: 400, kind: 'invalid_request', error: /^request\.context: expected an object of context field values, received nothing/ },
      { name: 'a missing context field', send: body({ ...good, context: { ...good.context, c2: undefined } }), status: 400, kind: 'invalid_request', error: /^request\.context\.c2: expected an id in \[0, 1000\), received nothing \(missing field\)$/ },
      { name: 'a target field in the context', send: body({ ...good, context: { ...good.context, t0: 1 } }), status: 400, kind: 'invalid_request', error: /^request\.context\.t0: expected no target field here/ },
      { name: 'an unknown candidate field', send: body({ ...good, candidates: [{ ...good.candidates[0], nope: 1 }] }), status: 400, kind: 'invalid_request', error: /^request\.candidates\[0\]\.nope: expected a field the model declares/ },
      { name: 'an id out of the vocab', send: body({ ...good, candidates: [good.candidates[0], { ...good.candidates[1], t1: 1000 }] }), status: 400, kind: 'invalid_request', error: /^request\.candidates\[1\]\.t1: expected an id in \[0, 1000\)/ },
      { name: 'a string id', send: body({ ...good, context: { ...good.context, c0: '3' } }), status: 400, kind: 'invalid_request', error: /^request\.context\.c0: expected an integer id in \[0, 1000\), received "3"$/ },
      { name: 'no candidates', send: body({ ...good, candidates: [] }), status: 400, kind: 'invalid_request', error: /^request\.candidates: expected a non-empty array of candidates, received an empty array$/ },
      { name: 'candidates not an array', send: body({ ...good, candidates: { t0: 1 } }), status: 400, kind: 'invalid_request', error: /^request\.candidates: expected a non-empty array of candidates, received an object$/ },
      { name: 'more candidates than --max-candidates', send: body({ ...good, candidates: Array.from({ length: 101 }, () => good.candidates[0]) }), status: 400, kind: 'too_many_candidates', error: /^request\.candidates: expected at most 100 candidates \(--max-candidates\), received 101 candidates$/ },
      { name: 'a body over --max-body-bytes (Content-Length)', send: { body: ' '.repeat(16 * 1024 + 1) }, status: 413, kind: 'body_too_large', error: /^request body: expected at most 16384 bytes \(--max-body-bytes\), received 16385 bytes \(Content-Length\)$/ },
      { name: 'a chunked body over --max-body-bytes', send: { body: ' '.repeat(40 * 1024), chunked: true }, status: 413, kind: 'body_too_large', error: /^request body: expected at most 16384 bytes \(--max-body-bytes\), received more than 16384 bytes$/ },
      { name: 'an unsupported Content-Type', send: { ...body(good), headers: { 'Content-Type': 'text/plain' } }, status: 415, kind: 'unsupported_media_type', error: /^Content-Type: expected "application\/json", received "text\/plain"$/ },
      { name: 'GET on /v1/score', send: { method: 'GET' }, status: 405, kind: 'method_not_allowed', error: /^\/v1\/score method: expected POST, received "GET"$/ },
      { name: 'POST on /healthz', send: { path: '/healthz', body: '{}' }, status: 405, kind: 'method_not_allowed', error: /^\/healthz method: expected GET, received "POST"$/ },
      { name: 'an unknown path', send: { path: '/v2/score', body: '{}' }, status: 404, kind: 'not_found', error: /^path: expected one of \/v1\/score, \/healthz, \/metrics, or \/v2\/models\/[^/]+\/infer \(Open Inference Protocol\), received "\/v2\/score"$/ },
    ];
    for (const c of cases)
      it(c.name, async () => {
        const before = await scrape(server);
        const reply = await exchange(server.url, c.send);
        expect(reply.status, reply.text).toBe(c.status);
        expect(reply.headers['content-type']).toBe('application/json');
        expect(reply.json.kind).toBe(c.kind);
        expect(reply.json.error).toMatch(c.error);
        expect(Object.keys(reply.json)).toEqual(['error', 'kind', 'where', 'expected', 'received']);
        if (c.status === 405) expect(reply.headers.allow).toBe(c.send?.method === 'GET' ? 'POST' : 'GET, HEAD');
        const after = await scrape(server);
        expect(metricValue(after, `rankaware_request_errors_total{kind="${c.kind}"}`) - metricValue(before, `rankaware_request_errors_total{kind="${c.kind}"}`)).toBe(1);
        // The next request is unaffected.
        const next = await post(server, good);
        expect(next.status).toBe(200);
        expectClose(next.json.scores, reference(good));
      });

    it('bad requests interleaved with good ones under concurrency: every good one scores', async () => {
      const sends = Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0 ? post(server, randomRequest(model.spec, 1 + i, i)).then((r) => ({ i, r })) : exchange(server.url, cases[i % cases.length]!.send).then((r) => ({ i, r })),
      );
      for (const { i, r } of await Promise.all(sends)) {
        if (i % 2 === 0) {
          expect(r.status).toBe(200);
          expectClose(r.json.scores, reference(randomRequest(model.spec, 1 + i, i)));
        } else expect(r.status).toBe(cases[i % cases.length]!.status);
      }
    });

    it('unparseable HTTP gets a 400 from the server, which keeps serving', async () => {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
      expect((await post(server, good)).status).toBe(200);
    });
  });

  it('closed-loop load with 16 clients: no errors, every scrape consistent', async () => {
    const bodies = Array.from({ length: 8 }, (_, u) => Buffer.from(JSON.stringify(randomRequest(model.spec, 20 + u, 500 + u))));
    const before = await scrape(server);
    const report = await runLoad({ url: server.url, bodies, concurrency: 16, durationMs: 1500 });
    expect(report.errors, JSON.stringify(report.errorsByKind)).toBe(0);
    expect(report.requests).toBeGreaterThan(16);
    expect(report.p50Ms).toBeGreaterThan(0);
    expect(report.p99Ms).toBeGreaterThanOrEqual(report.p50Ms);
    const after = await scrape(server);
    // Requests answered after the measured period ended are served too, so the server saw at least as many.
    expect(metricValue(after, 'rankaware_http_requests_total{route="score",code="200"}') - metricValue(before, 'rankaware_http_requests_total{route="score",code="200"}')).toBeGreaterThanOrEqual(report.requests);
    expect(metricValue(after, 'rankaware_requests_in_flight')).toBe(0);
    // 8 users: all but the first visit of each hit the cache.
    expect(metricValue(after, 'rankaware_context_cache_misses_total') - metricValue(before, 'rankaware_context_cache_misses_total')).toBeLessThanOrEqual(8);
  });
});

describe('the context cache over HTTP', () => {
  it('scores are identical with the cache on and off; returning users hit it', async () => {
    const on = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 2 });
    const off = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 2, contextCacheMb: 0 });
    try {
      const users = Array.from({ length: 5 }, (_, u) => randomRequest(model.spec, 1, 40 + u).context);
      for (let visit = 0; visit < 3; visit++)
        for (const [u, context] of users.entries()) {
          // The same context spelled with its keys in another order on later visits.
          const spelled = visit === 2 ? Object.fromEntries(Object.entries(context).reverse()) : context;
          const request = { context: spelled, candidates: randomRequest(model.spec, 3 + u + visit, 70 + u * 3 + visit).candidates };
          const [a, b] = await Promise.all([post(on, request), post(off, request)]);
          expect(a.status).toBe(200);
          expect(b.status).toBe(200);
          expect(a.json.scores).toEqual(b.json.scores);
          expect(a.json.timing.contextCache).toBe(visit === 0 ? 'miss' : 'hit');
          expect(b.json.timing.contextCache).toBe('off');
          if (visit > 0) expect(a.json.timing.contextMs).toBe(0);
        }
      const [mOn, mOff] = await Promise.all([scrape(on), scrape(off)]);
      expect(metricValue(mOn, 'rankaware_context_cache_hits_total')).toBe(10);
      expect(metricValue(mOn, 'rankaware_context_cache_misses_total')).toBe(5);
      expect(metricValue(mOn, 'rankaware_context_cache_hit_ratio')).toBeCloseTo(10 / 15, 12);
      expect(metricValue(mOn, 'rankaware_context_cache_entries')).toBe(5);
      expect(metricValue(mOff, 'rankaware_context_cache_enabled')).toBe(0);
      expect(metricValue(mOff, 'rankaware_context_cache_hits_total')).toBe(0);
      expect(metricValue(mOff, 'rankaware_context_cache_misses_total')).toBe(0);
      expect(metricValue(mOff, 'rankaware_context_cache_entries')).toBe(0);
    } finally {
      await Promise.all([on.close(), off.close()]);
    }
  });

  it('stays within its byte bound, evicting the least recently used', async () => {
    // 0.002 MiB = 2097 bytes: a few contexts of this model.
    const server = await startServer({ ...served(model), port: 0, host: '127.0.0.1', backend: 'wasm', threads: 1, contextCacheMb: 0.002 });
    try {
      for (let u = 0; u < 30; u++) {
        const request = randomRequest(model.spec, 2, 900 + u);
        const reply = await post(server, request);
        expect(reply.status).toBe(200);
        expectClose(reply.json.scores, reference(request));
      }
      const text = await scrape(server);
      expect(metricValue(text, 'rankaware_context_cache_bytes')).toBeLessThanOrEqual(2097);
      expect(metricValue(text, 'rankaware_context_cache_evictions_total')).toBeGreaterThan(0);
      expect(metricValue(text, 'rankaware_context_cache_entries') + metricValue(text, 'rankaware_context_cache_evictions_total')).toBe(30);
    } finally {
      await server.close();
    }
  });
});

describe('overload and disconnects', () => {
  // Slow enough to stay in flight: the vanilla plan on the float64 reference backend, one thread.
  const slow = randomModel({ arch: 'dlrm', context: 12, target: 3, dim: 32, mlp: [128, 64], seed: 8 });

  it('a full queue answers 503 with Retry-After; the admitted requests score correctly', async () => {
    const server = await startServer({ ...served(slow), port: 0, host: '127.0.0.1', backend: 'js', plan: 'vanilla', threads: 1, maxInFlight: 1, maxQueued: 1 });
    try {
      const requests = Array.from({ length: 8 }, (_, i) => randomRequest(slow.spec, 300, i));
      const replies = await Promise.all(requests.map((r) => post(server, r)));
      const refused = replies.filter((r) => r.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.headers['retry-after']).toBe('1');
        expect(r.json).toMatchObject({ kind: 'overloaded' });
        expect(r.json.error).toMatch(/^scorer queue: expected at most 1 waiting requests \(maxQueued\)/);
      }
      replies.forEach((r, i) => {
        if (r.status === 200) expectClose(r.json.scores, score(slow, requests[i]!, { backend: 'js' }).scores);
        else expect(r.status).toBe(503);
      });
      expect(metricValue(await scrape(server), 'rankaware_request_errors_total{kind="overloaded"}')).toBe(refused.length);
    } finally {
      await server.close();
    }
  });

  it('a client that hangs up aborts its request; the server goes on', async () => {
    const server = await startServer({ ...served(slow), port: 0, host: '127.0.0.1', backend: 'js', plan: 'vanilla', threads: 1, maxInFlight: 1 });
    try {
      // About a second of work: still running when the client hangs up.
      const body = JSON.stringify(randomRequest(slow.spec, 6000, 1));
      await new Promise<void>((resolve) => {
        const req = httpRequest(new URL('/v1/score', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, agent: false });
        req.on('error', () => resolve());
        req.end(body, () => setTimeout(() => req.destroy(), 150));
      });
      let text = '';
      for (let i = 0; i < 100 && metricValue(text, 'rankaware_request_errors_total{kind="client_closed"}') === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        text = await scrape(server);
      }
      expect(metricValue(text, 'rankaware_request_errors_total{kind="client_closed"}')).toBe(1);
      // The abandoned request's tiles were dropped: the next one (which waits for the only slot) is answered.
      const next = randomRequest(slow.spec, 3, 2);
      const reply = await post(server, next);
      expect(reply.status).toBe(200);
      expectClose(reply.json.scores, score(slow, next, { backend: 'js' }).scores);
      expect(metricValue(await scrape(server), 'rankaware_candidates_scored_total')).toBe(3);
      // Gone halfway through its body: counted, and nothing stays in flight.
      await new Promise<void>((resolve) => {
        const req = httpRequest(new URL('/v1/score', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': 1000 }, agent: false });
        req.on('error', () => resolve());
        req.write('{"context": {', () => setTimeout(() => req.destroy(), 50));
      });
      for (let i = 0; i < 100 && metricValue(text, 'rankaware_request_errors_total{kind="client_closed"}') < 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
        text = await scrape(server);
      }
      expect(metricValue(text, 'rankaware_request_errors_total{kind="client_closed"}')).toBe(2);
      expect(metricValue(text, 'rankaware_requests_in_flight')).toBe(0);
      expect(metricValue(text, 'rankaware_request_errors_total{kind="internal"}')).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('startServer options', () => {
  it('refuses bad options and a port in use, naming them', async () => {
    await expect(startServer({ ...served(model), port: -1 })).rejects.toThrow(/options\.port: expected an integer >= 0, received -1/);
    await expect(startServer({ ...served(model), port: 70000 })).rejects.toThrow(/options\.port: expected a port in \[0, 65535\], received 70000/);
    await expect(startServer({ ...served(model), contextCacheMb: -1 })).rejects.toThrow(/options\.contextCacheMb: expected a number >= 0, received -1/);
    await expect(startServer({ ...served(model), maxCandidates: 0 })).rejects.toThrow(/options\.maxCandidates: expected an integer >= 1, received 0/);
    const first = await startServer({ ...served(model), port: 0, host: '127.0.0.1', threads: 1 });
    try {
      await expect(startServer({ ...served(model), port: first.port, host: '127.0.0.1', threads: 1 })).rejects.toThrow(new RegExp(`--port: expected a port free to listen on, received ${first.port} \\(EADDRINUSE\\)`));
    } finally {
      await first.close();
    }
  });
});

describe('the serve and load commands', () => {
  const run = runCli;

  it('rankaware load prints RPS, p50, p99 and errors (or one JSON line)', async () => {
    const server = await startServer({ ...served(model), port: 0, host: '127.0.0.1', threads: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'rankaware-load-'));
    try {
      const file = join(dir, 'requests.json');
      await writeFile(file, JSON.stringify([randomRequest(model.spec, 5, 11), randomRequest(model.spec, 6, 12)]));
      const text = await run('load', '--url', server.url, '--request', file, '--concurrency', '4', '--duration', '600ms', '--warmup', '0');
      expect(text.err).toBe('');
      expect(text.code).toBe(0);
      expect(text.out).toMatch(/^\d+ requests in 0\.6 s at concurrency 4: [\d.]+ RPS, p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms, errors 0$/);
      const json = await run('load', '--url', server.url, '--model', dir, '--concurrency', '2', '--duration', '300ms', '--warmup', '100ms', '--json');
      // --model needs a model directory: this one holds only the requests.
      expect(json.code).toBe(1);
      expect(json.err).toMatch(/model\.json: expected a readable file, received no such file/);
      await saveModelDir(model, dir);
      const users = await run('load', '--url', server.url, '--model', dir, '--candidates', '4', '--users', '3', '--concurrency', '3', '--duration', '300ms', '--warmup', '100ms', '--json');
      expect(users.err).toBe('');
      const usersReport = JSON.parse(users.out);
      expect(usersReport).toMatchObject({ concurrency: 3, seconds: 0.3, errors: 0 });
      expect(usersReport.requests).toBeGreaterThan(0);
      // Three users, each its own context: three cache entries (the two request-file contexts make five).
      expect(metricValue(await scrape(server), 'rankaware_context_cache_entries')).toBe(5);
      const bad = await run('load', '--url', server.url, '--request', file, '--duration', '0s');
      expect(bad.err).toBe('error: --duration: expected a positive duration such as 30s, 500ms or 2m, received "0s"');
      expect((await run('load', '--url', server.url)).err).toBe('error: rankaware load: expected one of --request FILE or --model DIR, received neither');
      const refused = await run('load', '--url', 'http://127.0.0.1:1', '--request', file, '--duration', '200ms', '--warmup', '0', '--concurrency', '1', '--json');
      expect(refused.code).toBe(0);
      const report = JSON.parse(refused.out);
      expect(report.requests).toBe(0);
      expect(report.errors).toBeGreaterThan(0);
      expect(Object.keys(report.errorsByKind)).toEqual(['ECONNREFUSED']);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rankaware serve refuses bad options with one line', async () => {
    expect((await run('serve')).err).toBe('error: --model: expected a value, received nothing (missing option)');
    const dir = await mkdtemp(join(tmpdir(), 'rankaware-serve-opts-'));
    try {
      await saveModelDir(model, dir);
      expect((await run('serve', '--model', dir, '--plan', 'fast')).err).toBe('error: --plan: expected "vanilla" or "rank-aware", received "fast"');
      expect((await run('serve', '--model', dir, '--backend', 'webgpu')).err).toBe('error: --backend: expected "auto", "wasm", "js" (the server runs on CPU threads) or "ort" (onnxruntime-node), received "webgpu"');
      expect((await run('serve', '--model', dir, '--port', '99999')).err).toBe('error: --port: expected an integer in [0, 65535], received "99999"');
      expect((await run('serve', '--model', dir, '--context-cache-mb', 'lots')).err).toBe('error: --context-cache-mb: expected a number >= 0, received "lots"');
      expect((await run('serve', '--model', dir, '--drain-timeout', 'never')).err).toBe('error: --drain-timeout: expected a positive duration such as 30s, 500ms or 2m, received "never"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
