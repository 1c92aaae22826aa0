/**
 * `rankaware import` and the imported-model branches of `score` and `inspect` (src/cli/main.ts routes a
 * model directory holding import.json here).
 */
import { RankawareError, show } from '../errors.js';
import type { BackendChoice } from '../backends/backend.js';
import { importToDir, loadImportedDir } from './dir.js';
import type { ImportedModel, ImportedPlan } from './model.js';
import type { CompiledEngine } from './compiler/compiled.js';
import { formatReport, importReport } from './report.js';

export { importedPath } from './dir.js';
import type { ImportRecord } from './dir.js';

/** Why an imported graph runs where it runs (reported as `reason`, like a backend fallback). */
const INTERPRETER_REASON = 'this imported ONNX graph runs on the float64 graph interpreter of src/onnx/interpreter (js), as --plan interpret asks; it was not recognized as one of the six architectures';
const COMPILED_REASON = 'this imported ONNX graph is compiled onto float32 kernels (src/onnx/compiler) because it was not recognized as one of the six architectures';

/** The `import` note a score of a recognized imported directory carries. */
export function nativeNote(path: ImportRecord['path'] & { native: true }): string {
  return `recognized as ${path.architecture} at import (structure matched; probe logits within ${path.probeError.toExponential(1)} relative): runs as a native model on the chosen backend`;
}

function inspectLines(model: ImportedModel, n: number, json: boolean, all: boolean): string[] {
  const report = importReport(model, n);
  return json ? [JSON.stringify(report, null, 2)] : formatReport(report, all);
}

function positive(v: unknown, key: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RankawareError(`--${key}`, 'an integer >= 1', show(v));
  return n;
}

export const importCommand = {
  options: { onnx: { type: 'string' }, context: { type: 'string' }, out: { type: 'string' }, output: { type: 'string' }, inspect: { type: 'boolean' }, n: { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' } },
  async run(v: Record<string, unknown>, out: (s: string) => void): Promise<void> {
    const need = (key: string) => {
      const s = v[key];
      if (typeof s !== 'string' || s === '') throw new RankawareError(`--${key}`, 'a value', 'nothing (missing option)', 'missing');
      return s;
    };
    const file = need('onnx');
    const context = need('context');
    const dir = need('out');
    const model = await importToDir(file, context, dir, typeof v.output === 'string' ? v.output : undefined);
    const rewrites = model.program.rewrites.map((r) => `${r.kind} at ${r.node.name}`);
    const r = model.recognition;
    out(r.native ? `recognized as ${r.architecture}: wrote the native model (${dir}/model.json, weights.safetensors); score, inspect, bench, export-onnx and createScorer run it on any backend` : `not recognized as one of the six architectures, so it is compiled onto float32 kernels (--plan interpret: the float64 interpreter): ${r.reason}`);
    out(
      `imported ${file} into ${dir}: context inputs ${model.inputs.filter((i) => i.side === 'context').map((i) => i.name).join(', ')}; ` +
        `candidate inputs ${model.inputs.filter((i) => i.side === 'candidate').map((i) => i.name).join(', ')}; ` +
        (model.outputs.length > 1 ? `scores output "${model.graph.outputs[0]}" first (every output by name: ${model.graph.outputs.join(', ')}${model.graph.outputs.length < model.outputs.length ? `; dropped, not one value per candidate: ${model.outputs.filter((o) => !model.graph.outputs.includes(o)).join(', ')}` : ''}; --output NAME scores another first); ` : '') +
        `interpreter: ${model.program.onceNodes.length} nodes once per request, ${model.program.candNodes.length} per candidate; rewrites: ${rewrites.join(', ') || 'none'}`,
    );
    if (v.inspect) for (const line of inspectLines(model, positive(v.n, 'n', 256), v.json === true, v.all === true)) out(line);
  },
} as const;

/** The compiled engine a --backend names: wasm by default (auto), js, or webgpu (falling back to wasm without a device). */
export function importedEngine(backend: BackendChoice): CompiledEngine {
  return backend === 'js' ? 'js' : backend === 'webgpu' ? 'webgpu' : 'wasm';
}

export async function scoreImportedDir(dir: string, request: unknown, plan: ImportedPlan, backend: BackendChoice): Promise<string> {
  const engine = importedEngine(backend);
  const model = await loadImportedDir(dir);
  const result = await model.scoreAsync(request, plan, engine);
  const why = model.recognition.native ? 'recognized, but this directory holds no native model.json (re-run rankaware import)' : model.recognition.reason;
  const path = plan === 'interpret' ? 'interpreter' : 'compiled';
  const reason = `${path === 'interpreter' ? INTERPRETER_REASON : COMPILED_REASON} (${why})${result.backend !== engine && plan !== 'interpret' ? `; ${result.reason}` : ''}`;
  return JSON.stringify({ scores: result.scores, ...(result.outputs ? { outputs: result.outputs } : {}), backend: result.backend, plan: result.plan, path, reason });
}

export async function inspectImportedDir(dir: string, n: number, json: boolean, out: (s: string) => void): Promise<void> {
  const model = await loadImportedDir(dir);
  for (const line of inspectLines(model, n, json, false)) out(line);
}
