/**
 * `rankaware bench --suite onnx` (src/onnx/bench-suite.ts) on a small copy of the zoo: it finds the graphs,
 * checks every entry's scores against the interpreter before timing, and prints one row per graph and N
 * with the ratios. Timings are not asserted (they are the benchmark's output, not a test).
 */
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { benchOnnxSuite, suiteGraphs } from '../src/onnx/bench-suite.js';

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
    expect(lines[2]).toMatch(/^\| zoo\/two_tower \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \| [\d.]+x \| [\d.]+ \/ [\d.]+ \| [\d.]+x \| \d+ \| \d+ \| \d+ \|$/);
  }, 60_000);
});
