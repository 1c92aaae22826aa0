/**
 * The HTTP half of the attack suite: a real `rankaware serve` child on a DLRM, the attacks of
 * http-attacks.ts over raw connections (16 at a time) with valid requests interleaved (their scores
 * checked against the float64 reference and against each other), then floods: concurrent valid
 * requests (answered or shed with 503 + Retry-After), slowloris (closed by the head timeout while valid
 * requests score), connect-and-close, a thousand pipelined requests, parallel 10 MB bodies. The server's
 * RSS is sampled throughout; at the end it must be back within 32 MiB of where it started, and SIGTERM
 * must drain it to exit 0.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { score } from '../engine.js';
import type { Model } from '../model/model.js';
import { randomModel, randomRequest } from '../model/random.js';
import type { RequestJson } from '../model/request.js';
import { saveModelDir } from '../node.js';
import { attacks } from './http-attacks.js';
import type { Attack, AttackContext } from './http-attacks.js';
import { drip, exchange, request, sleep } from './raw-http.js';
import type { RawExchange } from './raw-http.js';
import type { Tally } from './tally.js';

export interface HttpRunOptions {
  /** The repository root (bin/rankaware.js). */
  readonly root: string;
  /** A scratch directory (the model is written there). */
  readonly workDir: string;
  readonly full: boolean;
  readonly seed: number;
  readonly tally: Tally;
  readonly log: (line: string) => void;
}

export interface MemoryReport {
  readonly startMiB: number;
  readonly peakMiB: number;
  readonly endMiB: number;
}

/** How the server runs: short timeouts, so that slow clients are seen closed in seconds. */
const LIMITS = { headersTimeoutMs: 2000, requestTimeoutMs: 6000, bodyTimeoutMs: 1000, keepAliveTimeoutMs: 2000, maxBodyBytes: 8 * 1024 * 1024 };
export const SERVE_FLAGS = ['--threads', '2', '--headers-timeout', '2s', '--request-timeout', '6s', '--body-timeout', '1s', '--keep-alive-timeout', '2s'];
/** RSS after the attack must be back within this of the start. */
export const RSS_SLACK_MIB = 32;

interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
  dead: boolean;
}

function serve(root: string, dir: string): Promise<Served> {
  const child = spawn(process.execPath, [join(root, 'bin', 'rankaware.js'), 'serve', '--model', dir, '--port', '0', '--host', '127.0.0.1', ...SERVE_FLAGS], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        const served: Served = { child, port: Number(m[1]), exited, dead: false };
        void exited.then(() => (served.dead = true));
        resolve(served);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
}

/** One request over node:http on its own connection: status, headers and body, or the error code. */
function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.setTimeout(60_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'hang' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

async function metric(port: number, series: string): Promise<number | undefined> {
  const r = await call(port, 'GET', '/metrics');
  if ('error' in r) return undefined;
  const line = r.text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const errorOutcome = (code: string) => (code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : code === 'hang' ? 'hang' : `lost: ${code}`);

/** The valid requests interleaved with the attack, and their reference scores. */
class ValidTraffic {
  private readonly bodies: string[];
  private readonly reference: number[][];
  private readonly first = new Map<number, string>();
  private next = 0;

  constructor(
    private readonly model: Model,
    private readonly requests: readonly RequestJson[],
    private readonly tally: Tally,
  ) {
    this.bodies = requests.map((r) => JSON.stringify(r));
    this.reference = requests.map((r) => score(model, r, { backend: 'js' }).scores);
  }

  get body(): string {
    return this.bodies[0]!;
  }

  /** Check one answer to request i (a 503 with Retry-After counts as shed where `shedOk`). */
  check(i: number, r: Awaited<ReturnType<typeof call>>, part: string, shedOk = false): void {
    if ('error' in r) return this.tally.add(part, errorOutcome(r.error), `valid request ${i}: ${r.error}`);
    if (r.status === 503 && r.headers['retry-after'] && shedOk) return this.tally.add(part, 'shed: 503 + Retry-After');
    if (r.status !== 200) return this.tally.add(part, r.status >= 500 ? `5xx: ${r.status}` : `unexpected: ${r.status}`, r.text.slice(0, 200));
    const scores: number[] = JSON.parse(r.text).scores;
    const want = this.reference[i]!;
    const close = scores.length === want.length && scores.every((s, j) => Math.abs(s - want[j]!) <= 1e-5 * (1 + Math.abs(want[j]!)));
    const text = JSON.stringify(scores);
    const same = (this.first.get(i) ?? text) === text;
    if (!this.first.has(i)) this.first.set(i, text);
    this.tally.add(part, close && same ? 'exact' : scores.some((s) => !Number.isFinite(s)) ? 'NaN' : 'wrong score', `request ${i}`);
  }

  async send(port: number, part: string, shedOk = false, i = this.next++ % this.bodies.length): Promise<void> {
    this.check(i, await call(port, 'POST', '/v1/score', this.bodies[i]), part, shedOk);
  }

  bodyOf(i: number): string {
    return this.bodies[i % this.bodies.length]!;
  }

  get count(): number {
    return this.requests.length;
  }

  get modelSpec() {
    return this.model.spec;
  }
}

/** What an attack's exchange counts as. */
function classify(a: Attack, r: RawExchange): { outcome: string; example: string } {
  const statuses = r.responses.map((x) => x.status);
  const example = `${a.name}: ${statuses.join(',') || 'no answer'}, ${r.ended} after ${r.ms.toFixed(0)} ms`;
  const want = a.answers ?? 1;
  const bad5xx = r.responses.find((x) => x.status >= 500 && !a.expect.includes(x.status) && !(x.status === 503 && x.headers['retry-after']));
  if (bad5xx) return { outcome: `5xx: ${bad5xx.status}`, example: `${example} ${bad5xx.body.slice(0, 200)}` };
  if (r.responses.length === 0) {
    if (r.ended === 'open') return { outcome: 'hang', example };
    if (r.ended === 'ECONNRESET' || r.ended === 'EPIPE') return { outcome: 'reset', example };
    return { outcome: a.closeOk ? 'closed without an answer (allowed)' : 'lost', example };
  }
  if (want !== Infinity && r.responses.length < want) return { outcome: r.ended === 'open' ? 'hang' : r.ended === 'ECONNRESET' ? 'reset' : 'lost', example: `${example} (${r.responses.length} of ${want} answers)` };
  // Waiting for the server's close (an idle keep-alive connection): still open is a hang.
  if (want === Infinity && r.ended === 'open') return { outcome: 'hang', example: `${example} (not closed)` };
  const odd = r.responses.find((x) => !a.expect.includes(x.status));
  if (odd) return { outcome: `unexpected: ${odd.status}`, example: `${example} (expected ${a.expect.join('/')}) ${odd.body.slice(0, 160)}` };
  const first = r.responses[0]!;
  let kind = '';
  try {
    kind = (JSON.parse(first.body) as { kind?: string }).kind ?? '';
  } catch {
    // a body that is not JSON (node:http's raw answers)
  }
  const times = r.responses.length > 1 ? ` x${r.responses.length}` : '';
  return { outcome: `${first.status}${kind ? ` ${kind}` : ''}${times}`, example };
}

/** Run `jobs` with at most `width` at once. */
async function pooled<T>(items: readonly T[], width: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await run(items[i]!, i);
      }
    }),
  );
}

export async function runHttpAttacks(o: HttpRunOptions): Promise<MemoryReport> {
  const { tally, log, full } = o;
  // The README's DLRM in the full run; a smaller one in the quick run.
  const model = full
    ? randomModel({ arch: 'dlrm', context: 27, target: 4, dim: 128, mlp: [512, 256], seed: o.seed })
    : randomModel({ arch: 'dlrm', context: 8, target: 3, dim: 16, mlp: [64, 32], seed: o.seed });
  const dir = join(o.workDir, 'serve-model');
  await saveModelDir(model, dir);
  const server = await serve(o.root, dir);
  const port = server.port;
  const valid = new ValidTraffic(model, Array.from({ length: 8 }, (_, i) => randomRequest(model.spec, full ? 256 : 64, o.seed + 100 + i)), tally);
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling && !server.dead) {
      const rss = await metric(port, 'process_resident_memory_bytes');
      if (rss !== undefined) peak = Math.max(peak, rss);
      await sleep(250);
    }
  })();
  try {
    // Warm-up: every valid request a few times (wasm tier-up, the context cache, the heap's working size).
    for (let k = 0; k < 5; k++) await pooled(Array.from({ length: valid.count }, (_, i) => i), 4, (i) => valid.send(port, 'http valid requests', false, i));
    const start = (await metric(port, 'process_resident_memory_bytes')) ?? 0;
    peak = Math.max(peak, start);
    log(`  serve on :${port} (${full ? "the README's DLRM" : 'a small DLRM'}, ${SERVE_FLAGS.join(' ')}), RSS after warm-up ${(start / 1048576).toFixed(1)} MiB (V8 heap ${(((await metric(port, 'nodejs_heap_size_total_bytes')) ?? NaN) / 1048576).toFixed(1)} MiB committed, external ${(((await metric(port, 'nodejs_external_memory_bytes')) ?? NaN) / 1048576).toFixed(1)} MiB)`);

    // The attacks, 16 connections at a time; the slow ones first so that they overlap the rest.
    const context: AttackContext = { good: valid.body, ...LIMITS };
    const list = attacks(context, o.seed, full).sort((a, b) => b.limitMs - a.limitMs);
    let done = 0;
    await pooled(list, 16, async (a) => {
      const r = await exchange(port, a.drive, a.limitMs, a.answers ?? 1, a.head);
      const { outcome, example } = classify(a, r);
      tally.add(`http ${a.category}`, outcome, example);
      if (++done % 10 === 0) await valid.send(port, 'http valid requests');
    });
    const rssNow = async () => `RSS ${(((await metric(port, 'process_resident_memory_bytes')) ?? NaN) / 1048576).toFixed(1)} MiB`;
    log(`  ${list.length} attacks in ${new Set(list.map((a) => a.category)).size} categories (${await rssNow()})`);

    // Floods.
    const n = full ? 1500 : 200;
    await pooled(Array.from({ length: n }, (_, i) => i), n, (i) => call(port, 'POST', '/v1/score', valid.bodyOf(i)).then((r) => valid.check(i % valid.count, r, 'http flood: concurrent valid requests', true)));
    log(`  flood of ${n} concurrent requests (${await rssNow()})`);

    const loris = full ? 1500 : 100;
    const headLimit = Math.ceil(LIMITS.headersTimeoutMs * 1.25) + 1500;
    const lorisHead = request('POST', '/v1/score', valid.body, { 'X-Pad': 'a'.repeat(2000) });
    const slow = pooled(Array.from({ length: loris }, (_, i) => i), loris, async () => {
      const r = await exchange(port, (s) => drip(s, lorisHead, 1, 500), headLimit);
      tally.add('http flood: slowloris', r.ended === 'open' ? 'hang' : r.responses[0]?.status === 408 ? 'closed by --headers-timeout (408)' : r.ended === 'ECONNRESET' ? 'reset' : `closed (${r.responses[0]?.status ?? 'no answer'})`, `${r.ended} after ${r.ms.toFixed(0)} ms`);
    });
    await sleep(300);
    await pooled(Array.from({ length: 20 }, (_, i) => i), 4, (i) => valid.send(port, 'http flood: valid requests during slowloris', false, i % valid.count));
    await slow;
    log(`  ${loris} slowloris connections (${await rssNow()})`);

    const churn = full ? 2000 : 200;
    await pooled(Array.from({ length: churn }, (_, i) => i), 100, async (i) => {
      const r = await exchange(port, (s) => void (i % 2 ? s.destroy() : s.end(request('POST', '/v1/score', valid.body).subarray(0, 30))), 3000);
      tally.add('http flood: connect and close', r.ended === 'open' ? 'hang' : 'closed', `${r.ended}`);
    });

    log(`  ${churn} connections opened and closed (${await rssNow()})`);
    const pipelined = full ? 1000 : 100;
    const p = await exchange(port, (s) => void s.write(Buffer.concat(Array.from({ length: pipelined }, () => request('GET', '/healthz')))), 30_000, pipelined);
    tally.add('http flood: pipelined GET /healthz', p.responses.length === pipelined && p.responses.every((x) => x.status === 200) ? `all ${pipelined} answered` : p.ended === 'open' ? 'hang' : 'lost', `${p.responses.length} answers, ${p.ended}`);

    const bigs = full ? 24 : 4;
    const big = request('POST', '/v1/score', Buffer.alloc(10 * 1024 * 1024, 0x20));
    await pooled(Array.from({ length: bigs }, (_, i) => i), bigs, async (i) => {
      const r = await exchange(port, (s) => (i % 2 ? drip(s, big, 256 * 1024, 5) : void s.write(big)), 20_000, 1);
      tally.add('http flood: parallel 10 MB bodies', r.responses[0]?.status === 413 ? '413 before the close' : r.responses.length ? `unexpected: ${r.responses[0]!.status}` : r.ended === 'open' ? 'hang' : r.ended === 'ECONNRESET' || r.ended === 'EPIPE' ? 'reset' : 'lost', r.ended);
    });

    log(`  ${bigs} parallel 10 MB bodies (${await rssNow()})`);
    // Valid traffic after it all.
    for (let i = 0; i < valid.count; i++) await valid.send(port, 'http valid requests', false, i);

    // Memory: once the connections are gone and the server has idled, RSS must be back near the start.
    for (let i = 0; i < 100 && ((await metric(port, 'rankaware_connections_open')) ?? 0) > 1; i++) await sleep(100);
    sampling = false;
    await sampler;
    // The idle collection runs 2 s after the last close, and its second pass (the one that shrinks
    // the young heap) 6 s after that.
    await sleep(10_000);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const rss = await metric(port, 'process_resident_memory_bytes');
      if (rss !== undefined) samples.push(rss);
      await sleep(1000);
    }
    const end = samples.length ? Math.min(...samples) : NaN;
    const heap = (await metric(port, 'nodejs_heap_size_used_bytes')) ?? NaN;
    const cached = (await metric(port, 'rankaware_context_cache_bytes')) ?? NaN;
    const gcs = (await metric(port, 'rankaware_idle_gc_total')) ?? NaN;
    const heapTotal = (await metric(port, 'nodejs_heap_size_total_bytes')) ?? NaN;
    const external = (await metric(port, 'nodejs_external_memory_bytes')) ?? NaN;
    tally.note(`server at the end: V8 heap used ${(heap / 1048576).toFixed(1)} MiB of ${(heapTotal / 1048576).toFixed(1)} committed, external ${(external / 1048576).toFixed(1)} MiB, context cache ${(cached / 1048576).toFixed(1)} MiB, idle collections ${gcs}`);
    const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
    const memory = { startMiB: mib(start), peakMiB: mib(Math.max(peak, end)), endMiB: mib(end) };
    const back = end - start <= RSS_SLACK_MIB * 1048576;
    tally.add('http memory', back ? `RSS back within ${RSS_SLACK_MIB} MiB` : `memory: RSS ${memory.endMiB} MiB, ${(memory.endMiB - memory.startMiB).toFixed(1)} MiB above the start`);
    tally.note(`RSS of the server: start ${memory.startMiB} MiB, peak ${memory.peakMiB} MiB, end ${memory.endMiB} MiB (min of 3 samples 10-12 s after the last connection closed)`);

    // SIGTERM drains and exits 0.
    server.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([server.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 35_000)))]);
    clearTimeout(timer);
    tally.add('http shutdown', code === 0 ? 'SIGTERM: drained, exit 0' : `unexpected: exit ${code}`);
    return memory;
  } finally {
    sampling = false;
    if (server.dead && server.child.exitCode !== 0) tally.add('http server', 'server died', `exit ${server.child.exitCode ?? server.child.signalCode}`);
    server.child.kill('SIGKILL');
  }
}
