/**
 * A scoring worker (Node worker_threads or a browser Web Worker): holds one compiled plan and runs
 * candidate tiles against contexts computed on the main thread.
 */
import * as Comlink from 'comlink';
import type { CompiledPlan, ContextState } from '../backends/backend.js';
import { jsBackend } from '../backends/js/index.js';
import { compileOnShared, compileWithModule } from '../backends/wasm/index.js';
import { MISSING_CONTEXT, WORKER_CONTEXT_CACHE } from './protocol.js';
import type { TileResult, TileTask, WorkerApi, WorkerCall, WorkerConfig, WorkerReply } from './protocol.js';

let compiled: CompiledPlan | undefined;
const contexts = new Map<number, ContextState>();
let failNext: 'throw' | 'hang' | undefined;

const api: WorkerApi = {
  async init(config: WorkerConfig) {
    if (config.shared) compiled = compileOnShared(config.plan, config.shared.wasm, { image: config.shared.image, attach: true });
    else if (config.wasm) compiled = compileWithModule(config.plan, config.wasm.module, config.wasm.variant);
    else compiled = jsBackend.compile(config.plan);
  },

  async runTile(task: TileTask) {
    if (!compiled) throw new Error('rankaware worker: runTile before init');
    if (failNext === 'throw') {
      failNext = undefined;
      throw new Error('rankaware worker: injected fault');
    }
    if (failNext === 'hang') {
      // Block this thread for good, as an endless loop in a kernel would.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
    let state = contexts.get(task.contextId);
    if (task.context) {
      state = compiled.importContext(task.context);
      contexts.set(task.contextId, state);
      // Oldest first: Map keeps insertion order.
      if (contexts.size > WORKER_CONTEXT_CACHE) contexts.delete(contexts.keys().next().value!);
    }
    if (!state) throw new Error(MISSING_CONTEXT);
    const scores = compiled.runCandidates(state, task.inputs);
    return Comlink.transfer({ scores }, [scores.buffer as ArrayBuffer]);
  },

  injectFault(kind) {
    if (kind === 'throw' || kind === 'hang') failNext = kind;
    else if (typeof process !== 'undefined' && process.versions?.node) process.exit(3);
    else (globalThis as unknown as { close(): void }).close();
  },
};

const NODE_WORKER_THREADS = 'node:worker_threads';
if (typeof process !== 'undefined' && process.versions?.node) {
  const { parentPort } = (await import(/* @vite-ignore */ NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
  const port = parentPort!;
  port.on('message', (message: WorkerCall) => {
    const run = message.call === 'init' ? api.init(message.config) : message.call === 'runTile' ? api.runTile(message.task) : Promise.resolve(api.injectFault(message.kind));
    run.then(
      (value) => {
        const scores = (value as TileResult | undefined)?.scores;
        port.postMessage({ id: message.id, ok: true, value } satisfies WorkerReply, scores ? [scores.buffer as ArrayBuffer] : []);
      },
      (e: unknown) => port.postMessage({ id: message.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
    );
  });
} else {
  Comlink.expose(api);
}
