/**
 * The peers: onnxruntime-node (native) and onnxruntime-web (its wasm build) scoring the exported vanilla
 * graph of the same model, timed through the same kind of call as ours (a request in, scores out).
 */
import { RankawareError, show } from '../errors.js';
import type { Model } from '../model/model.js';
import type { RequestJson } from '../model/request.js';

export type PeerName = 'ort-node' | 'ort-web';
export const PEERS: readonly PeerName[] = ['ort-node', 'ort-web'];

export interface Peer {
  readonly name: PeerName;
  readonly sessions: number;
  /** Threads the peer computes on (ort-node: sessions x intra-op threads). */
  readonly threads: number;
  /** Session creation and the first run. */
  readonly coldMs: number;
  readonly run: (request: RequestJson) => Promise<unknown>;
  /** Release the sessions (call when no run is in flight). */
  readonly release: () => Promise<void>;
}

export function parsePeer(p: string): PeerName {
  if (p !== 'ort-node' && p !== 'ort-web') throw new RankawareError('--peer', '"ort-node" or "ort-web"', show(p));
  return p;
}

export interface PeerOptions {
  /** ort-node: single-thread sessions, one per request in flight (ort-web always has one). */
  readonly sessions?: number;
  /** Threads of one run: ort-node intra-op threads, ort-web wasm threads (fixed per process). */
  readonly threads?: number;
}

type Ort = typeof import('onnxruntime-node');

export async function importOrt(name: PeerName): Promise<Ort> {
  try {
    return name === 'ort-node' ? await import('onnxruntime-node') : ((await import('onnxruntime-web')) as unknown as Ort);
  } catch {
    throw new RankawareError('--peer', `the package ${name === 'ort-node' ? 'onnxruntime-node' : 'onnxruntime-web'} installed (npm i -D it)`, 'a missing package');
  }
}

/** onnxruntime-web reads its thread count once, when its wasm starts: a process has one. */
let ortWebThreads: number | undefined;

/**
 * Load a peer on the exported vanilla graph. ort-node gets `sessions` sessions (the way a native
 * server scales out); ort-web one, as its wasm runs one call at a time.
 */
export async function loadPeer(name: PeerName, model: Model, firstRequest: RequestJson, o: PeerOptions = {}): Promise<Peer> {
  const { exportOnnx } = await import('../onnx/writer/export.js');
  const { onnxFeeds } = await import('../onnx/writer/feeds.js');
  const bytes = exportOnnx(model);
  const ort = await importOrt(name);
  const threads = o.threads ?? 1;
  if (name === 'ort-web') {
    if (ortWebThreads !== undefined && ortWebThreads !== threads)
      throw new RankawareError('ort-web threads', `${ortWebThreads} (onnxruntime-web fixes its thread count once per process)`, show(threads));
    ortWebThreads = threads;
    (ort as unknown as { env: { wasm: { numThreads: number } } }).env.wasm.numThreads = threads;
  }
  // Spinning intra-op threads would keep burning a core after each run and slow whatever is measured next.
  // (onnxruntime-web's wasm thread pool spins too: its threads then take the cores our next call needs.)
  const noSpinning = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const options = name === 'ort-node' ? { intraOpNumThreads: threads, interOpNumThreads: 1, ...noSpinning } : noSpinning;
  const count = name === 'ort-node' ? (o.sessions ?? 1) : 1;
  const t0 = performance.now();
  const free = [await ort.InferenceSession.create(bytes, options)];
  const coldMs = performance.now() - t0;
  for (let i = 1; i < count; i++) free.push(await ort.InferenceSession.create(bytes, options));
  const waiting: ((s: (typeof free)[number]) => void)[] = [];
  const run = async (request: RequestJson) => {
    const session = free.pop() ?? (await new Promise<(typeof free)[number]>((resolve) => waiting.push(resolve)));
    try {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [key, f] of Object.entries(onnxFeeds(model.spec, request))) feeds[key] = new ort.Tensor(f.type, f.data, f.dims);
      return await session.run(feeds);
    } finally {
      const next = waiting.shift();
      if (next) next(session);
      else free.push(session);
    }
  };
  const first = performance.now();
  await run(firstRequest);
  const all = [...free];
  const release = async () => {
    for (const session of all) await session.release();
  };
  return { name, sessions: count, threads: name === 'ort-node' ? count * threads : threads, coldMs: coldMs + performance.now() - first, run, release };
}

/** The installed version of a peer's package (for the machine description). */
export async function peerVersion(name: PeerName): Promise<string | undefined> {
  try {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const pkg = name === 'ort-node' ? 'onnxruntime-node' : 'onnxruntime-web';
    const { readFile } = await import('node:fs/promises');
    const { dirname, join } = await import('node:path');
    // The package's main file resolves; its package.json sits at the package root above it.
    let dir = dirname(require.resolve(pkg));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      try {
        const json = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (json.name === pkg) return json.version;
      } catch {
        // not this directory
      }
    }
  } catch {
    // not installed
  }
  return undefined;
}
