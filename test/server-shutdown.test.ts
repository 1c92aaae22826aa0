/**
 * Graceful shutdown of `rankaware serve` as a deployment sees it: the built CLI in a child process gets
 * SIGTERM while requests are in flight; it stops accepting connections, answers every in-flight request,
 * and exits 0. A drain that outlasts --drain-timeout closes the remaining connections and still exits.
 * Under load (keep-alive clients in a closed loop, and requests on fresh connections), every request sent
 * is answered or finds the port closed: none is reset without an answer.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, randomRequest, score } from '../src/index.js';
import { saveModelDir } from '../src/node.js';
import { rawHttp } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rankaware.js');

// The vanilla plan on the float64 reference backend, one thread: requests of a few thousand candidates take a while.
const model = randomModel({ arch: 'dlrm', context: 12, target: 3, dim: 32, mlp: [128, 64], seed: 8 });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rankaware-serve-'));
  await saveModelDir(model, dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  readonly stdout: () => string;
  readonly exited: Promise<number | null>;
}

/** Start `rankaware serve` on a free port; resolves once it says where it listens. */
function serve(...extra: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', dir, '--port', '0', '--host', '127.0.0.1', '--backend', 'js', '--plan', 'vanilla', '--threads', '1', ...extra], { cwd: ROOT });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => (err += d.toString()));
    child.stdout!.on('data', (d) => {
      out += d.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), stdout: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
}

function post(port: number, body: unknown): Promise<{ status: number; json: any; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/score', method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(data), connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

async function inFlight(port: number): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve(data));
    })
      .on('error', reject)
      .end();
  });
  return Number(/^rankaware_requests_in_flight (\d+)$/m.exec(text)![1]);
}

/** Whether a new TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rankaware serve shuts down gracefully on SIGTERM', () => {
  it('stops accepting, answers every in-flight request, exits 0', async () => {
    const server = await serve();
    try {
      const requests = [0, 1, 2].map((i) => randomRequest(model.spec, 2500, 10 + i));
      const answered: number[] = [];
      const replies = requests.map((r, i) => post(server.port, r).then((reply) => (answered.push(i), reply)));
      for (let i = 0; i < 200 && (await inFlight(server.port)) < 3; i++) await sleep(20);
      server.child.kill('SIGTERM');
      let closed = false;
      for (let i = 0; i < 200 && !(closed = await refused(server.port)); i++) await sleep(10);
      expect(closed).toBe(true);
      // The listener closed while requests were still being scored.
      expect(answered.length).toBeLessThan(3);
      const done = await Promise.all(replies);
      done.forEach((reply, i) => {
        expect(reply.status).toBe(200);
        const expected = score(model, requests[i]!, { backend: 'js', plan: 'vanilla' }).scores;
        expect(reply.json.scores).toHaveLength(expected.length);
        reply.json.scores.forEach((s: number, j: number) => expect(Math.abs(s - expected[j]!)).toBeLessThanOrEqual(1e-5));
      });
      // Answered after the drain began: the connection closes after the response.
      expect(done.some((reply) => reply.connection === 'close')).toBe(true);
      expect(await server.exited).toBe(0);
      expect(server.stdout()).toMatch(/SIGTERM: draining in-flight requests\nstopped\n$/);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('under load, every request sent is answered or refused at connect: no connection reset without an answer', async () => {
    const server = await serve('--threads', '2', '--headers-timeout', '1s');
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const requests = Array.from({ length: 8 }, (_, i) => randomRequest(model.spec, 150 + 20 * i, 100 + i));
      const expected = requests.map((r) => score(model, r, { backend: 'js', plan: 'vanilla' }).scores);
      const outcomes = new Map<string, number>();
      const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      let answered = 0;
      let wrong = 0;
      /** One request: its status (scores checked), or the error code of its failure. */
      const send = (i: number, via: Agent | false) =>
        new Promise<string>((resolve) => {
          const text = JSON.stringify(requests[i]);
          const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/v1/score', method: 'POST', agent: via, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
            let data = '';
            res.on('data', (d) => (data += d));
            res.on('end', () => {
              if (res.statusCode === 200) {
                const scores: number[] = JSON.parse(data).scores;
                if (scores.length !== expected[i]!.length || scores.some((s, j) => Math.abs(s - expected[i]![j]!) > 1e-9)) wrong++;
              }
              answered++;
              resolve(String(res.statusCode));
            });
            res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
          });
          req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
          req.end(text);
        });
      // 16 keep-alive clients in a closed loop until the port is closed to them; and waves of 8 requests on fresh connections.
      const loop = async (c: number) => {
        for (let k = 0; ; k++) {
          const outcome = await send((c + k) % requests.length, agent);
          count(outcome);
          if (outcome === 'ECONNREFUSED') return;
        }
      };
      const waves = async () => {
        for (;;) {
          const wave = await Promise.all(requests.map((_, i) => send(i, false)));
          wave.forEach(count);
          if (wave.every((o) => o === 'ECONNREFUSED')) return;
        }
      };
      const load = Promise.all([...Array.from({ length: 16 }, (_, c) => loop(c)), waves()]);
      // An idle keep-alive connection that sends its request just after SIGTERM, and a slowloris head.
      const late = rawHttp(server.port, async (socket) => {
        const text = JSON.stringify(requests[0]);
        const head = `POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n`;
        const sigterm = new Promise((r) => server.child.once('sigterm-sent', r));
        socket.write(head + text);
        await new Promise((r) => socket.once('data', r));
        await sigterm;
        await sleep(100);
        socket.write(head + text);
      }, 20_000);
      const loris = rawHttp(server.port, (socket) => void socket.write('POST /v1/score HTTP/1.1\r\nHost: x\r\n'), 20_000);
      for (let i = 0; i < 500 && answered < 40; i++) await sleep(10);
      const t0 = performance.now();
      server.child.kill('SIGTERM');
      server.child.emit('sigterm-sent');
      await load;
      expect(await server.exited).toBe(0);
      // Well within --drain-timeout (30 s): node:http's timeouts go on during the drain and close the slowloris.
      expect(performance.now() - t0).toBeLessThan(4000);
      const [lateReply, lorisReply] = await Promise.all([late, loris]);
      // Both of its requests answered, the second with Connection: close.
      const second = lateReply.data.slice(lateReply.data.indexOf('HTTP/1.1', 1));
      expect(lateReply.status, lateReply.data.slice(0, 100)).toBe(200);
      expect(second, lateReply.ended).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(second).toMatch(/Connection: close/i);
      expect(lorisReply.status).toBe(408);
      const summary = JSON.stringify(Object.fromEntries(outcomes));
      // Answered (200, or 503 were the queue full) or refused at connect; nothing else.
      for (const key of outcomes.keys()) expect(['200', '503', 'ECONNREFUSED'], summary).toContain(key);
      expect(outcomes.get('200') ?? 0, summary).toBeGreaterThan(40);
      expect(wrong).toBe(0);
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
    }
  });

  it('a drain longer than --drain-timeout closes the remaining connections and still exits 0', async () => {
    const server = await serve('--drain-timeout', '300ms');
    try {
      const reply = post(server.port, randomRequest(model.spec, 9000, 1)).then(
        () => 'answered',
        (e: NodeJS.ErrnoException) => e.code,
      );
      for (let i = 0; i < 200 && (await inFlight(server.port)) < 1; i++) await sleep(20);
      const t0 = performance.now();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(await reply).toBe('ECONNRESET');
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
