/**
 * `rankaware import` and the imported-model branches of `score` and `inspect` (src/cli/main.ts routes a
 * model directory holding import.json here).
 */
import { RankawareError, show } from '../errors.js';
import type { BackendChoice } from '../backends/backend.js';
import { importToDir, loadCompiledDir } from './dir.js';
import type { ImportedModel, ImportedPlan } from './model.js';
import type { CompiledEngine } from './compiler/compiled.js';
import type { ScoreRequest } from '../scheduler/types.js';
import { formatReport, importReport } from './report.js';

export { isCompiledDir, isImportedDir } from './dir.js';

/** Where an imported graph runs (reported as `reason`, like a backend fallback). */
const INTERPRETER_REASON = 'this imported ONNX graph runs on the float64 graph interpreter of src/onnx/interpreter (js), as --plan interpret asks';
const COMPILED_REASON = 'this imported ONNX graph is compiled onto float32 kernels (src/onnx/compiler), its rank-aware rewrites lowered';

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
    const folds = model.staged.folds.map((f) => `${f.pass} at ${f.node.name}`);
    out(
      `imported ${file} into ${dir}: context inputs ${model.inputs.filter((i) => i.side === 'context').map((i) => i.name).join(', ')}; ` +
        `candidate inputs ${model.inputs.filter((i) => i.side === 'candidate').map((i) => i.name).join(', ')}; ` +
        (model.outputs.length > 1 ? `scores output "${model.graph.outputs[0]}" first (every output by name: ${model.graph.outputs.join(', ')}${model.graph.outputs.length < model.outputs.length ? `; dropped, not one value per candidate: ${model.outputs.filter((o) => !model.graph.outputs.includes(o)).join(', ')}` : ''}; --output NAME scores another first); ` : '') +
        `compiled onto float32 kernels (--plan interpret: the float64 interpreter): ${model.program.onceNodes.length} nodes once per request, ${model.program.candNodes.length} per candidate; graph passes: ${folds.join(', ') || 'none'}; rewrites: ${rewrites.join(', ') || 'none'}`,
    );
    if (v.inspect) for (const line of inspectLines(model, positive(v.n, 'n', 256), v.json === true, v.all === true)) out(line);
  },
} as const;

/** The compiled engine a --backend names: wasm by default (auto), js, or webgpu (falling back to wasm without a device). */
export function importedEngine(backend: BackendChoice): CompiledEngine {
  return backend === 'js' ? 'js' : backend === 'webgpu' ? 'webgpu' : 'wasm';
}

export async function scoreImportedDir(dir: string, request: unknown, plan: ImportedPlan, backend: BackendChoice, threads = 1): Promise<string> {
  const engine = importedEngine(backend);
  const model = await loadCompiledDir(dir);
  const path = plan === 'interpret' ? 'interpreter' : 'compiled';
  if (threads > 1) {
    // Worker threads: the imported scorer (a request of at least splitRows candidates is split across them).
    if (plan !== 'rank-aware' && plan !== 'vanilla') throw new RankawareError('--plan', '"rank-aware" or "vanilla" with --threads', show(plan));
    if (engine === 'webgpu') throw new RankawareError('--backend', '"wasm" or "js" with --threads (worker threads score on the CPU)', '"webgpu"');
    const { createImportedScorer } = await import('./scorer/scorer.js');
    const scorer = await createImportedScorer(model, { plan, engine, threads });
    try {
      const result = await scorer.score(request as ScoreRequest);
      return JSON.stringify({ scores: result.scores, ...(result.outputs ? { outputs: result.outputs } : {}), backend: result.backend, plan: result.plan, path, threads, reason: COMPILED_REASON });
    } finally {
      scorer.dispose();
    }
  }
  const result = await model.scoreAsync(request, plan, engine);
  const reason = `${path === 'interpreter' ? INTERPRETER_REASON : COMPILED_REASON}${result.backend !== engine && plan !== 'interpret' ? `; ${result.reason}` : ''}`;
  return JSON.stringify({ scores: result.scores, ...(result.outputs ? { outputs: result.outputs } : {}), backend: result.backend, plan: result.plan, path, reason });
}

export async function inspectImportedDir(dir: string, n: number, json: boolean, out: (s: string) => void): Promise<void> {
  const model = await loadCompiledDir(dir);
  for (const line of inspectLines(model, n, json, false)) out(line);
}
