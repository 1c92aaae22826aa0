/**
 * A worker thread of an imported graph's scorer (Node worker_threads or a browser module Worker): imports
 * its own copy of the graph from the bytes it is sent, compiles it, and scores whole requests (with its
 * share of the context cache) or tiles of a split one.
 */
import { RankawareError } from '../../errors.js';
import { importOnnx } from '../model.js';
import { ScoringCore } from './core.js';
import type { WorkerCall, WorkerReply } from './protocol.js';

let core: ScoringCore | undefined;
let fault: 'throw' | 'hang' | undefined;

function handle(message: WorkerCall): { value: unknown; transfer: ArrayBuffer[] } {
  if (fault) {
    const kind = fault;
    fault = undefined;
    if (kind === 'hang') for (;;);
    throw new Error('injected fault');
  }
  switch (message.call) {
    case 'init': {
      const { bytes, options, engine, maxContextBytes } = message.args;
      core = new ScoringCore(importOnnx(bytes, options), engine, maxContextBytes);
      return { value: null, transfer: [] };
    }
    case 'score': {
      const reply = ready().score(message.args);
      return { value: reply, transfer: reply.outputs.map((o) => o.buffer as ArrayBuffer) };
    }
    case 'tile': {
      const outputs = ready().tile(message.args);
      return { value: outputs, transfer: outputs.map((o) => o.buffer as ArrayBuffer) };
    }
    case 'fault':
      if (message.args === 'exit') {
        if (typeof process !== 'undefined' && process.versions?.node) process.exit(3);
        (globalThis as unknown as { close(): void }).close();
      }
      fault = message.args === 'hang' ? 'hang' : 'throw';
      return { value: null, transfer: [] };
  }
}

function ready(): ScoringCore {
  if (!core) throw new Error('the worker was not initialized');
  return core;
}

function reply(message: WorkerCall, post: (reply: WorkerReply, transfer: ArrayBuffer[]) => void): void {
  try {
    const { value, transfer } = handle(message);
    post({ id: message.id, ok: true, value }, transfer);
  } catch (e) {
    const error = e instanceof RankawareError ? { message: e.message, rankaware: { where: e.where, expected: e.expected, received: e.received, kind: e.kind } } : { message: e instanceof Error ? e.message : String(e) };
    post({ id: message.id, ok: false, error }, []);
  }
}

const threads = typeof process !== 'undefined' && process.versions?.node ? (process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads')) : undefined;
if (threads?.parentPort) {
  const port = threads.parentPort;
  port.on('message', (message: WorkerCall) => reply(message, (r, transfer) => port.postMessage(r, transfer)));
} else {
  const scope = globalThis as unknown as { onmessage: (e: MessageEvent<WorkerCall>) => void; postMessage(m: unknown, transfer: ArrayBuffer[]): void };
  scope.onmessage = (e) => reply(e.data, (r, transfer) => scope.postMessage(r, transfer));
}
