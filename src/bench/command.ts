/**
 * `rankaware bench --suite table3|fig2|peers|cold|all [--quick] [--json] [--out DIR]`: the benchmark
 * suites (src/bench/*), as opposed to `rankaware bench --model DIR`, which measures one model; and
 * `--suite onnx`, the imported graphs compiled (src/onnx/bench-suite.ts), and `--suite compiled`, the native
 * architectures' plans beside the compiler's of their export (src/onnx/bench-compiled.ts), and `--suite sequence`,
 * DIN and BST by history length beside onnxruntime (src/onnx/bench-sequence.ts), which print their tables.
 */
import { join, resolve } from 'node:path';
import { RankawareError, show } from '../errors.js';
import { SUITES, benchConfig } from './config.js';
import type { SuiteName } from './config.js';
import { progressModeFor } from './progress.js';
import { runSuites } from './runner.js';

export const DEFAULT_RESULTS_DIR = join('bench', 'results');

/** Options of `rankaware bench` that only a --model run takes. */
const MODEL_ONLY = ['model', 'n', 'backend', 'plan', 'threads', 'concurrency', 'peer', 'seconds'];

export function parseSuites(v: unknown): SuiteName[] {
  if (typeof v !== 'string' || v === '') throw new RankawareError('--suite', `one of ${SUITES.join(', ')}, all (or a comma-separated list)`, show(v));
  const names = v.split(',').map((s) => s.trim());
  if (names.includes('all')) return [...SUITES];
  for (const s of names) if (!(SUITES as readonly string[]).includes(s)) throw new RankawareError('--suite', `one of ${SUITES.join(', ')}, all (or a comma-separated list)`, show(s));
  return SUITES.filter((s) => names.includes(s));
}

export async function benchSuites(v: Record<string, unknown>, out: (s: string) => void): Promise<void> {
  for (const key of MODEL_ONLY)
    if (v[key] !== undefined) throw new RankawareError(`--${key}`, 'to be left out with --suite (a suite chooses its own models and settings)', show(v[key]));
  if (v.suite === 'onnx') {
    const { benchOnnxSuite } = await import('../onnx/bench-suite.js');
    await benchOnnxSuite({ ns: v.quick === true ? [16, 256] : [16, 256, 1024], seconds: v.quick === true ? 0.3 : 1.5, json: v.json === true, out, note: (s) => process.stderr.write(s + '\n') });
    return;
  }
  if (v.suite === 'compiled') {
    const { benchCompiledSuite } = await import('../onnx/bench-compiled.js');
    await benchCompiledSuite({ ns: v.quick === true ? [16, 256] : [16, 256, 1024], seconds: v.quick === true ? 0.3 : 1.5, json: v.json === true, out, note: (s) => process.stderr.write(s + '\n') });
    return;
  }
  if (v.suite === 'sequence') {
    const { benchSequenceSuite } = await import('../onnx/bench-sequence.js');
    const quick = v.quick === true;
    await benchSequenceSuite({ ns: quick ? [16, 256] : [16, 256, 1024], lengths: quick ? [20, 50] : [20, 50, 200], seconds: quick ? 0.3 : 1.5, json: v.json === true, out, note: (s) => process.stderr.write(s + '\n') });
    return;
  }
  const suites = parseSuites(v.suite);
  const json = v.json === true;
  const outDir = typeof v.out === 'string' && v.out !== '' ? v.out : DEFAULT_RESULTS_DIR;
  // The README shows the latest results: update its block only when writing the default results.
  const readme = resolve(outDir) === resolve(DEFAULT_RESULTS_DIR) ? 'README.md' : undefined;
  await runSuites({
    suites,
    config: benchConfig(v.quick === true),
    outDir,
    readme,
    progress: progressModeFor(process.stderr, json),
    json,
    out,
    note: json ? undefined : (s) => process.stderr.write(s + '\n'),
  });
}
