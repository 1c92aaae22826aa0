/**
 * FLOPs counted from the plans against the paper's closed forms (Tkach, "Context Features Are Cheap", sections 3-4).
 * Our unit is 2 FLOPs per multiply-accumulate; the paper writes its FM/FC counts per multiply-add
 * pair, so each closed form appears here times 2.
 */
import { describe, expect, it } from 'vitest';
import { countFlops, flopsFor, getPlan, interleavedFields, randomModel } from '../src/index.js';
import type { Component, Model } from '../src/index.js';

const choose2 = (n: number) => (n * (n - 1)) / 2;
const total = (m: Model, plan: 'vanilla' | 'rank-aware', n: number, c?: Component) => flopsFor(countFlops(getPlan(m, plan)), n, c);
const saved = (m: Model, n: number, c?: Component) => total(m, 'vanilla', n, c) - total(m, 'rank-aware', n, c);

describe('FM interaction (Eq. 7, 8)', () => {
  for (const [K, M, D, N] of [[27, 4, 128, 256], [5, 3, 8, 16], [1, 1, 3, 1], [8, 24, 16, 64]] as const) {
    it(`K=${K} M=${M} D=${D} N=${N}`, () => {
      const m = randomModel({ arch: 'dlrm', context: K, target: M, dim: D, mlp: [16], options: { topInput: 'dense+pairs' }, vocab: 4 });
      // Vanilla: every pair per candidate; rank-aware: ctx pairs once, target-anchored per candidate.
      expect(total(m, 'vanilla', N, 'interaction')).toBe(2 * N * choose2(K + M) * D);
      expect(total(m, 'rank-aware', N, 'interaction')).toBe(2 * (choose2(K) * D + N * (K * M + choose2(M)) * D));
      expect(saved(m, N, 'interaction')).toBe(2 * (N - 1) * choose2(K) * D); // Eq. 7
      const fraction = saved(m, N, 'interaction') / total(m, 'vanilla', N, 'interaction');
      expect(fraction).toBeCloseTo(((N - 1) * K * (K - 1)) / (N * (K + M) * (K + M - 1)), 12); // Eq. 8
    });
  }
});

describe('first FC layer (Eq. 11, 12)', () => {
  it('downstream of a rank-aware FM: saves (N-1) C(K,2) U (Eq. 12)', () => {
    const [K, M, D, N, U] = [9, 3, 8, 50, 32];
    const m = randomModel({ arch: 'dlrm', context: K, target: M, dim: D, mlp: [U, 7], options: { topInput: 'dense+pairs' }, vocab: 4 });
    expect(saved(m, N, 'fc')).toBe(2 * (N - 1) * choose2(K) * U);
  });
  it('on cat(flatten(E), pairs): saves (N-1) |x_c| U with |x_c| = K D + C(K,2) (Eq. 11)', () => {
    const [K, M, D, N, U] = [6, 2, 5, 33, 16];
    const m = randomModel({ arch: 'dlrm', context: K, target: M, dim: D, mlp: [U], vocab: 4 });
    expect(saved(m, N, 'fc')).toBe(2 * (N - 1) * (K * D + choose2(K)) * U);
  });
  it('the DLRM of the paper’s Table 3 (K=27 M=4 D=128 MLP 512,256, N=256): 1.260 vs 0.243 GFLOP', () => {
    const m = randomModel({ arch: 'dlrm', context: 27, target: 4, dim: 128, mlp: [512, 256], vocab: 2 });
    expect(total(m, 'vanilla', 256) / 1e9).toBeCloseTo(1.26, 2);
    expect(total(m, 'rank-aware', 256) / 1e9).toBeCloseTo(0.243, 3);
  });
});

describe('DCNv2 first cross layer (Eq. 14, 15)', () => {
  const [K, M, D, N] = [6, 2, 4, 20];
  const dc = K * D;
  const dt = M * D;
  const d = dc + dt;
  it('full W_0: W_cc x_c and W_tc x_c run once; Eq. 15 is the W_cc share', () => {
    const m = randomModel({ arch: 'dcnv2', context: K, target: M, dim: D, options: { layers: 3 }, vocab: 4 });
    const layer0 = 2 * N * d * d;
    expect(saved(m, N, 'cross')).toBe(2 * (N - 1) * d * dc);
    // Per candidate, the W_cc block alone is dc^2 / (dc + dt)^2 of layer 0 (Eq. 15); W_tc x_c adds dc dt / d^2.
    const wcc = (2 * (N - 1) * dc * dc) / layer0;
    expect(wcc).toBeCloseTo(((N - 1) / N) * (dc * dc) / (d * d), 12);
    expect(saved(m, N, 'cross') / layer0).toBeCloseTo(wcc + ((N - 1) / N) * (dc * dt) / (d * d), 12);
  });
  it('low rank U V: V_0[:, ctx] x_c runs once', () => {
    const r = 3;
    const m = randomModel({ arch: 'dcnv2', context: K, target: M, dim: D, options: { layers: 2, rank: r }, vocab: 4 });
    expect(saved(m, N, 'cross')).toBe(2 * (N - 1) * r * dc);
  });
});

describe('rDCN per layer (section 4.2)', () => {
  it('context stream and Wct c_l once, Wt T_l per candidate', () => {
    const [K, M, D, L] = [5, 3, 4, 3];
    const dc = K * D;
    const dt = M * D;
    const m = randomModel({ arch: 'rdcn', context: K, target: M, dim: D, options: { layers: L }, vocab: 4 });
    const ra = countFlops(getPlan(m, 'rank-aware')).byComponent.cross;
    expect(ra.once).toBe(L * 2 * (dc * dc + dt * dc));
    expect(ra.perCandidate).toBe(L * 2 * dt * dt);
    const va = countFlops(getPlan(m, 'vanilla')).byComponent.cross;
    expect(va.once).toBe(0);
    expect(va.perCandidate).toBe(L * 2 * (dc * dc + dt * dc + dt * dt));
  });
});

describe('DeepFM and attention', () => {
  it('DeepFM second order: O(K D) once, O(M D) per candidate', () => {
    const [K, M, D] = [7, 2, 6];
    const m = randomModel({ arch: 'deepfm', context: K, target: M, dim: D, vocab: 4 });
    const ra = countFlops(getPlan(m, 'rank-aware')).byComponent.interaction;
    expect(ra.once).toBe(2 * (K + 1) * D);
    expect(ra.perCandidate).toBe(2 * (M + 1) * D + 2 * D);
    expect(countFlops(getPlan(m, 'vanilla')).byComponent.interaction.perCandidate).toBe(2 * (K + M + 1) * D);
  });
  it('AutoInt layer 0: the ctx-ctx score block (K^2 of (K+M)^2) and ctx projections run once', () => {
    const [K, M, D, H, dh] = [6, 2, 4, 2, 3];
    const F = K + M;
    const fields = interleavedFields(K, M, D, 4);
    const m = randomModel({ arch: 'autoint', context: K, target: M, dim: D, fields, options: { layers: 1, heads: H, headDim: dh }, mlp: [], vocab: 4 });
    const w = H * dh;
    const va = countFlops(getPlan(m, 'vanilla')).byComponent.attention;
    const ra = countFlops(getPlan(m, 'rank-aware')).byComponent.attention;
    expect(va.perCandidate).toBe(4 * H * dh * F * F + 4 * 2 * F * D * w);
    expect(ra.once).toBe(4 * H * dh * K * K + 4 * 2 * K * D * w);
    expect(ra.perCandidate).toBe(4 * H * dh * (F * F - K * K) + 4 * 2 * M * D * w);
  });
});
