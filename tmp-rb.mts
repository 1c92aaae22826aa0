import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { importOnnx, compileModel, randomModel } from './src/node.js';
import { exportRankAwareOnnx } from './src/onnx/rank-aware-onnx.js';
import { SEQUENCE_SUITE_MODELS } from './src/onnx/bench-sequence.js';
import { exportOnnx } from './src/onnx/writer/export.js';
import type { ImportedModel } from './src/node.js';
const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' as const, graphOptimizationLevel: 'all' as const };
function tensor(v: any) {
  if (v.dtype === 'float') return new ort.Tensor('float32', Float32Array.from(v.data), [...v.shape]);
  if (v.dtype === 'int') return new ort.Tensor('int64', BigInt64Array.from(v.data, (x: number) => BigInt(x)), [...v.shape]);
  return new ort.Tensor('bool', Uint8Array.from(v.data), [...v.shape]);
}
const med = (x: number[]) => x.sort((a, b) => a - b)[x.length >> 1]!;
async function bench(name: string, m: ImportedModel, vanillaBytes: Uint8Array, request: unknown) {
  const ra = exportRankAwareOnnx(m);
  const ctx = await ort.InferenceSession.create(ra.context, opts);
  const cand = await ort.InferenceSession.create(ra.candidates, opts);
  const van = await ort.InferenceSession.create(vanillaBytes, opts);
  const one = await ort.InferenceSession.create(ra.single, opts);
  const enc = m.encode(request);
  const cf: Record<string, ort.Tensor> = {};
  for (const i of ra.manifest.contextInputs) cf[i.name] = tensor(enc.context.get(i.name)!);
  const f: Record<string, ort.Tensor> = {};
  for (const i of ra.manifest.candidateInputs) f[i.name] = tensor(enc.candidates.get(i.name)!);
  const vf: Record<string, ort.Tensor> = {};
  for (const nm of van.inputNames) vf[nm] = tensor((enc.context.get(nm) ?? enc.candidates.get(nm))!);
  const runRA = async () => { const co = await ctx.run(cf); for (const h of ra.manifest.handoff) f[h.name] = co[h.from]!; return cand.run(f); };
  const tr: number[] = [], tv: number[] = [], ts: number[] = [];
  const sf: Record<string, ort.Tensor> = {};
  for (const nm of one.inputNames) sf[nm] = (cf[nm] ?? f[nm])!;
  const o1 = (await one.run(sf))[ra.manifest.outputs[0]!]!.data as Float32Array;
  const o2 = (await van.run(vf))[van.outputNames[0]!]!.data as Float32Array;
  let d = 0; for (let i = 0; i < o1.length; i++) d = Math.max(d, Math.abs(o1[i]! - o2[i]!));
  for (let r = 0; r < 300; r++) {
    let t0 = performance.now(); await one.run(sf); ts.push(performance.now() - t0);
    let t = performance.now(); await runRA(); tr.push(performance.now() - t);
    t = performance.now(); await van.run(vf); tv.push(performance.now() - t);
  }
  const a = med(tr.slice(50)), b = med(tv.slice(50)), c = med(ts.slice(50));
  console.log(`${name.padEnd(28)} two graphs ${a.toFixed(3)}  one graph ${c.toFixed(3)}  vanilla ort ${b.toFixed(3)} ms  ratios ${(b / a).toFixed(2)}x ${(b / c).toFixed(2)}x  diff ${d.toExponential(1)}`);
}
const N = 256;
for (const z of ['two_tower', 'din', 'mmoe', 'dcnv2_ln', 'masknet']) {
  const bytes = new Uint8Array(readFileSync(join(`../shared/onnx-zoo/${z}`, 'model.onnx')));
  const m = importOnnx(bytes, { context: 'ctx_' });
  await bench('zoo ' + z, m, bytes, m.randomRequest(N, 3, 8));
}
for (const z of ['autoint', 'dcnv2_parallel_lowrank', 'dcnv2_stacked', 'deepfm', 'dlrm', 'dlrm_flat', 'rdcn']) {
  const bytes = new Uint8Array(readFileSync(join(`../shared/golden/cases/${z}`, 'model.onnx')));
  const m = importOnnx(bytes, { context: 'ctx_' });
  await bench('golden ' + z, m, bytes, m.randomRequest(N, 3, 4));
}
for (const { name, init } of SEQUENCE_SUITE_MODELS) {
  const model = randomModel(init);
  const m = compileModel(model);
  for (const L of [20, 50, 200]) await bench(`${name} L=${L}`, m, exportOnnx(model), m.randomRequest(N, 3, L));
}
