/**
 * The shared equivalence cases: every architecture on odd shapes (N=1, K=1, M=1, D not a multiple
 * of 4, interleaved fields, pooled context fields, dense fields on either side, an OOV bucket).
 * Used by the reference equivalence suite and the onnxruntime oracle test; later backends reuse it.
 */
import { interleavedFields, randomModel, randomRequest } from '../src/index.js';
import type { Architecture, Field, Model, RequestJson } from '../src/index.js';
import { ARCHITECTURES } from '../src/index.js';
import type { CaseShape } from '../src/zoo/arch.js';
import { ZOO } from '../src/zoo/registry.js';

export interface Case {
  readonly name: string;
  readonly model: Model;
  readonly request: RequestJson;
}

interface Shape extends CaseShape {
  readonly arch: Architecture;
}

function fieldsFor(s: Shape): Field[] {
  const fields = interleavedFields(s.K, s.M, s.D, 50);
  if (s.pooled) {
    fields.splice(1, 0, { name: 'history_sum', type: 'sparse', side: 'context', vocab: 40, dim: s.D, pooling: 'sum', oov: 'error' });
    fields.push({ name: 'tags_mean', type: 'sparse', side: 'context', vocab: 30, dim: s.D, pooling: 'mean', oov: 'error' });
  }
  if (s.oov) fields.splice(fields.length - 1, 0, { name: 'maybe_new', type: 'sparse', side: 'target', vocab: 20, dim: s.D, pooling: 'none', oov: 'bucket' });
  if (s.dense) fields.splice(Math.min(2, fields.length), 0, { name: `dense_${s.dense}`, type: 'dense', side: s.dense, dim: 3 });
  return fields;
}

function makeCase(s: Shape, seed: number): Case {
  const fields = fieldsFor(s);
  const extra: Record<string, unknown> = { ...s.options };
  if (s.dense && s.arch === 'dlrm') extra.bottomMlp = [7, s.D];
  const model = randomModel({ arch: s.arch, context: s.K, target: s.M, dim: s.D, fields, options: extra, mlp: s.mlp ?? [9, 5], output: 'none', seed, vocab: 50 });
  const request = randomRequest(model.spec, s.N, seed + 100);
  if (s.oov) {
    // One id beyond the vocab and one negative: both must read the bucket row.
    (request.candidates[0] as Record<string, number>).maybe_new = 999;
    if (s.N > 1) (request.candidates[1] as Record<string, number>).maybe_new = -3;
  }
  const tags = [s.arch, `K${s.K}`, `M${s.M}`, `D${s.D}`, `N${s.N}`, s.pooled ? 'pooled' : '', s.dense ? `dense-${s.dense}` : '', s.oov ? 'oov' : '', ...Object.entries(s.options ?? {}).map(([k, v]) => `${k}=${v}`)];
  return { name: tags.filter(Boolean).join(' '), model, request };
}

/** The architectures with a native plan: din and bst run compiled from their export (test/sequence.test.ts). */
export const NATIVE_ARCHITECTURES = ARCHITECTURES.filter((a) => ZOO[a].plan !== undefined);

// Every architecture on the odd shapes, then the shapes of its own options (src/zoo/<arch>/index.ts).
const SHAPES: Shape[] = [];
for (const arch of NATIVE_ARCHITECTURES) {
  SHAPES.push({ arch, K: 4, M: 3, D: 6, N: 7 });
  SHAPES.push({ arch, K: 1, M: 1, D: 5, N: 1 });
  SHAPES.push({ arch, K: 1, M: 4, D: 3, N: 9 });
  SHAPES.push({ arch, K: 6, M: 1, D: 7, N: 3 });
  SHAPES.push({ arch, K: 3, M: 2, D: 4, N: 5, pooled: true, oov: true });
}
for (const arch of NATIVE_ARCHITECTURES) for (const shape of ZOO[arch].cases) SHAPES.push({ arch, ...shape });

export function equivalenceCases(): Case[] {
  return SHAPES.map((s, i) => makeCase(s, 1000 + i));
}
