/**
 * `rankaware bench --suite onnx` (src/onnx/bench-suite.ts) on a small copy of the zoo: it finds the graphs,
 * checks every entry's scores against the interpreter before timing, and prints one row per graph and N
 * with the ratios; `--suite compiled` (src/onnx/bench-compiled.ts) on two small models: the native plan and
 * the compiled plan of its export, checked against each other first. Timings are not asserted (they are
 * the benchmark's output, not a test).
 */
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { benchOnnxSuite, suiteGraphs } from '../src/onnx/bench-suite.js';
import { benchCompiledSuite, COMPILED_SUITE_MODELS } from '../src/onnx/bench-compiled.js';
import { benchSequenceSuite } from '../src/onnx/bench-sequence.js';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');

describe('bench --suite onnx', () => {
  it('lists the zoo graphs, then the golden ones', () => {
    const names = suiteGraphs(shared).map(([name]) => name);
    expect(names.slice(0, 5)).toEqual(['zoo/dcnv2_ln', 'zoo/din', 'zoo/mmoe', 'zoo/masknet', 'zoo/two_tower'].sort());
    expect(names.filter((n) => n.startsWith('golden/')).length).toBe(7);
  });

  it('refuses a directory with no graphs in one line', () => {
    expect(() => suiteGraphs(mkdtempSync(join(tmpdir(), 'rankaware-no-graphs-')))).toThrow(/^--suite onnx: expected the graphs of onnx-zoo and golden\/cases under .*, received no model\.onnx there$/);
  });

  it('times a graph beside both onnxruntime peers and prints the row with its ratios', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rankaware-suite-'));
    mkdirSync(join(dir, 'onnx-zoo'));
    cpSync(join(shared, 'onnx-zoo', 'two_tower'), join(dir, 'onnx-zoo', 'two_tower'), { recursive: true });
    const lines: string[] = [];
    const rows = await benchOnnxSuite({ ns: [3], seconds: 0.05, json: false, out: (l) => lines.push(l), note: () => undefined, shared: dir });
    expect(rows).toHaveLength(1);
    expect(rows[0]!).toMatchObject({ graph: 'zoo/two_tower', n: 3 });
    for (const v of [...Object.values(rows[0]!.ms), ...Object.values(rows[0]!.computeMs)]) expect(v).toBeGreaterThan(0);
    expect(rows[0]!.flopsPerCandidate).toBeLessThan(rows[0]!.flopsVanilla / 3);
    expect(lines[0]).toMatch(/^\| graph \| N \| rank-aware ms \|/);
    expect(lines[2]).toMatch(/^\| zoo\/two_tower \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \| [\d.]+x \| [\d.]+ \/ [\d.]+ \| [\d.]+x \| [\d.]+ \| [\d.]+x \| \d+ \| \d+ \| \d+ \|$/);
  }, 60_000);
});

describe('bench --suite compiled', () => {
  it('covers the six architectures', () => {
    expect(new Set(COMPILED_SUITE_MODELS.map((m) => m.init.arch)).size).toBe(6);
  });

  it('times each native plan beside the compiled plan of its export and prints the rows', async () => {
    const lines: string[] = [];
    const models = [
      { name: 'small-dlrm', init: { arch: 'dlrm', context: 3, target: 2, dim: 4, mlp: [8], vocab: 20 } },
      { name: 'small-autoint', init: { arch: 'autoint', context: 3, target: 2, dim: 4, mlp: [8], options: { layers: 1, heads: 2, headDim: 2 }, vocab: 20 } },
    ] as const;
    const rows = await benchCompiledSuite({ ns: [3], seconds: 0.05, json: false, out: (l) => lines.push(l), note: () => undefined, models });
    expect(rows.map((r) => [r.model, r.n])).toEqual([['small-dlrm', 3], ['small-autoint', 3]]);
    for (const r of rows) {
      expect(r.nativeMs).toBeGreaterThan(0);
      expect(r.compiledMs).toBeGreaterThan(0);
      expect(r.native.flopsPerCandidate).toBeGreaterThan(0);
      expect(r.compiled.flopsPerCandidate).toBeGreaterThan(0);
    }
    expect(lines[0]).toMatch(/^\| model \| N \| native ms \| compiled ms \|/);
    expect(lines[2]).toMatch(/^\| small-dlrm \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \/ \d+ \| \d+ \/ \d+ \|$/);
  }, 60_000);
});

describe('bench --suite sequence', () => {
  it('times din and bst by history length (wasm and the ort backend) beside both onnxruntime peers, with FLOPs counted at the request shapes', async () => {
    const lines: string[] = [];
    const base = { context: 1, target: 1, dim: 4, mlp: [8], vocab: 30, history: 16, seed: 3 };
    const models = [
      { name: 'small-din', init: { arch: 'din', ...base, options: { attention: [6] } } },
      { name: 'small-bst', init: { arch: 'bst', ...base, options: { heads: 2, ffn: 8 } } },
    ] as const;
    const rows = await benchSequenceSuite({ ns: [3], lengths: [2, 9], seconds: 0.05, json: false, out: (l) => lines.push(l), note: () => undefined, models });
    expect(rows.map((r) => [r.model, r.length, r.n])).toEqual([['small-din', 2, 3], ['small-din', 9, 3], ['small-bst', 2, 3], ['small-bst', 9, 3]]);
    for (const r of rows) {
      for (const v of Object.values(r.ms)) expect(v).toBeGreaterThan(0);
      expect(r.flopsPerCandidate).toBeLessThan(r.vanillaFlopsPerCandidate);
    }
    // A longer history costs more per candidate, and bst's history block is once per request.
    expect(rows[1]!.flopsPerCandidate).toBeGreaterThan(rows[0]!.flopsPerCandidate);
    expect(rows[3]!.flopsOnce).toBeGreaterThan(rows[2]!.flopsOnce);
    expect(lines[0]).toMatch(/^\| model \| L \| N \| rank-aware ms \| history stage ms \|/);
    expect(lines[2]).toMatch(/^\| small-din \| 2 \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \| [\d.]+x \| [\d.]+ \| [\d.]+x \| \d+ \| \d+ \| \d+ \| [\d.]+x \|$/);
  }, 60_000);
});
