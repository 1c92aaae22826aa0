/**
 * A worker thread of the ort backend's pool (./workers.ts): onnxruntime-node runs a session on the thread
 * that calls it (its `run` is synchronous inside a promise), so a server running it on its event loop
 * would answer nothing else meanwhile. Here the sessions of the rank-aware graphs live on their own
 * thread; each message runs one of them on the tensors it carries and answers with the outputs.
 */
import { parentPort } from 'node:worker_threads';
import type { PlainTensor } from './runner.js';
import type { OrtRunReply, OrtRunRequest, OrtWorkerInit } from './workers.js';

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

const port = parentPort!;
let ort: Ort;
const sessions: Partial<Record<OrtRunRequest['graph'], Session>> = {};

function plain(t: { type: string; data: unknown; dims: readonly number[] }): PlainTensor {
  // A copy: the output's buffer may be onnxruntime's own memory, which cannot be transferred.
  const data = (t.data as Float32Array | BigInt64Array | Uint8Array).slice();
  return { type: t.type as PlainTensor['type'], data, dims: [...t.dims] };
}

async function init(message: OrtWorkerInit): Promise<void> {
  ort = await import('onnxruntime-node');
  await Promise.all(Object.entries(message.sessions).map(async ([graph, g]) => (sessions[graph as OrtRunRequest['graph']] = await ort.InferenceSession.create(g.bytes, g.options))));
}

async function run(message: OrtRunRequest): Promise<OrtRunReply> {
  const feeds = Object.fromEntries(Object.entries(message.feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as Float32Array, t.dims)]));
  const out = await sessions[message.graph]!.run(feeds);
  const outputs: Record<string, PlainTensor> = {};
  for (const name of message.outputs) outputs[name] = plain(out[name]!);
  return { id: message.id, outputs };
}

port.on('message', (message: OrtWorkerInit | OrtRunRequest | { fault: 'exit' }) => {
  // A thread that dies (WorkerRunner.injectFault: tests of its replacement).
  if ('fault' in message) process.exit(3);
  if ('sessions' in message) {
    init(message).then(
      () => port.postMessage({ ready: true }),
      (e: unknown) => port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) }),
    );
    return;
  }
  run(message).then(
    (reply) => port.postMessage(reply, Object.values(reply.outputs ?? {}).map((t) => t.data.buffer as ArrayBuffer)),
    (e: unknown) => port.postMessage({ id: message.id, error: e instanceof Error ? e.message : String(e) } satisfies OrtRunReply),
  );
});
