/**
 * `rankaware bench --suite compiled`: each native architecture (the peers suite's models, and DeepFM and
 * rank-attention of the same size) scored two ways, side by side in one run on the wasm engine, one
 * thread: its native rank-aware plan (src/zoo/<arch>/plan.ts), and the ONNX compiler's rank-aware plan of
 * its own export-onnx graph (imported with the context fields as context inputs, no architecture matcher).
 * Both are timed from the request JSON to the scores, on seeded random requests whose scores must agree
 * within 1e-4 first. Prints the medians, compiled / native time, and each plan's FLOPs (the native count:
 * multiply-accumulates only; the import report's: every op, bias and activations included).
 */
import { RankawareError } from '../errors.js';
import { getPlan, score } from '../engine.js';
import { loadBackend } from '../backends/select.js';
import { defaultTiming, median, sideBySide } from '../bench/measure.js';
import { PEER_MODELS } from '../bench/config.js';
import type { BenchModel } from '../bench/config.js';
import { randomModel, randomRequest } from '../model/random.js';
import { countFlops } from '../plan/flops.js';
import { importOnnx } from './model.js';
import { importReport } from './report.js';
import { exportOnnx } from './writer/export.js';

export interface CompiledSuiteOptions {
  readonly ns: readonly number[];
  readonly seconds: number;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly note: (line: string) => void;
  /** The models (default: the peers suite's four, and DeepFM and rank-attention of their size). */
  readonly models?: readonly BenchModel[];
}

export interface CompiledSuiteRow {
  readonly model: string;
  readonly n: number;
  readonly nativeMs: number;
  readonly compiledMs: number;
  readonly native: { readonly flopsOnce: number; readonly flopsPerCandidate: number };
  readonly compiled: { readonly flopsOnce: number; readonly flopsPerCandidate: number };
}

export const COMPILED_SUITE_MODELS: readonly BenchModel[] = [
  ...PEER_MODELS,
  { name: 'deepfm', init: { arch: 'deepfm', context: 20, target: 6, dim: 16, mlp: [256, 128], vocab: 100 } },
  { name: 'rank-attention', init: { arch: 'rank-attention', context: 20, target: 6, dim: 16, mlp: [256, 128], options: { layers: 2, heads: 2, headDim: 8 }, vocab: 100 } },
];

export async function benchCompiledSuite(o: CompiledSuiteOptions): Promise<CompiledSuiteRow[]> {
  const wasm = await loadBackend('wasm');
  if (wasm.name !== 'wasm') throw new RankawareError('--suite compiled', 'the wasm backend', `${wasm.name} (${wasm.reason ?? 'no reason'})`, 'unavailable');
  const rows: CompiledSuiteRow[] = [];
  for (const { name, init } of o.models ?? COMPILED_SUITE_MODELS) {
    const model = randomModel({ ...init, seed: 11 });
    const context = model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
    const imported = importOnnx(exportOnnx(model), { context, file: `${name} (export-onnx)` });
    const native = countFlops(getPlan(model, 'rank-aware'));
    for (const n of o.ns) {
      o.note(`compiled suite: ${name} N=${n}`);
      const request = randomRequest(model.spec, n, 31 + n);
      const runs = [() => score(model, request, { backend: 'wasm', plan: 'rank-aware' }), () => imported.score(request, 'rank-aware', 'wasm')];
      const [a, b] = [runs[0]!().scores, runs[1]!().scores];
      const worst = a.reduce((w, s, i) => Math.max(w, Math.abs(s - b[i]!)), 0);
      if (!(worst <= 1e-4)) throw new RankawareError(`the compiled plan of ${name}`, "the native plan's scores within 1e-4", `a difference of ${worst}`, 'invalid');
      const times = (await sideBySide(runs, defaultTiming(o.seconds))).map(median);
      const report = importReport(imported, n);
      rows.push({
        model: name,
        n,
        nativeMs: times[0]!,
        compiledMs: times[1]!,
        native: { flopsOnce: native.once, flopsPerCandidate: native.perCandidate },
        compiled: { flopsOnce: report.flopsOnce, flopsPerCandidate: report.flopsPerCandidate },
      });
    }
  }
  if (o.json) o.out(JSON.stringify({ suite: 'compiled', engine: 'wasm', threads: 1, rows }));
  else for (const line of compiledSuiteTable(rows)) o.out(line);
  return rows;
}

export function compiledSuiteTable(rows: readonly CompiledSuiteRow[]): string[] {
  return [
    '| model | N | native ms | compiled ms | compiled / native time | native FLOPs once / per candidate | compiled FLOPs once / per candidate |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.n} | ${r.nativeMs.toFixed(3)} | ${r.compiledMs.toFixed(3)} | ${(r.compiledMs / r.nativeMs).toFixed(2)} | ${r.native.flopsOnce} / ${r.native.flopsPerCandidate} | ${r.compiled.flopsOnce} / ${r.compiled.flopsPerCandidate} |`,
    ),
  ];
}
