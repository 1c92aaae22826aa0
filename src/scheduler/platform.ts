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
}

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Logical cores of this machine or browser. */
export async function hardwareThreads(): Promise<number> {
  if (isNode) {
    const os = (await import(/* @vite-ignore */ NODE_OS)) as typeof import('node:os');
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

/** WorkerApi over worker_threads messages (protocol.ts WorkerCall / WorkerReply). */
function nodeChannel(worker: import('node:worker_threads').Worker): RemoteApi {
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  worker.on('message', (reply: WorkerReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(reply.message));
  });
  const call = <T>(message: WorkerCall, transfer: ArrayBuffer[] = []) =>
    new Promise<T>((resolve, reject) => {
      pending.set(message.id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage(message, transfer);
    });
  return {
    init: (config) => call({ id: next++, call: 'init', config }),
    runTile: (task) => call({ id: next++, call: 'runTile', task }, inputBuffers(task.inputs)),
    injectFault: (kind) => call({ id: next++, call: 'injectFault', kind }),
  };
}

export async function spawnWorker(): Promise<SpawnedWorker> {
  // From the TypeScript sources (tests), the worker runs its .ts file through tsx.
  const fromSources = import.meta.url.endsWith('.ts');
  if (isNode) {
    const { Worker } = (await import(/* @vite-ignore */ NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
    const worker = fromSources
      ? // Register tsx's loader inside the thread first (execArgv --import does not reach worker threads on Node 20).
        new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); })`, { eval: true })
      : new Worker(new URL('./worker.js', import.meta.url));
    const exited = new Promise<Error>((resolve) => {
      worker.once('error', (e) => resolve(e instanceof Error ? e : new Error(String(e))));
      worker.once('exit', (code) => resolve(new Error(`worker thread exited with code ${code}`)));
    });
    return { api: nodeChannel(worker), exited, terminate: () => void worker.terminate() };
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
