/**
 * Golden cases: seven PyTorch-built models (the workspace's shared golden cases, next to the repository), converted to our
 * format by test/golden/convert.ts, written to disk, loaded by the real file loader, and scored with the
 * reference engine under both plans against PyTorch's float64 scores.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir, readSafetensors } from '../src/node.js';
import type { Model } from '../src/node.js';
import { score } from '../src/engine.js';
import { converters, writeConverted } from './golden/convert.js';
import { goldenDir } from './golden/cases.js';

/** The README's tolerance against score_f64 on CPU backends. */
const TOLERANCE = 1e-5;
const PLANS = ['vanilla', 'rank-aware'] as const;

interface GoldenField {
  readonly name: string;
  readonly side: string;
  readonly vocab: number;
  readonly dim: number;
  readonly pooling: string;
}
interface GoldenRequest {
  readonly n: number;
  readonly request: { readonly context: Record<string, unknown>; readonly candidates: readonly Record<string, unknown>[] };
  readonly expected: { readonly score_f64: readonly number[] };
}
interface GoldenCase {
  readonly name: string;
  readonly dense: { readonly name: string; readonly side: string; readonly dim: number } | null;
  readonly fields: readonly GoldenField[];
  readonly requests: readonly GoldenRequest[];
}

function caseNames(): string[] {
  if (!existsSync(goldenDir)) return [];
  return readdirSync(goldenDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

describe('golden cases', () => {
  // A missing directory must fail, not skip: otherwise the suite passes without checking anything.
  it('are found beside the repository, one converter per case', () => {
    expect(existsSync(goldenDir), `golden cases not found at ${goldenDir} (expected ../shared/golden/cases relative to the repository root)`).toBe(true);
    expect(caseNames()).toEqual(Object.keys(converters).sort());
  });
});

for (const name of caseNames()) {
  describe(`golden ${name}`, () => {
    const caseDir = join(goldenDir, name);
    const golden = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as GoldenCase;
    const stateDict = readSafetensors(readFileSync(join(caseDir, 'weights.safetensors')));
    let tmp: string | undefined;
    let model: Model;

    beforeAll(async () => {
      const convert = converters[name];
      if (!convert) throw new Error(`no converter for golden case "${name}" in test/golden/convert.ts`);
      tmp = await mkdtemp(join(tmpdir(), `rankaware-golden-${name}-`));
      await writeConverted(tmp, convert(stateDict));
      model = await loadModelDir(tmp);
    });
    afterAll(async () => {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it('loads with the fields of case.json in declared order', () => {
      const expected = [
        ...(golden.dense ? [{ name: golden.dense.name, type: 'dense', side: golden.dense.side, dim: golden.dense.dim }] : []),
        ...golden.fields.map((f) => ({ name: f.name, type: 'sparse', side: f.side, vocab: f.vocab, dim: f.dim, pooling: f.pooling })),
      ];
      const loaded = model.spec.fields.map((f) =>
        f.type === 'dense'
          ? { name: f.name, type: f.type, side: f.side, dim: f.dim }
          : f.type === 'sequence'
            ? f
            : { name: f.name, type: f.type, side: f.side, vocab: f.vocab, dim: f.dim, pooling: f.pooling },
      );
      expect(loaded).toEqual(expected);
    });

    it('keeps every state_dict tensor', () => {
      const size = (tensors: Iterable<{ data: Float32Array }>) => [...tensors].reduce((a, t) => a + t.data.length, 0);
      expect(model.weights.size).toBe(stateDict.size);
      expect(size(model.weights.values())).toBe(size(stateDict.values()));
    });

    for (const { n, request, expected } of golden.requests) {
      for (const plan of PLANS) {
        it(`scores the N=${n} request like PyTorch (${plan} plan)`, () => {
          const result = score(model, request, { plan, backend: 'js' });
          expect(result.plan).toBe(plan);
          expect(result.scores).toHaveLength(n);
          result.scores.forEach((got, i) => {
            const want = expected.score_f64[i]!;
            expect(Math.abs(got - want), `candidate ${i}: scored ${got}, PyTorch float64 ${want}`).toBeLessThanOrEqual(TOLERANCE);
          });
          // The README makes candidates 2 and 3 identical whenever N >= 5.
          if (n >= 5) expect(result.scores[3], 'candidates 2 and 3 are identical').toBe(result.scores[2]);
        });
      }
    }
  });
}
