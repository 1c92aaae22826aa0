/**
 * The loader child of the attack suite (forked by loader-pool.ts): loads each corrupt model directory or
 * ONNX file it is sent and scores a request on each backend, and answers how each went. A crash or a hang
 * here costs this process only; the parent counts it and starts another.
 */
import { RankawareError } from '../errors.js';
import { scoreAsync } from '../engine.js';
import { importOnnx } from '../onnx/model.js';
import { randomImportedRequest } from '../onnx/request.js';
import type { Model } from '../model/model.js';
import { randomRequest } from '../model/random.js';
import { loadModelDir } from '../node.js';
import { Rng } from './rng.js';

export type LoaderJob =
  | { readonly id: number; readonly kind: 'model'; readonly dir: string }
  | { readonly id: number; readonly kind: 'onnx'; readonly bytes: Uint8Array; readonly context: readonly string[] | string };

/** One outcome of a job: where (a backend, or the ONNX interpreter) and what happened. */
export interface LoaderResult {
  readonly on: string;
  readonly outcome: string;
  readonly message?: string;
}

export interface LoaderReply {
  readonly id: number;
  readonly results: readonly LoaderResult[];
}

/** A refusal is clean when it is a RankawareError on one line; anything else thrown is a crash. */
function refusal(on: string, e: unknown): LoaderResult {
  if (e instanceof RankawareError) {
    const oneLine = !/[\r\n]/.test(e.message) && e.message.length < 2000;
    return { on, outcome: oneLine ? `clean error: ${e.kind}` : 'bad message', message: e.message.slice(0, 300) };
  }
  const error = e instanceof Error ? e : new Error(String(e));
  return { on, outcome: `crash: ${error.name}`, message: `${error.message} ${error.stack?.split('\n')[1]?.trim() ?? ''}` };
}

function scored(on: string, scores: readonly number[]): LoaderResult {
  return scores.every(Number.isFinite) ? { on, outcome: 'scored finite' } : { on, outcome: 'NaN', message: `scores ${scores.slice(0, 4).join(', ')}` };
}

/** The native model scored on js and wasm (single-threaded, as `rankaware score` does). */
async function scoreNative(model: Model, prefix: string): Promise<LoaderResult[]> {
  const request = randomRequest(model.spec, 5, 11);
  const out: LoaderResult[] = [];
  for (const backend of ['js', 'wasm'] as const) {
    const on = `${prefix}${backend}`;
    try {
      out.push(scored(on, (await scoreAsync(model, request, { backend })).scores));
    } catch (e) {
      out.push(refusal(on, e));
    }
  }
  return out;
}

async function runJob(job: LoaderJob): Promise<LoaderResult[]> {
  if (job.kind === 'model') {
    let model: Model;
    try {
      model = await loadModelDir(job.dir);
    } catch (e) {
      return ['js', 'wasm'].map((on) => refusal(on, e));
    }
    return scoreNative(model, '');
  }
  let imported: ReturnType<typeof importOnnx>;
  try {
    imported = importOnnx(job.bytes, { context: job.context, file: 'fuzz.onnx' });
  } catch (e) {
    return [refusal('import', e)];
  }
  const out: LoaderResult[] = [{ on: 'import', outcome: 'imported (compiled, interpreter)' }];
  const rng = new Rng(job.id);
  const request = randomImportedRequest(imported.inputs, 4, () => rng.float(), 2);
  // The float64 interpreter, and the graph compiled onto the float32 kernels (wasm), both plans each.
  for (const [what, plan] of [['interpreter rank-aware', 'interpret'], ['interpreter vanilla', 'interpret-vanilla'], ['compiled rank-aware', 'rank-aware'], ['compiled vanilla', 'vanilla']] as const) {
    try {
      out.push(scored(what, imported.score(request, plan, 'wasm').scores));
    } catch (e) {
      out.push(refusal(what, e));
    }
  }
  return out;
}

process.on('message', (job: LoaderJob) => {
  void runJob(job).then(
    (results) => process.send!({ id: job.id, results } satisfies LoaderReply),
    (e: unknown) => process.send!({ id: job.id, results: [refusal('child', e)] } satisfies LoaderReply),
  );
});
