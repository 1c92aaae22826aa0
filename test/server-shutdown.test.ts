/**
 * Graceful shutdown of `rankaware serve` as a deployment sees it: the built CLI in a child process gets
 * SIGTERM while requests are in flight; it stops accepting connections, answers every in-flight request,
 * and exits 0. A drain that outlasts --drain-timeout closes the remaining connections and still exits.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, randomRequest, score } from '../src/index.js';
import { saveModelDir } from '../src/node.js';

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
