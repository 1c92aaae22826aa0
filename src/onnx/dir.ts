/**
 * An imported model directory: `model.onnx` (the graph as given) and `import.json` (which inputs are
 * context, which output is scored first). Every command re-imports the graph from them and compiles it.
 */
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RankawareError, show } from '../errors.js';
import { importOnnx } from './model.js';
import type { ImportedModel } from './model.js';
import { compileModel } from './native-graph.js';
import { modelFromFiles } from '../model/model.js';
import { ZOO } from '../zoo/registry.js';
import type { Architecture } from '../model/spec.js';

export const IMPORT_FORMAT = 'rankaware-onnx-import';

export interface ImportRecord {
  readonly format: typeof IMPORT_FORMAT;
  readonly version: 1;
  readonly source: string;
  readonly context: readonly string[];
  readonly candidates: readonly string[];
  /** The graph output scored (absent in directories of earlier versions: the only output). */
  readonly output?: string;
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
  };
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), bytes);
    // Earlier versions also wrote a native model (model.json) for six architectures: it must not outlive a new import.
    await rm(join(dir, 'model.json'), { force: true });
    await rm(join(dir, 'weights.safetensors'), { force: true });
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

/** A model directory's architecture when it has no native plan (din, bst: compiled from its export), else undefined. */
async function compiledArchitecture(dir: string): Promise<string | undefined> {
  try {
    const spec = JSON.parse((await readFile(join(dir, 'model.json'))).toString('utf8')) as { architecture?: unknown };
    return typeof spec.architecture === 'string' && spec.architecture in ZOO && !ZOO[spec.architecture as Architecture].plan ? spec.architecture : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the commands run DIR on the ONNX compiler: an imported directory, or a model directory of an
 * architecture without a native plan (din, bst).
 */
export async function isCompiledDir(dir: string): Promise<boolean> {
  return (await isImportedDir(dir)) || (await compiledArchitecture(dir)) !== undefined;
}

/** The compiled model of DIR: an imported graph, or a din / bst model compiled from its export (compileModel). */
export async function loadCompiledDir(dir: string): Promise<ImportedModel> {
  if (await isImportedDir(dir)) return loadImportedDir(dir);
  const file = join(dir, 'weights.safetensors');
  const weights = await read(file);
  const model = modelFromFiles((await read(join(dir, 'model.json'))).toString('utf8'), new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), file);
  return compileModel(model);
}

export async function loadImportedDir(dir: string): Promise<ImportedModel> {
  const record = await readRecord(dir);
  const file = join(dir, 'model.onnx');
  return importOnnx(new Uint8Array(await read(file)), { context: record.context!, file, output: record.output });
}
