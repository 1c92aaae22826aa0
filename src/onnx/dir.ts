/**
 * An imported model directory: `model.onnx` (the graph as given) and `import.json` (which inputs are
 * context, and which path scores it). When the graph was recognized as one of the six architectures, the
 * directory is also a native model directory (`model.json` + `weights.safetensors`, extracted from the
 * graph's constants), which every command (score on any backend, bench, export-onnx) and createScorer
 * read as usual. Otherwise scoring re-imports the graph and runs it on the interpreter.
 */
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError, show } from '../errors.js';
import { modelToFiles } from '../model/model.js';
import { importOnnx } from './model.js';
import type { ImportedModel } from './model.js';

export const IMPORT_FORMAT = 'rankaware-onnx-import';

export interface ImportRecord {
  readonly format: typeof IMPORT_FORMAT;
  readonly version: 1;
  readonly source: string;
  readonly context: readonly string[];
  readonly candidates: readonly string[];
  /** The graph output scored (absent in directories of earlier versions: the only output). */
  readonly output?: string;
  /** native: model.json + weights.safetensors hold the recognized model; interpreter: the reason it was not recognized. */
  readonly path: { readonly native: true; readonly architecture: string; readonly probeError: number } | { readonly native: false; readonly reason: string };
}

/** How an imported directory is scored, from its import.json (undefined: not an imported directory). */
export async function importedPath(dir: string): Promise<ImportRecord['path'] | undefined> {
  if (!(await isImportedDir(dir))) return undefined;
  return (await readRecord(dir)).path ?? { native: false, reason: 'import.json names no path' };
}

export async function isImportedDir(dir: string): Promise<boolean> {
  try {
    await access(join(dir, 'import.json'));
    return true;
  } catch {
    return false;
  }
}

async function read(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RankawareError(path, 'a readable file', code === 'ENOENT' ? 'no such file' : String(code ?? e), 'missing');
  }
}

/** Import FILE and write DIR/model.onnx and DIR/import.json. */
export async function importToDir(file: string, context: string, dir: string, output?: string): Promise<ImportedModel> {
  const bytes = new Uint8Array(await read(file));
  const model = importOnnx(bytes, { context, file, output });
  const record: ImportRecord = {
    format: IMPORT_FORMAT,
    version: 1,
    source: file,
    context: model.inputs.filter((i) => i.side === 'context').map((i) => i.name),
    candidates: model.inputs.filter((i) => i.side === 'candidate').map((i) => i.name),
    output: model.graph.outputs[0]!,
    path: model.recognition.native
      ? { native: true, architecture: model.recognition.architecture, probeError: model.recognition.probeError }
      : { native: false, reason: model.recognition.reason },
  };
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), bytes);
    // A stale native model from an earlier import must not outlive a graph that is no longer recognized.
    await rm(join(dir, 'model.json'), { force: true });
    await rm(join(dir, 'weights.safetensors'), { force: true });
    if (model.recognition.native) {
      const files = modelToFiles(model.recognition.model);
      await writeFile(join(dir, 'model.json'), files.modelJson);
      await writeFile(join(dir, 'weights.safetensors'), files.weightsBytes);
    }
    await writeFile(join(dir, 'import.json'), JSON.stringify(record, null, 2) + '\n');
  } catch (e) {
    throw new RankawareError('--out', 'a writable directory', `${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'invalid');
  }
  return model;
}

async function readRecord(dir: string): Promise<Partial<ImportRecord>> {
  const path = join(dir, 'import.json');
  let record: Partial<ImportRecord>;
  try {
    record = JSON.parse((await read(path)).toString('utf8'));
  } catch (e) {
    if (e instanceof RankawareError) throw e;
    throw new RankawareError(path, 'valid JSON', `a parse error (${(e as Error).message})`, 'format');
  }
  if (record.format !== IMPORT_FORMAT || record.version !== 1) throw new RankawareError(`${path} format`, `"${IMPORT_FORMAT}" version 1`, show(record.format), 'format');
  if (!Array.isArray(record.context)) throw new RankawareError(`${path} context`, 'a list of context input names', show(record.context), 'format');
  if (record.output !== undefined && typeof record.output !== 'string') throw new RankawareError(`${path} output`, 'the name of the graph output scored', show(record.output), 'format');
  return record;
}

export async function loadImportedDir(dir: string): Promise<ImportedModel> {
  const record = await readRecord(dir);
  const file = join(dir, 'model.onnx');
  return importOnnx(new Uint8Array(await read(file)), { context: record.context!, file, output: record.output });
}
