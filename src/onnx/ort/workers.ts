/**
 * The ort backend's sessions on worker threads (Node). onnxruntime-node's `run` is synchronous on the calling thread
 * (inside a setImmediate), so scoring on the main thread blocks its event loop for the whole run: fine for
 * a script or a batch job, not for a server answering health checks and reading the next request
 * meanwhile. `workers > 0` puts the sessions on worker threads (./worker.ts), each request on the least
 * busy one; a worker that dies fails its requests with an `unavailable` error and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { RankawareError } from '../../errors.js';
import type { OrtGraph, OrtRunner, OrtSessions, PlainTensor } from './runner.js';

export interface OrtWorkerInit {
  readonly sessions: OrtSessions;
}

export interface OrtRunRequest {
  readonly id: number;
  readonly graph: OrtGraph;
  readonly feeds: Readonly<Record<string, PlainTensor>>;
  readonly outputs: readonly string[];
}

export interface OrtRunReply {
  readonly id: number;
  readonly outputs?: Record<string, PlainTensor>;
  readonly error?: string;
}

const unavailable = (received: string) => new RankawareError('backend "ort"', 'onnxruntime sessions of the rank-aware graphs', received, 'unavailable');

/** The worker's file next to this one (from the TypeScript sources in tests, run through tsx). */
function workerUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(import.meta.url.replace(/workers\.[jt]s$/, `worker${ext}`));
}

interface Slot {
  worker: Worker;
  readonly pending: Map<number, { resolve(out: Record<string, PlainTensor>): void; reject(e: unknown): void }>;
}

/** The sessions on `count` worker threads. */
export class WorkerRunner implements OrtRunner {
  private nextId = 1;
  private disposed = false;

  private constructor(
    private readonly slots: Slot[],
    private readonly init: OrtWorkerInit,
  ) {}

  static async create(count: number, init: OrtWorkerInit): Promise<WorkerRunner> {
    const runner = new WorkerRunner([], init);
    try {
      for (let i = 0; i < count; i++) runner.slots.push(await runner.spawn());
    } catch (e) {
      await runner.dispose();
      throw e;
    }
    return runner;
  }

  private spawn(): Promise<Slot> {
    const url = workerUrl();
    const worker = url.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
      : new Worker(url);
    const slot: Slot = { worker, pending: new Map() };
    return new Promise((resolve, reject) => {
      const onStartFailure = (e: unknown) => reject(unavailable(`a worker thread that did not start (${e instanceof Error ? e.message : String(e)})`));
      worker.once('error', onStartFailure);
      worker.once('message', (m: { ready: boolean; error?: string }) => {
        worker.off('error', onStartFailure);
        if (!m.ready) {
          void worker.terminate();
          return reject(unavailable(`an error (${m.error})`));
        }
        worker.on('message', (reply: OrtRunReply) => this.answer(slot, reply));
        worker.once('error', (e) => this.lost(slot, e));
        worker.once('exit', (code) => this.lost(slot, new Error(`exit code ${code}`)));
        // An idle worker does not keep the process alive (run() refs it while it has work).
        worker.unref();
        resolve(slot);
      });
      worker.postMessage(this.init);
    });
  }

  private answer(slot: Slot, reply: OrtRunReply): void {
    const p = slot.pending.get(reply.id);
    if (!p) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if (reply.error !== undefined) p.reject(unavailable(`an error (${reply.error})`));
    else p.resolve(reply.outputs!);
  }

  /** A worker died: its requests fail, and a new one takes its place. */
  private lost(slot: Slot, e: unknown): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    const error = unavailable(`a worker thread that died (${e instanceof Error ? e.message : String(e)})`);
    for (const p of slot.pending.values()) p.reject(error);
    slot.pending.clear();
    if (this.disposed) return;
    this.slots.splice(i, 1);
    this.spawn().then(
      (fresh) => (this.disposed ? void fresh.worker.terminate() : this.slots.push(fresh)),
      () => {},
    );
  }

  run(graph: OrtGraph, feeds: Record<string, PlainTensor>, outputs: readonly string[]): Promise<Record<string, PlainTensor>> {
    if (this.slots.length === 0) return Promise.reject(unavailable('no live worker thread (one is being replaced: retry)'));
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, graph, feeds, outputs: [...outputs] } satisfies OrtRunRequest);
    });
  }

  /** Live worker threads (one being replaced is not counted). */
  get live(): number {
    return this.slots.length;
  }

  /** Make worker `index` exit, as a crash would (tests of the replacement). */
  injectFault(index: number): void {
    this.slots[index]?.worker.postMessage({ fault: 'exit' });
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}
