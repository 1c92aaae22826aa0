/**
 * The HTTP attacks, by category: malformed JSON, nesting, sizes, types, unicode, prototype keys,
 * methods, paths, header floods, smuggling forms, content types, raw-protocol edge cases and slow
 * clients. Each attack is bytes on one connection (or a driver that writes them slowly) and the answers
 * it may get. The quick run sends the first attack of each category; the full run all of them, with
 * seeded random variants of the JSON ones. Floods are http-run.ts's.
 */
import type { Socket } from 'node:net';
import { drip, request, sleep } from './raw-http.js';
import { Rng } from './rng.js';

export interface AttackContext {
  /** A valid request body. */
  readonly good: string;
  readonly maxBodyBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export interface Attack {
  readonly category: string;
  readonly name: string;
  readonly drive: (socket: Socket) => void | Promise<void>;
  /** The final statuses its (every) answer may have. */
  readonly expect: readonly number[];
  /** Answers expected on the connection (pipelining); default 1. */
  readonly answers?: number;
  /** The server may close without an answer (bytes it can only drop). */
  readonly closeOk?: boolean;
  /** The server must have answered (or closed, where that is allowed) by then. */
  readonly limitMs: number;
  /** Answers to HEAD: no bodies. */
  readonly head?: boolean;
}

/** Write the bytes; keep the connection open. */
const send = (bytes: Buffer | string) => (socket: Socket) => void socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
/** Write the bytes and half-close (FIN). */
const sendEnd = (bytes: Buffer | string) => (socket: Socket) => void socket.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);

const post = (body: string | Buffer, headers: Record<string, string> = {}) => request('POST', '/v1/score', body, headers);
const nested = (depth: number, open = '[', close = ']', inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

/** The good request with one value replaced (path of keys and indices into it). */
function replaced(good: string, path: readonly (string | number)[], value: unknown): string {
  const json = JSON.parse(good);
  let node = json;
  for (const p of path.slice(0, -1)) node = node[p];
  node[path[path.length - 1]!] = value;
  return JSON.stringify(json);
}

/** Where values sit in the good request: [path, kind]. */
function valuePaths(good: string): (string | number)[][] {
  const json = JSON.parse(good);
  const out: (string | number)[][] = [['context'], ['candidates']];
  for (const k of Object.keys(json.context)) out.push(['context', k]);
  (json.candidates as Record<string, unknown>[]).slice(0, 3).forEach((c, i) => {
    out.push(['candidates', i]);
    for (const k of Object.keys(c)) out.push(['candidates', i, k]);
  });
  return out;
}

const ODD: unknown[] = [null, true, false, '', '1', 'x', -1, 0.5, 1e300, 2 ** 53, 2 ** 31, [], [[1]], [1, 2], {}, { a: 1 }, '\u0000', '__proto__'];

export function attacks(ctx: AttackContext, seed: number, full: boolean): Attack[] {
  const out: Attack[] = [];
  const limit = 5000;
  const add = (category: string, name: string, drive: Attack['drive'], expect: readonly number[], more: Partial<Attack> = {}) =>
    out.push({ category, name, drive, expect, limitMs: limit, ...more });
  const good = ctx.good;
  const json = JSON.parse(good);
  const head = 'POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';
  const contextKey = Object.keys(json.context)[0]!;

  // Malformed JSON: 400 bad_json.
  for (const [name, body] of [
    ['cut short', good.slice(0, good.length >> 1)],
    ['trailing garbage', good + ' x'],
    ['single quotes', good.replace(/"/g, "'")],
    ['NaN literal', replaced(good, ['context', contextKey], 0).replace(/:0/, ':NaN')],
    ['a comment', '/* c */' + good],
    ['a trailing comma', good.replace(/}$/, ',}')],
    ['whitespace only', '   \n\t '],
    ['an empty body', ''],
    ['a lone string escape', '"\\u12"'],
    ['leading zeros', replaced(good, ['context', contextKey], 0).replace(/:0/, ':007')],
    ['two documents', good + good],
  ] as const)
    add('malformed JSON', name, send(post(body)), [400]);
  if (full) {
    // Bytes of the good request flipped, deleted or duplicated: refused, or (rarely) still a valid request.
    for (let i = 0; i < 300; i++) {
      const rng = Rng.for(seed, 'json-mutation', i);
      const bytes = Buffer.from(good, 'utf8');
      const at = rng.int(bytes.length);
      const how = rng.int(3);
      const body = how === 0 ? Buffer.concat([bytes.subarray(0, at), Buffer.of(rng.pick([0x7b, 0x7d, 0x5b, 0x5d, 0x22, 0x2c, 0x3a, 0x5c, 0x00, 0xff, 0x31]))]) : how === 1 ? Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + rng.int(8))]) : Buffer.concat([bytes.subarray(0, at), bytes.subarray(at - rng.int(at + 1))]);
      const mutated = how === 0 ? Buffer.concat([body, bytes.subarray(at + 1)]) : body;
      add('malformed JSON', `random mutation ${i}`, send(post(mutated)), [200, 400, 422]);
    }
  }

  // Nesting: 400 too_deep, found before parsing.
  for (const [name, body] of [
    ['arrays at the top level', nested(100_000)],
    ['in a context value', `{"context": {"${contextKey}": ${nested(100_000)}}, "candidates": [{}]}`],
    ['as a candidate', `{"context": {}, "candidates": [${nested(100_000)}]}`],
    ['objects', nested(100_000, '{"a":', '}')],
    ['mixed, inside strings too', `{"context": {"k": "${'['.repeat(1000)}"}, "x": ${nested(50_000, '[{"a":', '}]')}}`],
    ['33 deep', nested(33)],
    ['4 MB of brackets', '['.repeat(4 * 1024 * 1024)],
  ] as const)
    add('nesting', name, send(post(body)), [400]);

  // Sizes: 413 over --max-body-bytes (read while the client still sends), 400 over --max-candidates.
  const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
  add('sizes', '10 MB with Content-Length', send(post(big)), [413]);
  add('sizes', '10 MB chunked', send(Buffer.concat([Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')])), [413]);
  add('sizes', 'one byte over the limit', send(post(Buffer.alloc(ctx.maxBodyBytes + 1, 0x20))), [413]);
  add('sizes', 'exactly the limit', send(post(Buffer.concat([Buffer.from('{}'), Buffer.alloc(ctx.maxBodyBytes - 2, 0x20)]))), [400]);
  add('sizes', 'Content-Length 1e15, few bytes', send(post('{}', { 'Content-Length': '1000000000000000' })), [413]);
  add('sizes', 'Content-Length past 2^64', send(post('{}', { 'Content-Length': '99999999999999999999999' })), [400, 413]);
  add('sizes', '10,001 candidates', send(post(JSON.stringify({ context: json.context, candidates: Array.from({ length: 10_001 }, (_, i) => json.candidates[i % json.candidates.length]) }))), [400]);
  add('sizes', '10,000 candidates (the limit: scored)', send(post(JSON.stringify({ context: json.context, candidates: Array.from({ length: 10_000 }, (_, i) => json.candidates[i % json.candidates.length]) }))), [200], { limitMs: 30_000 });
  add('sizes', 'a 1 MB string value', send(post(replaced(good, ['context', contextKey], 'x'.repeat(1 << 20)))), [400]);
  add('sizes', 'a key of 1 MB', send(post(`{"context": {"${'k'.repeat(1 << 20)}": 1}, "candidates": [{}]}`)), [400]);

  // Types: every value position given every odd value.
  const positions = valuePaths(good);
  const typeCases = full ? positions.flatMap((p) => ODD.map((v) => [p, v] as const)) : [[['context', contextKey], '1'] as const, [['candidates'], {}] as const, [['candidates', 0], null] as const];
  for (const [path, value] of typeCases) add('types', `${path.join('.')} = ${JSON.stringify(value)}`, send(post(replaced(good, path, value))), [400]);
  add('types', 'a request that is an array', send(post('[' + good + ']')), [400]);
  add('types', 'a request that is a number', send(post('1')), [400]);

  // Unicode: field names and values no model declares; broken encodings.
  for (const [name, body] of [
    ['an emoji key', replaced(good, ['context', '\u{1f600}'], 1)],
    ['a right-to-left override in a key', replaced(good, ['context', `${contextKey}\u202e`], 1)],
    ['a zero-width joiner in a key', replaced(good, ['context', `${contextKey}\u200d`], 1)],
    ['a NUL in a key', replaced(good, ['context', `${contextKey}\u0000`], 1)],
    ['a lone surrogate', good.replace(`"${contextKey}"`, '"\\ud800"')],
    ['Arabic-Indic digits as an id', replaced(good, ['context', contextKey], '\u0661')],
    ['a fullwidth key', replaced(good, ['context', contextKey.replace(/./g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0))], 1)],
  ] as const)
    add('unicode', name, send(post(body)), [400]);
  add('unicode', 'invalid UTF-8 bytes', send(post(Buffer.concat([Buffer.from(good.slice(0, 12)), Buffer.of(0xc3, 0x28, 0xff, 0xfe, 0xc0, 0xaf), Buffer.from(good.slice(12))]))), [400]);
  add('unicode', 'a UTF-16 body', send(post(Buffer.from(good, 'utf16le'))), [400]);
  add('unicode', 'a byte order mark', send(post(Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(good)]))), [400]);

  // Prototype keys: own keys named like Object.prototype members must be refused as unknown, never followed.
  for (const [name, body] of [
    ['__proto__ at the top', good.replace(/^{/, '{"__proto__": {"polluted": 1}, ')],
    ['__proto__ holding the context', `{"__proto__": {"context": ${JSON.stringify(json.context)}}, "candidates": ${JSON.stringify(json.candidates)}}`],
    // Text-level: an assignment to __proto__ would set the prototype, not write the key.
    ['__proto__ in the context', good.replace('"context":{', `"context":{"__proto__":{"${contextKey}":1},`)],
    ['__proto__ as the whole context', `{"context": {"__proto__": ${JSON.stringify(json.context)}}, "candidates": ${JSON.stringify(json.candidates)}}`],
    ['constructor in the context', replaced(good, ['context', 'constructor'], 1)],
    ['toString in a candidate', replaced(good, ['candidates', 0, 'toString'], 1)],
    ['hasOwnProperty in a candidate', replaced(good, ['candidates', 0, 'hasOwnProperty'], 1)],
    ['__proto__ as a candidate\'s only key', `{"context": ${JSON.stringify(json.context)}, "candidates": [{"__proto__": ${JSON.stringify(json.candidates[0])}}]}`],
    ['prototype as a key', replaced(good, ['prototype'], {})],
  ] as const)
    add('prototype keys', name, send(post(body)), [400]);

  // Methods.
  for (const m of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'HEAD']) add('methods', `${m} /v1/score`, send(request(m, '/v1/score')), [405], { head: m === 'HEAD' });
  add('methods', 'POST /healthz', send(request('POST', '/healthz', '{}')), [405]);
  add('methods', 'POST /metrics', send(request('POST', '/metrics', '{}')), [405]);
  add('methods', 'GET /healthz', send(request('GET', '/healthz')), [200]);
  add('methods', 'HEAD /metrics', send(request('HEAD', '/metrics')), [200], { head: true });
  add('methods', 'a lowercase post', send(post(good).toString('latin1').replace(/^POST/, 'post')), [400]);
  add('methods', 'an unknown method', send(request('FROB', '/v1/score')), [400, 405]);
  add('methods', 'a 20 KB method', send(request('P'.repeat(20_000), '/v1/score')), [400, 431]);
  add('methods', 'CONNECT', send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), [405]);
  add('methods', 'an HTTP/2 preface', send('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), [400], { closeOk: true });

  // Paths.
  for (const [path, status] of [
    ['/v1/score/', 404],
    ['/V1/SCORE', 404],
    ['//v1/score', 404],
    ['/../v1/score', 404],
    ['/%2e%2e/v1/score', 404],
    ['/v1/score%00', 404],
    ['/v1/%73core', 404],
    ['http://evil.example/v1/score', 404],
    ['*', 404],
    ['/' + 'a'.repeat(100_000), 431],
  ] as const)
    add('paths', path.slice(0, 40), send(request('POST', path, good)), [status, 400]);
  add('paths', '/v1/score?query=1 (scored)', send(request('POST', '/v1/score?query=1', good)), [200]);
  add('paths', 'a space in the path', send(post(good).toString('latin1').replace('/v1/score', '/v1/ score')), [400]);
  add('paths', 'raw UTF-8 in the path', send(Buffer.concat([Buffer.from('POST /v1/sc'), Buffer.from('\u00f6re', 'utf8'), post(good).subarray(post(good).indexOf(' HTTP/1.1'))])), [400, 404]);

  // Header floods: node:http bounds the head at 16 KiB.
  add('header floods', 'one 20 KB header', send(post(good, { 'X-Flood': 'a'.repeat(20_000) })), [431]);
  add('header floods', '600 headers', send(post(good, Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`X-H${i}`, 'a'.repeat(20)])))), [431]);
  add('header floods', '3,000 tiny headers', send(post(good, Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`h${i}`, 'a'])))), [431]);
  add('header floods', 'a 15 KB cookie', send(post(good, { Cookie: 'c=' + 'a'.repeat(15_000) })), [200, 431]);
  add('header floods', 'a NUL in a header', send(post(good, { 'X-Nul': 'a\u0000b' })), [400]);
  add('header floods', 'obsolete line folding', send(post(good, { 'X-Fold': 'a\r\n b' })), [400]);
  add('header floods', 'a space in a header name', send(post(good, { 'X Bad': 'a' })), [400]);
  add('header floods', 'no Host', send(post(good).toString('latin1').replace('Host: 127.0.0.1\r\n', '')), [400]);
  add('header floods', 'two Content-Types', send(post(good).toString('latin1').replace('Content-Type: application/json\r\n', 'Content-Type: application/json\r\nContent-Type: text/plain\r\n')), [200, 400, 415]);

  // Smuggling forms: a second request hidden in the first must not be served as one.
  const smuggled = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  for (const [name, bytes] of [
    ['Content-Length and Transfer-Encoding', `${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding and Content-Length', `${head}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`],
    ['two Content-Lengths', `${head}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}${smuggled}`],
    ['two equal Content-Lengths', `${head}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`],
    ['Content-Length with a plus', `${head}Content-Length: +2\r\n\r\n{}`],
    ['a negative Content-Length', `${head}Content-Length: -1\r\n\r\n{}`],
    ['a hex Content-Length', `${head}Content-Length: 0x2\r\n\r\n{}`],
    ['chunked, identity', `${head}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
    ['xchunked', `${head}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
    ['a space before the colon', `${head}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
    ['two Transfer-Encodings', `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`],
    ['a chunk size that is not hex', `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`],
    ['bare LF line ends', 'POST /v1/score HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}'],
    ['a bare CR', `POST /v1/score HTTP/1.1\rHost: x\r\n\r\n`],
  ] as const)
    add('smuggling', name, send(bytes), [400]);
  add('smuggling', 'a 20 KB chunk extension', send(`${head}Transfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`), [400, 413]);
  add('smuggling', 'a request after a complete one (pipelined: both answered)', send(Buffer.concat([post(good), Buffer.from(smuggled)])), [200], { answers: 2 });

  // Content types.
  add('content types', 'text/plain', send(post(good, { 'Content-Type': 'text/plain' })), [415]);
  add('content types', 'multipart/form-data', send(post(good, { 'Content-Type': 'multipart/form-data; boundary=x' })), [415]);
  add('content types', 'application/json-seq', send(post(good, { 'Content-Type': 'application/json-seq' })), [415]);
  add('content types', 'an empty Content-Type', send(post(good, { 'Content-Type': '' })), [415]);
  add('content types', 'APPLICATION/JSON; charset=utf-8 (scored)', send(post(good, { 'Content-Type': 'APPLICATION/JSON; charset=utf-8' })), [200]);

  // Raw protocol edge cases: answered or closed within 5 s.
  const body = Buffer.from(good);
  add('raw protocol', 'a chunk of 1e15 bytes that never comes', send(`${head}Transfer-Encoding: chunked\r\n\r\n38D7EA4C68000\r\n{"context": `), [408], { limitMs: ctx.bodyTimeoutMs + 1500 });
  add('raw protocol', 'a chunk of 1e15 bytes, then a half-close', sendEnd(`${head}Transfer-Encoding: chunked\r\n\r\n38D7EA4C68000\r\n{"context": `), [400]);
  add('raw protocol', 'a half-close after the head', sendEnd(`${head}Content-Length: 100\r\n\r\n`), [400]);
  add('raw protocol', 'a half-close after the request (answered)', sendEnd(post(good)), [200]);
  add('raw protocol', '10 pipelined requests', send(Buffer.concat(Array.from({ length: 10 }, () => post(good)))), [200], { answers: 10 });
  add('raw protocol', '10 pipelined requests and a half-close', sendEnd(Buffer.concat(Array.from({ length: 10 }, () => post(good)))), [200], { answers: 10 });
  add('raw protocol', 'HTTP/1.0', send(post(good).toString('latin1').replace('HTTP/1.1', 'HTTP/1.0')), [200]);
  add('raw protocol', 'HTTP/0.9', send('GET /healthz\r\n\r\n'), [400]);
  add('raw protocol', 'HTTP/3.0', send(post(good).toString('latin1').replace('HTTP/1.1', 'HTTP/3.0')), [400, 505]);
  add('raw protocol', 'a TLS ClientHello', send(Buffer.from('16030100a5010000a10303' + '00'.repeat(40), 'hex')), [400], { closeOk: true });
  add('raw protocol', 'Expect: 100-continue (scored)', send(post(good, { Expect: '100-continue' })), [200]);
  add('raw protocol', 'Expect: something else', send(post(good, { Expect: 'teapot' })), [417, 200]);
  add('raw protocol', 'Upgrade: websocket', send(request('GET', '/v1/score', '', { Upgrade: 'websocket', Connection: 'Upgrade' })), [405]);
  add('raw protocol', 'a chunked body (scored)', send(`${head}Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${good}\r\n0\r\n\r\n`), [200]);
  add('raw protocol', 'a chunked body with trailers (scored)', send(`${head}Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${good}\r\n0\r\nX-Trailer: 1\r\n\r\n`), [200]);
  add('raw protocol', 'a body on GET /healthz', send(request('GET', '/healthz', good)), [200]);
  const garbage = full ? 40 : 1;
  for (let i = 0; i < garbage; i++) add('raw protocol', `random bytes ${i}`, send(Buffer.from(Rng.for(seed, 'garbage', i).bytes(64 + i * 50))), [400], { closeOk: true });

  // Slow clients: closed by their timeout (408 where an answer can go), within it.
  const headLimit = Math.ceil(ctx.headersTimeoutMs * 1.25) + 1500;
  add('slow clients', 'a head that never ends', send(head), [408], { limitMs: headLimit });
  add('slow clients', 'a connection that sends nothing', () => {}, [408], { limitMs: headLimit });
  add('slow clients', 'slowloris: a head byte every 200 ms', (s) => drip(s, Buffer.from(head + 'X-Pad: ' + 'a'.repeat(1000)), 1, 200), [408], { limitMs: headLimit });
  add('slow clients', 'a body that stalls', send(post(good).subarray(0, post(good).length - 10)), [408], { limitMs: ctx.bodyTimeoutMs + 1500 });
  add('slow clients', 'a body that drips (never silent for --body-timeout)', async (s) => {
    s.write(`${head}Content-Length: 100000\r\n\r\n`);
    await drip(s, Buffer.alloc(100_000, 0x20), 1, Math.max(50, ctx.bodyTimeoutMs / 4));
  }, [408], { limitMs: Math.ceil(ctx.requestTimeoutMs * 1.25) + 1500 });
  add('slow clients', 'an idle keep-alive connection (answered, then closed)', async (s) => {
    s.write(post(good));
    await sleep(0);
  }, [200], { limitMs: ctx.keepAliveTimeoutMs + 1000 + 1500, answers: Infinity });

  return full ? out : firstOfEach(out);
}

/** The first attack of each category (the quick run), and every slow-client and raw-protocol one. */
function firstOfEach(all: readonly Attack[]): Attack[] {
  const seen = new Set<string>();
  return all.filter((a) => {
    if (a.category === 'slow clients') return true;
    if (seen.has(a.category)) return false;
    seen.add(a.category);
    return true;
  });
}
