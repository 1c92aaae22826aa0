/**
 * Imported graphs compiled onto the WebGPU kernels (shaders/compiler/compiled.wgsl; Dawn in Node,
 * SwiftShader here, set up by vitest.config.ts): every graph of ../shared/onnx-zoo and ../shared/golden,
 * rank-aware and vanilla, against the cases' onnxruntime (zoo) and float64 (golden) scores within 1e-4.
 * No skipping: without a device these tests fail.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireGpu } from '../src/backends/webgpu/device.js';
import { importOnnx } from '../src/onnx/model.js';
import { goldenDir } from './golden/cases.js';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');
/** docs/backends.md: WebGPU scores within 1e-4 absolute (f32 throughout). */
const TOLERANCE = 1e-4;

interface Case {
  readonly fields?: readonly { readonly name: string; readonly onnx_input: string }[];
  readonly dense?: { readonly name: string; readonly onnx_input: string } | null;
  readonly requests: readonly { readonly n: number; readonly request: { context: Record<string, unknown>; candidates: Record<string, unknown>[] }; readonly expected: { readonly score_onnxruntime?: number[]; readonly score_f64: number[] } }[];
}

/** A golden request keyed by the graph's input names (case.json's onnx_input). */
function renamed(c: Case, request: Case['requests'][number]['request']) {
  if (!c.fields) return request;
  const names = new Map(c.fields.map((f) => [f.name, f.onnx_input]));
  if (c.dense) names.set(c.dense.name, c.dense.onnx_input);
  const rename = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [names.get(k) ?? k, v]));
  return { context: rename(request.context), candidates: request.candidates.map(rename) };
}

const graphs: [string, string][] = [
  ...['two_tower', 'din', 'mmoe', 'dcnv2_ln', 'masknet'].map((n): [string, string] => [`zoo/${n}`, join(shared, 'onnx-zoo', n)]),
  ...(existsSync(goldenDir) ? readdirSync(goldenDir).filter((d) => existsSync(join(goldenDir, d, 'model.onnx'))).sort() : []).map((n): [string, string] => [`golden/${n}`, join(goldenDir, n)]),
];

beforeAll(async () => {
  const got = await acquireGpu();
  if ('reason' in got) throw new Error(`no WebGPU device in this test process: ${got.reason}`);
}, 60_000);

describe('imported graphs compiled onto WebGPU', () => {
  it('covers the five zoo graphs and the seven golden ones', () => expect(graphs.length).toBe(12));

  it.each(graphs)('%s: every request on both plans within 1e-4 of the references, on webgpu', async (_name, dir) => {
    const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Case;
    const model = importOnnx(readFileSync(join(dir, 'model.onnx')), { context: 'ctx_' });
    for (const r of c.requests) {
      const want = r.expected.score_onnxruntime ?? r.expected.score_f64;
      for (const plan of ['rank-aware', 'vanilla'] as const) {
        const result = await model.scoreAsync(renamed(c, r.request), plan, 'webgpu');
        expect(result.backend, result.reason).toBe('webgpu');
        expect(result.scores).toHaveLength(r.n);
        result.scores.forEach((s, i) => expect(Math.abs(s - want[i]!), `${plan} N=${r.n} candidate ${i}`).toBeLessThanOrEqual(TOLERANCE));
      }
    }
  }, 120_000);
});
