/**
 * loadModel: one call from wherever a model is, as onnxruntime-web's InferenceSession.create and
 * TensorFlow.js's loadLayersModel take a URL: a URL of the model directory (or of its model.json), the two
 * files as text, bytes, Blobs or Responses, or the Files a user picked. The Node entry adds file paths.
 */
import { RankawareError } from '../errors.js';
import { fetchFile, isReadable } from './fetch.js';
import type { FetchOptions } from './fetch.js';
import { modelFromFiles } from './model.js';
import type { Model, ModelJsonInput, WeightsInput } from './model.js';

export type { LoadProgress, ProgressCallback } from './fetch.js';

/** The two files of a model directory, in any form modelFromFiles takes. */
export interface ModelFiles {
  readonly modelJson: ModelJsonInput | Response | Blob;
  readonly weights: WeightsInput | Response | Blob;
}

/** A file picked in a page (a File, or anything with a name that reads as a Blob). */
export type NamedBlob = Blob & { readonly name: string };

export type ModelSource = string | URL | ModelFiles | ArrayLike<NamedBlob> | Iterable<NamedBlob>;

export interface LoadModelOptions extends FetchOptions {}

const WEIGHTS_FILE = 'weights.safetensors';

/**
 * Load a model. A URL names the model directory (`https://cdn.example/models/dlrm/`) or its model.json;
 * weights.safetensors is fetched beside it, reporting progress to `onProgress`. Relative URLs resolve
 * against the page. Every failure (404, an HTML page instead of the file, a truncated download, a
 * model.json of another format) is one RankawareError naming the file, what was expected and what came.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  if (typeof source === 'string' || source instanceof URL) {
    const { modelJsonUrl, weightsUrl } = modelUrls(source);
    // Both downloads at once (model.json is small, the weights are most of the time), but a failure of
    // model.json is the one reported: with a wrong URL both fail, and the first file is the clearer answer.
    const [jsonResult, weightsResult] = await Promise.allSettled([fetchFile(modelJsonUrl, 'model.json', 'json', options), fetchFile(weightsUrl, WEIGHTS_FILE, 'binary', options)]);
    if (jsonResult.status === 'rejected') throw jsonResult.reason;
    if (weightsResult.status === 'rejected') throw weightsResult.reason;
    const json = jsonResult.value;
    const weights = weightsResult.value;
    return modelFromFiles(json, weights, weightsUrl.href);
  }
  if (isModelFiles(source)) return modelFromFiles(source.modelJson, source.weights);
  if (isList(source)) {
    const files = Array.from(source as ArrayLike<NamedBlob>);
    const json = files.find((f) => f.name === 'model.json');
    const safetensors = files.filter((f) => f.name.endsWith('.safetensors'));
    const weights = safetensors.find((f) => f.name === WEIGHTS_FILE) ?? (safetensors.length === 1 ? safetensors[0] : undefined);
    if (!json || !weights || !isReadable(json) || !isReadable(weights))
      throw new RankawareError('files', `model.json and ${WEIGHTS_FILE} (the two files of a model directory)`, files.length ? files.map((f) => JSON.stringify(f?.name)).join(', ') : 'no files', 'missing');
    return modelFromFiles(json, weights, weights.name);
  }
  throw new RankawareError('loadModel source', 'a URL, {modelJson, weights}, or the files model.json and weights.safetensors', describe(source), 'invalid');
}

/** model.json's and the weights' URLs for a URL of the directory or of model.json. */
export function modelUrls(source: string | URL): { modelJsonUrl: URL; weightsUrl: URL } {
  let url: URL;
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    url = base ? new URL(source, base) : new URL(source);
  } catch {
    throw new RankawareError('loadModel URL', 'an absolute URL (or, in a page, one relative to it)', JSON.stringify(String(source)), 'invalid');
  }
  const modelJsonUrl = url.pathname.endsWith('.json') ? url : new URL(url.pathname.endsWith('/') ? 'model.json' : `${url.pathname.split('/').pop()}/model.json`, url);
  return { modelJsonUrl, weightsUrl: new URL(WEIGHTS_FILE, modelJsonUrl) };
}

function isModelFiles(x: unknown): x is ModelFiles {
  return x !== null && typeof x === 'object' && 'modelJson' in x && 'weights' in x;
}

function isList(x: unknown): boolean {
  return x !== null && typeof x === 'object' && (Array.isArray(x) || typeof (x as { length?: unknown }).length === 'number' || Symbol.iterator in x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return `an object with keys ${JSON.stringify(Object.keys(x).slice(0, 6))}`;
}
