/**
 * The worker threads of an imported graph's scorer: Node worker_threads or browser module Workers, each
 * running ./worker.ts, driven by one message per call (./protocol.ts). A thread that exits, throws outside a
 * call or does not answer within the timeout is terminated; its pending calls are refused with the reason
 * and the scorer starts another in its place.
 */
import { RankawareError } from '../../errors.js';
import type { WorkerCall, WorkerReply } from './protocol.js';

interface Spawned {
  post(message: WorkerCall, transfer: ArrayBuffer[]): void;
  /** Whether the thread may keep the process alive (Node: only while a call is unanswered). */
  hold(busy: boolean): void;
  terminate(): void;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** The Node worker's file next to this one (computed: the literal `new URL('./worker.js', ...)` is the browser branch's, for bundlers). */
function nodeWorkerUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(import.meta.url.replace(/pool\.[jt]s$/, `worker${ext}`));
}

function spawn(onReply: (reply: WorkerReply) => void, onDeath: (error: Error) => void): Spawned {
  if (isNode) {
    const { Worker } = process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads');
    const url = nodeWorkerUrl();
    const worker = url.pathname.endsWith('.ts')
      ? // From the TypeScript sources (tests): tsx's loader registered inside the thread first.
        new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
      : new Worker(url);
    worker.on('message', onReply);
    worker.once('error', (e) => onDeath(e instanceof Error ? e : new Error(String(e))));
    worker.once('exit', (code) => onDeath(new Error(`the worker thread exited with code ${code}`)));
    worker.unref();
    return {
      post: (m, transfer) => worker.postMessage(m, transfer),
      hold: (busy) => (busy ? worker.ref() : worker.unref()),
      terminate: () => void worker.terminate(),
    };
  }
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.addEventListener('message', (e: MessageEvent<WorkerReply>) => onReply(e.data));
  worker.addEventListener('error', (e) => onDeath(new Error(`worker error: ${e.message}`)));
  return { post: (m, transfer) => worker.postMessage(m, transfer), hold: () => {}, terminate: () => worker.terminate() };
}

type Args<C extends WorkerCall['call']> = Extract<WorkerCall, { call: C }>['args'];

export class WorkerThread {
  private readonly thread: Spawned;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();
  private next = 0;
  /** Why the thread is gone, once it is. */
  dead: Error | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly died: (thread: WorkerThread, error: Error) => void,
  ) {
    this.thread = spawn(
      (reply) => this.settle(reply),
      (error) => this.die(error),
    );
  }

  /** Calls not answered yet. */
  get load(): number {
    return this.pending.size;
  }

  /** `timeoutMs` overrides the thread's own (a worker's init imports and compiles the graph: it gets longer). */
  call<C extends WorkerCall['call'], T>(call: C, args: Args<C>, transfer: ArrayBuffer[] = [], timeoutMs = this.timeoutMs): Promise<T> {
    if (this.dead) return Promise.reject(unavailable(this.dead));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.kill(new Error(`no answer within ${timeoutMs} ms${timeoutMs === this.timeoutMs ? ' (timeoutMs)' : ''}`)), timeoutMs);
      if (this.pending.size === 0) this.thread.hold(true);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.thread.post({ id, call, args } as WorkerCall, transfer);
    });
  }

  /** Terminate the thread: its pending calls are refused with `reason`. */
  kill(reason: Error): void {
    this.thread.terminate();
    this.die(reason);
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.thread.hold(false);
    if (reply.ok) p.resolve(reply.value);
    else {
      const r = reply.error.rankaware;
      p.reject(r ? new RankawareError(r.where, r.expected, r.received, r.kind) : new Error(reply.error.message));
    }
  }

  private die(error: Error): void {
    if (this.dead) return;
    this.dead = error;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(unavailable(error));
    }
    this.pending.clear();
    this.thread.hold(false);
    this.died(this, error);
  }
}

const unavailable = (error: Error) => new RankawareError('imported graph worker', 'a live worker thread', `a worker that is gone (${error.message})`, 'unavailable');
