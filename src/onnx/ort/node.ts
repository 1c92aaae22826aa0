/**
 * The ort backend on onnxruntime-node: loaded when asked for (an optional dependency, with a clear error
 * when it is not installed), its sessions on the calling thread or on worker threads (./workers.ts).
 */
import { RankawareError } from '../../errors.js';
import type { ImportedModel } from '../model.js';
import { InThreadRunner } from './runner.js';
import type { OrtModule } from './runner.js';
import { OrtScorer } from './scorer.js';
import type { OrtRuntime, OrtScorerOptions } from './scorer.js';
import { WorkerRunner } from './workers.js';

/** onnxruntime-node, or a RankawareError saying how to get it. */
export async function loadOrt(): Promise<typeof import('onnxruntime-node')> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new RankawareError('backend "ort"', 'the onnxruntime-node package installed beside rankaware (npm install onnxruntime-node)', `it does not load (${e instanceof Error ? e.message : String(e)})`, 'unavailable');
  }
}

export async function createOrtScorer(model: ImportedModel, options: OrtScorerOptions = {}): Promise<OrtScorer> {
  const ort = await loadOrt();
  const runtime: OrtRuntime = {
    name: 'onnxruntime-node',
    defaultProviders: ['cpu'],
    // Spinning intra-op threads would keep burning a core after each run.
    sessionOptions: (threads, providers) => ({ intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: [...providers], extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    start: (sessions, workers) => (workers > 0 ? WorkerRunner.create(workers, { sessions }) : InThreadRunner.create(ort as unknown as OrtModule, sessions)),
  };
  return OrtScorer.start(model, options, runtime);
}
