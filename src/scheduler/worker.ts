/**
 * A scoring worker (Node worker_threads or a browser Web Worker): holds one compiled plan and runs
 * candidate tiles against contexts computed on the main thread.
 */
import * as Comlink from 'comlink';
import type { CompiledPlan, ContextState } from '../backends/backend.js';
import { jsBackend } from '../backends/js/index.js';
import { compileOnShared, compileWithModule } from '../backends/wasm/index.js';
import { idleCollector } from './collect-garbage.js';
import { MISSING_CONTEXT, WORKER_CONTEXT_CACHE } from './protocol.js';
import type { ColumnsTask, TileResult, TileTask, WorkerApi, WorkerCall, WorkerConfig, WorkerReply } from './protocol.js';

let compiled: CompiledPlan | undefined;
const contexts = new Map<number, ContextState>();
let failNext: 'throw' | 'hang' | undefined;
/** Node only: how long to poll for the next call after a tile (WorkerConfig.spinMs). */
let spinMs = 0;

const api: WorkerApi = {
  async init(config: WorkerConfig) {
    if (config.shared) compiled = compileOnShared(config.plan, config.shared.wasm, { image: config.shared.image, attach: true, arena: config.shared.arena });
    else if (config.wasm) compiled = compileWithModule(config.plan, config.wasm.module, config.wasm.variant);
    else compiled = jsBackend.compile(config.plan);
  },

  async runTile(task: TileTask) {
    const result = runTileNow(task);
    return Comlink.transfer(result, [result.scores.buffer as ArrayBuffer]);
  },

  async contextColumns(task: ColumnsTask) {
    const result = contextColumnsNow(task);
    return Comlink.transfer(result, [result.values.buffer as ArrayBuffer]);
  },

  injectFault(kind) {
    if (kind === 'throw' || kind === 'hang') failNext = kind;
    else if (typeof process !== 'undefined' && process.versions?.node) process.exit(3);
    else (globalThis as unknown as { close(): void }).close();
  },
};

/** An injected fault strikes the next tile or context share. */
function injectedFault(): void {
  if (failNext === 'throw') {
    failNext = undefined;
    throw new Error('rankaware worker: injected fault');
  }
  if (failNext === 'hang') {
    // Block this thread for good, as an endless loop in a kernel would.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
}

/** Score one tile on this thread (synchronous, so that the Node loop below can run it while spinning). */
function runTileNow(task: TileTask): TileResult {
  if (!compiled) throw new Error('rankaware worker: runTile before init');
  injectedFault();
  let state = contexts.get(task.contextId);
  if (task.context) {
    state = compiled.importContext(task.context);
    contexts.set(task.contextId, state);
    // Oldest first: Map keeps insertion order.
    if (contexts.size > WORKER_CONTEXT_CACHE) contexts.delete(contexts.keys().next().value!);
  }
  if (!state) throw new Error(MISSING_CONTEXT);
  return { scores: compiled.runCandidates(state, task.inputs) };
}

function contextColumnsNow(task: ColumnsTask): { values: Float32Array } {
  injectedFault();
  if (!compiled?.contextColumns) throw new Error('rankaware worker: a context split needs the wasm backend');
  return { values: compiled.contextColumns(task.begun, task.lo, task.hi) };
}

/**
 * Node: serve calls from the scheduler's channel. The scheduler's first message is the port of this
 * worker's channel (platform.ts nodeChannel). No top-level await: bundlers build browser workers as
 * classic scripts (Vite's default worker format), where it is a syntax error.
 */
function serveNode(threads: typeof import('node:worker_threads')): void {
  const { parentPort, receiveMessageOnPort } = threads;
  parentPort!.once('message', (first: { port: import('node:worker_threads').MessagePort }) => {
    const port = first.port;
    const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
    const fail = (id: number, e: unknown) => reply({ id, ok: false, message: e instanceof Error ? e.message : String(e) });
    // A worker's heap is its own: after a burst of tiles it collects once it has idled for 2 s.
    const idle = idleCollector(2000, 64);
    /** Handle one call; tiles and faults synchronously (they may come in while spinning), init through its promise. */
    const handle = (message: WorkerCall) => {
      idle.touch();
      if (message.call === 'init') {
        spinMs = message.config.spinMs ?? 0;
        api.init(message.config).then(() => reply({ id: message.id, ok: true, value: undefined }), (e: unknown) => fail(message.id, e));
        return;
      }
      if (message.call === 'wake') return;
      try {
        if (message.call === 'injectFault') {
          api.injectFault(message.kind);
          return reply({ id: message.id, ok: true, value: undefined });
        }
        if (message.call === 'contextColumns') {
          const result = contextColumnsNow(message.task);
          return reply({ id: message.id, ok: true, value: result }, [result.values.buffer as ArrayBuffer]);
        }
        const result = runTileNow(message.task);
        reply({ id: message.id, ok: true, value: result }, [result.scores.buffer as ArrayBuffer]);
      } catch (e) {
        fail(message.id, e);
      }
    };
    /**
     * After a tile, poll the port for up to spinMs before going back to the event loop: the next tile
     * (often already queued, or coming the moment the calling thread finishes a context stage) starts
     * at once, instead of after the event loop's wake-up and dispatch (about 0.1 ms, a few % of a request).
     */
    const spin = () => {
      let until = performance.now() + spinMs;
      while (performance.now() < until) {
        const got = receiveMessageOnPort(port);
        if (!got) continue;
        handle(got.message as WorkerCall);
        until = performance.now() + spinMs;
      }
    };
    port.on('message', (message: WorkerCall) => {
      handle(message);
      if (message.call !== 'init' && spinMs > 0) spin();
    });
  });
}

const nodeProcess = typeof process !== 'undefined' && process.versions?.node ? process : undefined;
if (nodeProcess) serveNode(nodeProcess.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads'));
else Comlink.expose(api);
