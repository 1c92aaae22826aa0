/**
 * The scoring server against hostile clients, over raw sockets: a head that never ends, a silent
 * connection, slowloris, a body that stalls or drips, idle keep-alive connections (each closed within its
 * configured timeout, with 408 where an answer can go, and counted in the metrics), a chunk of 1e15 bytes,
 * clients that half-close, a 10 MB body (413, read before the close: never a reset), a connection cap (503
 * + Retry-After beyond it), CONNECT, a header flood and smuggling forms. Valid requests meanwhile score.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelToFiles, randomModel, randomRequest, score } from '../src/index.js';
import { modelDigest } from '../src/server/context-cache.js';
import { NestingScan } from '../src/server/http.js';
import { startServer } from '../src/server/serve.js';
import type { RunningServer, ServeOptions } from '../src/server/serve.js';
import type { Scorer } from '../src/scheduler/scorer.js';
import { rawHttp } from './helpers.js';

const model = randomModel({ arch: 'dlrm', context: 4, target: 2, dim: 8, mlp: [16], seed: 21 });
const files = modelToFiles(model);
const base: ServeOptions = { model, modelVersion: modelDigest(files.modelJson, files.weightsBytes), port: 0, host: '127.0.0.1', backend: 'js', threads: 1 };
const good = randomRequest(model.spec, 5, 1);
const goodBody = JSON.stringify(good);
const expected = score(model, good, { backend: 'js' }).scores;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEAD = 'POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Scrape, post and the like over node:http, one connection each. */
function call(server: RunningServer, path: string, body?: string): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, server.url), { method: body === undefined ? 'GET' : 'POST', agent: false, headers: body === undefined ? {} : { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function expectScores(server: RunningServer): Promise<void> {
  const reply = await call(server, '/v1/score', goodBody);
  expect(reply.status, reply.text).toBe(200);
  JSON.parse(reply.text).scores.forEach((s: number, i: number) => expect(Math.abs(s - expected[i]!)).toBeLessThanOrEqual(1e-9));
}

describe('timeouts close slow and silent clients within their limits', () => {
  const limits = { headersTimeoutMs: 600, requestTimeoutMs: 1500, bodyTimeoutMs: 400, keepAliveTimeoutMs: 500 };
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ ...base, ...limits });
  });
  afterAll(() => server?.close());

  it('a head that never ends, and a connection that sends nothing: 408 after --headers-timeout', async () => {
    const before = (await call(server, '/metrics')).text;
    const [partial, silent] = await Promise.all([rawHttp(server.port, (s) => void s.write(HEAD)), rawHttp(server.port, () => {})]);
    for (const r of [partial, silent]) {
      expect(r.status, r.data).toBe(408);
      expect(r.ended).toBe('end');
      expect(r.ms).toBeGreaterThanOrEqual(limits.headersTimeoutMs - 50);
      // The check runs every headersTimeout / 4.
      expect(r.ms).toBeLessThan(limits.headersTimeoutMs + 500);
    }
    const after = (await call(server, '/metrics')).text;
    expect(metric(after, 'rankaware_connection_timeouts_total{timeout="headers"}') - metric(before, 'rankaware_connection_timeouts_total{timeout="headers"}')).toBe(2);
  });

  it('slowloris: 40 connections dripping a header byte every 100 ms all close; valid requests score meanwhile', async () => {
    const drip = async (s: Socket) => {
      const bytes = HEAD + 'X-Padding: ' + 'a'.repeat(200);
      for (let i = 0; i < bytes.length && !s.destroyed; i++) {
        s.write(bytes[i]!);
        await sleep(100);
      }
    };
    const loris = Array.from({ length: 40 }, () => rawHttp(server.port, drip, 4000));
    await sleep(100);
    await expectScores(server);
    for (const r of await Promise.all(loris)) {
      expect(r.ended).not.toBe('open');
      expect(r.ms).toBeLessThan(limits.headersTimeoutMs + 600);
    }
    expect(metric((await call(server, '/metrics')).text, 'rankaware_connections_open')).toBe(1); // the scrape's own
  });

  it('a body that stalls: 408 body_timeout after --body-timeout, the answer naming it', async () => {
    const r = await rawHttp(server.port, (s) => void s.write(HEAD + 'Content-Length: 100\r\n\r\n{"context": '));
    expect(r.status, r.data).toBe(408);
    expect(r.ended).toBe('end');
    expect(r.ms).toBeLessThan(limits.bodyTimeoutMs + 300);
    expect(r.data).toMatch(/Connection: close/i);
    expect(JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4))).toMatchObject({ kind: 'body_timeout', where: 'request body', received: 'none for 400 ms after 12 bytes' });
  });

  it('a chunk of 1e15 bytes that never comes: 408 after --body-timeout; with a half-close: 400 at once', async () => {
    const huge = HEAD + 'Transfer-Encoding: chunked\r\n\r\n38D7EA4C68000\r\n{"context": {}';
    const [stalled, halfClosed] = await Promise.all([rawHttp(server.port, (s) => void s.write(huge)), rawHttp(server.port, (s) => void s.end(huge))]);
    expect(stalled.status, stalled.data).toBe(408);
    expect(stalled.ms).toBeLessThan(limits.bodyTimeoutMs + 300);
    expect(halfClosed.status, halfClosed.data).toBe(400);
    expect(halfClosed.ms).toBeLessThan(300);
  });

  it('a body that drips a byte every 200 ms (never silent for --body-timeout): 408 after --request-timeout', async () => {
    const before = (await call(server, '/metrics')).text;
    const r = await rawHttp(server.port, async (s) => {
      s.write(HEAD + 'Content-Length: 1000\r\n\r\n');
      for (let i = 0; i < 50 && !s.destroyed; i++) {
        s.write(' ');
        await sleep(200);
      }
    });
    expect(r.status, r.data).toBe(408);
    expect(r.ms).toBeGreaterThanOrEqual(limits.requestTimeoutMs - 50);
    expect(r.ms).toBeLessThan(limits.requestTimeoutMs + 600);
    const after = (await call(server, '/metrics')).text;
    expect(metric(after, 'rankaware_connection_timeouts_total{timeout="request"}') - metric(before, 'rankaware_connection_timeouts_total{timeout="request"}')).toBe(1);
  });

  it('an idle keep-alive connection closes after --keep-alive-timeout (node:http adds 1 s)', async () => {
    const r = await rawHttp(server.port, (s) => void s.write(`${HEAD}Content-Length: ${Buffer.byteLength(goodBody)}\r\n\r\n${goodBody}`));
    expect(r.status, r.data).toBe(200);
    expect(r.ended).toBe('end');
    expect(r.ms).toBeGreaterThanOrEqual(limits.keepAliveTimeoutMs);
    expect(r.ms).toBeLessThan(limits.keepAliveTimeoutMs + 1000 + 500);
    expect(metric((await call(server, '/metrics')).text, 'rankaware_connection_timeouts_total{timeout="keep_alive"}')).toBeGreaterThanOrEqual(1);
  });

  it('a client that half-closes after its request gets its answer, then the close', async () => {
    const two = `${HEAD}Content-Length: ${Buffer.byteLength(goodBody)}\r\n\r\n${goodBody}`.repeat(2);
    const [pipelined, headOnly] = await Promise.all([
      rawHttp(server.port, (s) => void s.end(two)),
      rawHttp(server.port, (s) => void s.end(HEAD + 'Content-Length: 100\r\n\r\n')),
    ]);
    expect(pipelined.ended).toBe('end');
    expect(pipelined.data.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(pipelined.ms).toBeLessThan(1000);
    expect(headOnly.status, headOnly.data).toBe(400);
    expect(headOnly.ms).toBeLessThan(300);
  });
});

describe('a client that half-closes while its request is scored', () => {
  it('gets 102 Processing while it waits, then its scores; the connection closes after them', async () => {
    const slow = randomModel({ arch: 'dlrm', context: 12, target: 3, dim: 32, mlp: [128, 64], seed: 8 });
    const f = modelToFiles(slow);
    const server = await startServer({ ...base, model: slow, modelVersion: modelDigest(f.modelJson, f.weightsBytes), plan: 'vanilla' });
    try {
      const request = randomRequest(slow.spec, 4000, 3);
      const body = JSON.stringify(request);
      const r = await rawHttp(server.port, (s) => void s.end(`${HEAD}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`), 20_000);
      expect(r.ended).toBe('end');
      expect(r.status).toBe(102);
      const final = r.data.slice(r.data.indexOf('HTTP/1.1 200 OK'));
      expect(final).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      const scores: number[] = JSON.parse(final.slice(final.indexOf('\r\n\r\n') + 4)).scores;
      const want = score(slow, request, { backend: 'js', plan: 'vanilla' }).scores;
      expect(scores).toHaveLength(want.length);
      scores.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThanOrEqual(1e-9));
    } finally {
      await server.close();
    }
  });
});

describe('refusals while the client is still sending', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(base);
  });
  afterAll(() => server?.close());

  it('a 10 MB body is answered 413 before the close, never reset (fast, slow and chunked writers)', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const send = (head: string, pieceDelayMs: number) =>
      rawHttp(
        server.port,
        async (s) => {
          s.write(head);
          const piece = pieceDelayMs ? 256 * 1024 : big.length;
          for (let at = 0; at < big.length && !s.destroyed; at += piece) {
            s.write(big.subarray(at, at + piece));
            if (pieceDelayMs) await sleep(pieceDelayMs);
          }
        },
        10_000,
      );
    const cl = `${HEAD}Content-Length: ${big.length}\r\n\r\n`;
    const chunked = `${HEAD}Transfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`;
    const replies = await Promise.all([...Array.from({ length: 4 }, () => send(cl, 0)), ...Array.from({ length: 8 }, () => send(cl, 3)), ...Array.from({ length: 4 }, () => send(chunked, 3))]);
    for (const r of replies) {
      expect(r.status, `${r.ended}: ${r.data.slice(0, 80)}`).toBe(413);
      expect(r.ended).toBe('end');
      expect(r.data).toMatch(/Connection: close/i);
    }
    await expectScores(server);
  });

  it('a header flood gets 431, smuggling forms 400, CONNECT 405; the server goes on', async () => {
    const flood = await rawHttp(server.port, (s) => void s.write(HEAD + `X-Flood: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(flood.status).toBe(431);
    for (const smuggle of ['Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'Content-Length: 5\r\nContent-Length: 6\r\n\r\n{}', 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n']) {
      const r = await rawHttp(server.port, (s) => void s.write(HEAD + smuggle));
      expect(r.status, smuggle).toBe(400);
      expect(r.ended).toBe('end');
    }
    const connect = await rawHttp(server.port, (s) => void s.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'));
    expect(connect.status).toBe(405);
    expect(connect.ended).toBe('end');
    const text = (await call(server, '/metrics')).text;
    expect(metric(text, 'rankaware_request_errors_total{kind="headers_too_large"}')).toBe(1);
    expect(metric(text, 'rankaware_request_errors_total{kind="bad_http"}')).toBe(3);
    await expectScores(server);
  });

  it('600 small headers (under the 16 KiB head bound) get 431 too_many_headers; an HTTP/0.9 line gets 400 bad_http', async () => {
    const many = Array.from({ length: 600 }, (_, i) => `X-H${i}: ${'a'.repeat(20)}\r\n`).join('');
    const r = await rawHttp(server.port, (s) => void s.write(HEAD + many + 'Content-Length: 2\r\n\r\n{}'));
    expect(r.status).toBe(431);
    expect(r.data).toContain('"kind":"too_many_headers"');
    expect(r.data).toContain('request headers: expected at most 100 headers, received 603');
    const old = await rawHttp(server.port, (s) => void s.write('GET /healthz\r\n\r\n'));
    expect(old.status).toBe(400);
    expect(old.data).toContain('request line: expected HTTP/1.0 or HTTP/1.1, received HTTP/0.9');
    await expectScores(server);
  });
});

describe('a body is decoded and scanned as it arrives', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(base);
  });
  afterAll(() => server?.close());

  /** `body` written a few bytes at a time, each piece its own write after a pause. */
  const dripped = (body: Buffer, piece: number) =>
    rawHttp(server.port, async (s) => {
      s.setNoDelay(true);
      s.write(`${HEAD}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      for (let at = 0; at < body.length; at += piece) {
        s.write(body.subarray(at, at + piece));
        await sleep(1);
      }
    });

  it('a valid request in 97-byte pieces scores exactly; a multi-byte character split between pieces arrives whole', async () => {
    const reply = await dripped(Buffer.from(goodBody), 97);
    expect(reply.status, reply.data).toBe(200);
    const scores = JSON.parse(reply.data.slice(reply.data.indexOf('\r\n\r\n') + 4)).scores as number[];
    scores.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThanOrEqual(1e-9));
    // The refusal quotes the value it read: é, ✓ and 😀 are 2, 3 and 4 bytes, cut apart by 1-byte pieces.
    const odd = Buffer.from(JSON.stringify({ ...good, context: { ...good.context, c0: 'é✓😀' } }));
    const refused = await dripped(odd, 1);
    expect(refused.status).toBe(400);
    expect(Buffer.from(refused.data, 'latin1').toString('utf8')).toContain('é✓😀');
  });

  it('brackets inside strings (escaped quotes too) do not count as nesting; a byte-order mark is refused as bad_json', async () => {
    const text = JSON.stringify({ ...good, context: { ...good.context, c0: '\\"' + '['.repeat(100) } });
    const reply = await dripped(Buffer.from(text), 1);
    expect(reply.status).toBe(400);
    expect(reply.data).toMatch(/"kind":"invalid_request"/);
    const bom = await dripped(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(goodBody)]), 64);
    expect(bom.status).toBe(400);
    expect(bom.data).toMatch(/"kind":"bad_json"/);
  });

  it('NestingScan finds the first bracket past the bound at its byte offset, whatever the chunk boundaries', () => {
    const text = Buffer.from('{"a": "\\\\\\"[[[[[", "b": [[[[[1]]]]], "c": [[[[[[[[2]]]]]]]]}');
    const whole = new NestingScan(6);
    whole.push(text);
    expect(whole.pastAt).toBe(text.indexOf('[[[[[[[[2') + 5);
    for (let cut = 0; cut <= text.length; cut++) {
      const split = new NestingScan(6);
      split.push(text.subarray(0, cut));
      split.push(text.subarray(cut));
      expect(split.pastAt, `cut at ${cut}`).toBe(whole.pastAt);
    }
    const byByte = new NestingScan(6);
    for (const b of text) byByte.push(Uint8Array.of(b));
    expect(byByte.pastAt).toBe(whole.pastAt);
    const shallow = new NestingScan(9); // the object and 8 brackets
    shallow.push(text);
    expect(shallow.pastAt).toBe(-1);
  });
});

describe('the connection cap', () => {
  it('a request on a connection beyond --max-connections gets 503 + Retry-After, then the close; under it, all is served', async () => {
    const server = await startServer({ ...base, maxConnections: 8 });
    try {
      // Eight idle connections fill the cap.
      const idle = await Promise.all(Array.from({ length: 8 }, () => new Promise<Socket>((resolve) => { const s = connect(server.port, '127.0.0.1', () => resolve(s)); s.on('error', () => {}); })));
      await sleep(50);
      const over = await rawHttp(server.port, (s) => void s.write(`${HEAD}Content-Length: ${Buffer.byteLength(goodBody)}\r\n\r\n${goodBody}`));
      expect(over.status, over.data).toBe(503);
      expect(over.data).toMatch(/Retry-After: 1/i);
      expect(over.data).toMatch(/Connection: close/i);
      expect(over.data).toContain('"kind":"overloaded"');
      expect(over.ended).toBe('end');
      // A connection beyond the cap that sends nothing is closed within a second.
      const silent = await rawHttp(server.port, () => {});
      expect(silent.ended).not.toBe('open');
      expect(silent.ms).toBeLessThan(1500);
      for (const s of idle) s.destroy();
      for (let i = 0; i < 100 && server.metrics.connectionsOpen > 0; i++) await sleep(10);
      await expectScores(server);
      const text = (await call(server, '/metrics')).text;
      expect(metric(text, 'rankaware_connections_refused_total{how="503"}')).toBe(1);
      expect(metric(text, 'rankaware_connections_open')).toBe(1);
      expect(metric(text, 'rankaware_connections_total')).toBe(8 + 2 + 2);
    } finally {
      await server.close();
    }
  });
});

describe('a worker that dies under load', () => {
  it('64 requests in flight, both workers killed mid-way: all 64 answered with the scores of a fault-free run', async () => {
    const heavy = randomModel({ arch: 'dlrm', context: 8, target: 3, dim: 32, mlp: [256, 128], seed: 9 });
    const f = modelToFiles(heavy);
    const server = await startServer({ ...base, model: heavy, modelVersion: modelDigest(f.modelJson, f.weightsBytes), backend: 'wasm', threads: 3, contextCacheMb: 0 });
    try {
      const requests = Array.from({ length: 64 }, (_, i) => JSON.stringify(randomRequest(heavy.spec, 1000 + 10 * i, 300 + i)));
      const all = () => Promise.all(requests.map((body) => call(server, '/v1/score', body)));
      const t0 = performance.now();
      const clean = await all();
      const cleanMs = performance.now() - t0;
      const before = server.scorer.stats;
      let answered = 0;
      const faulty = Promise.all(requests.map((body) => call(server, '/v1/score', body).then((r) => (answered++, r))));
      await sleep(cleanMs / 3);
      // Both workers at once (the calling thread, one of the three threads, goes on alone until their replacements start).
      const pool = server.scorer as Scorer;
      await Promise.all([pool.injectFault(0, 'exit'), pool.injectFault(1, 'exit')]);
      const answeredAtKill = answered;
      const replies = await faulty;
      expect(answeredAtKill, `clean run ${cleanMs.toFixed(0)} ms`).toBeLessThan(48);
      for (let i = 0; i < 200 && server.scorer.stats.workersReplaced < before.workersReplaced + 2; i++) await sleep(10);
      replies.forEach((r, i) => {
        expect(r.status, r.text.slice(0, 200)).toBe(200);
        expect(JSON.parse(r.text).scores).toEqual(JSON.parse(clean[i]!.text).scores);
      });
      const reference = score(heavy, JSON.parse(requests[63]!), { backend: 'js' }).scores;
      JSON.parse(replies[63]!.text).scores.forEach((x: number, i: number) => expect(Math.abs(x - reference[i]!)).toBeLessThanOrEqual(1e-5));
      expect(server.scorer.stats.workersReplaced).toBe(before.workersReplaced + 2);
      expect(server.scorer.stats.tilesRetried).toBeGreaterThan(before.tilesRetried);
      expect((server.scorer as Scorer).stats.duplicateResults).toBe(0);
      expect(server.metrics.errors.get({ kind: 'internal' })).toBe(0);
    } finally {
      await server.close();
    }
  });
});
