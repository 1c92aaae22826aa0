/**
 * Starting a worker on this platform: worker_threads in Node, a module Web Worker in browsers. Both are
 * driven through comlink; `exited` settles when the worker dies (an uncaught error or its thread ending),
 * which comlink alone would never report.
 */
import * as Comlink from 'comlink';
import { inputBuffers } from './protocol.js';
import type { WorkerApi, WorkerCall, WorkerReply } from './protocol.js';

/** WorkerApi's calls, each answered by a promise. */
export type RemoteApi = { readonly [K in keyof WorkerApi]: (...args: Parameters<WorkerApi[K]>) => Promise<Awaited<ReturnType<WorkerApi[K]>>> };

export interface SpawnedWorker {
  readonly api: RemoteApi;
  /** Resolves with the reason when the worker is gone. */
  readonly exited: Promise<Error>;
  terminate(): void;
  /**
   * Node: take one answer the worker has already sent, without waiting for the event loop to deliver it
   * (its promise settles at the next microtask). False when none is there.
   */
  poll?(): boolean;
  /** Node: have the worker start polling its channel for spinMs now, unanswered (see Scorer.wakeIdle). */
  wake?(): void;
}

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Logical cores of this machine or browser. */
export async function hardwareThreads(): Promise<number> {
  if (isNode) {
    const os = process.getBuiltinModule(NODE_OS) as typeof import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** Whether threads can share memory here (Node always; a browser page only when cross-origin isolated). */
export function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  return isNode || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

const NODE_OS = 'node:os';
const NODE_WORKER_THREADS = 'node:worker_threads';

/**
 * WorkerApi over worker_threads messages (protocol.ts WorkerCall / WorkerReply), on a MessageChannel of
 * its own (its port is the worker's first message) so that either side can also poll it synchronously
 * with receiveMessageOnPort.
 */
function nodeChannel(threads: typeof import('node:worker_threads'), worker: import('node:worker_threads').Worker): { api: RemoteApi; poll(): boolean; wake(): void; close(): void } {
  const { port1, port2 } = new threads.MessageChannel();
  worker.postMessage({ port: port2 }, [port2]);
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  // An idle worker does not keep the process alive (as an onnxruntime session does not): the thread and
  // its port hold the event loop only while a call is unanswered.
  const holdLoop = (busy: boolean) => {
    if (busy) {
      worker.ref();
      port1.ref();
    } else {
      worker.unref();
      port1.unref();
    }
  };
  const settle = (reply: WorkerReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) holdLoop(false);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(reply.message));
  };
  port1.on('message', settle);
  holdLoop(false);
  const call = <T>(message: WorkerCall, transfer: ArrayBuffer[] = []) =>
    new Promise<T>((resolve, reject) => {
      if (pending.size === 0) holdLoop(true);
      pending.set(message.id, { resolve: resolve as (v: unknown) => void, reject });
      port1.postMessage(message, transfer);
    });
  return {
    api: {
      init: (config) => call({ id: next++, call: 'init', config }),
      runTile: (task) => call({ id: next++, call: 'runTile', task }, inputBuffers(task.inputs)),
      contextColumns: (task) => call({ id: next++, call: 'contextColumns', task }),
      injectFault: (kind) => call({ id: next++, call: 'injectFault', kind }),
    },
    poll: () => {
      if (pending.size === 0) return false;
      const got = threads.receiveMessageOnPort(port1);
      if (got) settle(got.message as WorkerReply);
      return got !== undefined;
    },
    wake: () => port1.postMessage({ id: -1, call: 'wake' } satisfies WorkerCall),
    close: () => port1.close(),
  };
}

/**
 * The Node worker's file next to this one. Computed rather than written as `new URL('./worker.js',
 * import.meta.url)`, which bundlers take for a browser worker or asset to emit (the browser branch below
 * is the one they should see).
 */
function nodeWorkerUrl(): URL {
  // From the TypeScript sources (tests), the worker is its .ts file, run through tsx.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(import.meta.url.replace(/platform\.[jt]s$/, `worker${ext}`));
}

export async function spawnWorker(): Promise<SpawnedWorker> {
  if (isNode) {
    const threads = process.getBuiltinModule(NODE_WORKER_THREADS) as typeof import('node:worker_threads');
    const { Worker } = threads;
    const url = nodeWorkerUrl();
    const worker = url.pathname.endsWith('.ts')
      ? // Register tsx's loader inside the thread first (execArgv --import does not reach worker threads on Node 20).
        new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
      : new Worker(url);
    const channel = nodeChannel(threads, worker);
    const exited = new Promise<Error>((resolve) => {
      worker.once('error', (e) => resolve(e instanceof Error ? e : new Error(String(e))));
      worker.once('exit', (code) => {
        channel.close();
        resolve(new Error(`worker thread exited with code ${code}`));
      });
    });
    return {
      api: channel.api,
      exited,
      poll: channel.poll,
      wake: channel.wake,
      terminate: () => {
        channel.close();
        void worker.terminate();
      },
    };
  }
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  let terminated: (e: Error) => void = () => {};
  const exited = new Promise<Error>((resolve) => {
    terminated = resolve;
    worker.addEventListener('error', (e) => resolve(new Error(`worker error: ${e.message}`)));
  });
  return {
    api: Comlink.wrap<WorkerApi>(worker) as unknown as RemoteApi,
    exited,
    terminate: () => {
      worker.terminate();
      terminated(new Error('worker terminated'));
    },
  };
}
