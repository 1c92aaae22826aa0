/**
 * (a) Rank-aware equals vanilla for every architecture on odd shapes, on the reference backend.
 * The reference computes in float64, so the two plans agree far below float32 rounding; the bound
 * is relative to the logit (outputs are raw logits here, "output": "none").
 */
import { describe, expect, it } from 'vitest';
import { compilePlan, encodeRequest, getPlan, score } from '../src/index.js';
import { sliceInputs } from '../src/model/request.js';
import { equivalenceCases } from './cases.js';

const TOLERANCE = 1e-10;

describe('rank-aware plan equals vanilla plan (js reference)', () => {
  for (const c of equivalenceCases()) {
    it(c.name, () => {
      const vanilla = score(c.model, c.request, { plan: 'vanilla', backend: 'js' }).scores;
      const rankAware = score(c.model, c.request, { plan: 'rank-aware', backend: 'js' }).scores;
      expect(rankAware).toHaveLength(c.request.candidates.length);
      for (let i = 0; i < vanilla.length; i++) {
        expect(Number.isFinite(vanilla[i]!)).toBe(true);
        expect(Math.abs(rankAware[i]! - vanilla[i]!)).toBeLessThanOrEqual(TOLERANCE * (1 + Math.abs(vanilla[i]!)));
      }
      // The scores must depend on the candidates (a plan that ignored them would pass the check above).
      if (c.request.candidates.length > 2) expect(new Set(vanilla.map((v) => v.toFixed(12))).size).toBeGreaterThan(1);
    });
  }
});

describe('candidate tiles', () => {
  it('scoring candidates in tiles of any size gives the same scores as one pass', () => {
    const c = equivalenceCases().find((x) => x.request.candidates.length >= 7)!;
    const compiled = compilePlan(getPlan(c.model, 'rank-aware'), 'js');
    const encoded = encodeRequest(c.model.spec, c.request);
    const ctx = compiled.runContext(encoded.context);
    const whole = Array.from(compiled.runCandidates(ctx, encoded.candidates));
    const n = encoded.candidates.rows;
    for (const tile of [1, 2, 3]) {
      const tiled: number[] = [];
      for (let start = 0; start < n; start += tile) tiled.push(...compiled.runCandidates(ctx, sliceInputs(encoded.candidates, start, Math.min(n, start + tile))));
      expect(tiled).toEqual(whole);
    }
  });
});

describe('context changes the scores', () => {
  it('a different context gives different scores for the same candidates (rank-aware and vanilla)', () => {
    for (const c of equivalenceCases().slice(0, 6)) {
      const other = { ...c.request, context: { ...c.request.context } } as { context: Record<string, unknown>; candidates: unknown[] };
      const key = Object.keys(other.context).find((k) => typeof other.context[k] === 'number')!;
      other.context[key] = ((other.context[key] as number) + 1) % 50;
      for (const plan of ['vanilla', 'rank-aware'] as const) {
        const a = score(c.model, c.request, { plan, backend: 'js' }).scores;
        const b = score(c.model, other, { plan, backend: 'js' }).scores;
        expect(a.some((x, i) => Math.abs(x - b[i]!) > 1e-9), `${c.name} ${plan}`).toBe(true);
      }
    }
  });
});
