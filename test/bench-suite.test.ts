/**
 * The benchmark suites' machinery on a tiny configuration (tiny models, one round): the results JSON
 * and its machine description, the markdown summary and README block, and SVG charts that a browser's
 * XML parser accepts. No timing is asserted; Table 3's FLOP counts are, exactly (they are counts).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { COLD_BACKENDS } from '../src/bench/config.js';
import type { BenchConfig } from '../src/bench/config.js';
import { runSuites } from '../src/bench/runner.js';
import type { Results } from '../src/bench/results.js';
import type { Stat } from '../src/bench/measure.js';
import { pairedRatio, stat } from '../src/bench/measure.js';
import { README_END, README_START, ms, peersMarkdown, ratio } from '../src/bench/markdown.js';
import { measurePeersAt } from '../src/bench/peers.js';
import { RESULTS_SCHEMA } from '../src/bench/results.js';
import { table3Flops } from '../src/bench/table3.js';
import { parseSuites } from '../src/bench/command.js';
import { RankawareError } from '../src/errors.js';
import { main } from '../src/cli/main.js';

const TINY: BenchConfig = {
  mode: 'custom',
  timing: { seconds: 0, minRounds: 1, maxRounds: 1, warmupMs: 0 },
  table3: { n: 4 },
  fig2: { contexts: [2, 3], targets: [1, 2], fixedContext: 2, fixedTarget: 1, dim: 4, mlp: [8], n: 4 },
  peers: {
    models: [
      { name: 'tiny-dlrm', init: { arch: 'dlrm', context: 3, target: 2, dim: 4, mlp: [8], vocab: 10 } },
      { name: 'tiny-rdcn', init: { arch: 'rdcn', context: 2, target: 1, dim: 3, mlp: [5], vocab: 10 } },
    ],
    ns: [3],
    threads: [1],
    peers: ['ort-node', 'ort-web'],
    ort: true,
  },
  cold: { models: [{ name: 'tiny-dlrm', init: { arch: 'dlrm', context: 3, target: 2, dim: 4, mlp: [8], vocab: 10 } }], backends: COLD_BACKENDS, repeats: 1, n: 3 },
};

let dir: string;
let results: Results;
let stdout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rankaware-bench-'));
  await writeFile(join(dir, 'README.md'), `# x\n\nbefore\n\n${README_START}\nold\n${README_END}\n\nafter\n`);
  const out: string[] = [];
  results = await runSuites({ suites: ['table3', 'fig2', 'peers', 'cold'], config: TINY, outDir: dir, readme: join(dir, 'README.md'), progress: 'off', json: false, out: (s) => out.push(s) });
  stdout = out.join('\n');
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectStat(s: Stat | null | undefined, runs = 1): void {
  expect(s).toBeTruthy();
  expect(Number.isFinite(s!.median) && s!.median > 0).toBe(true);
  expect(s!.p10).toBeLessThanOrEqual(s!.median);
  expect(s!.p90).toBeGreaterThanOrEqual(s!.median);
  expect(s!.runs).toBe(runs);
}

describe('results JSON', () => {
  it('one file per suite, each naming the machine', async () => {
    for (const suite of ['table3', 'fig2', 'peers', 'cold']) {
      const r = JSON.parse(await readFile(join(dir, `${suite}.json`), 'utf8')) as Record<string, unknown> & { machine: Record<string, unknown> };
      expect(r).toMatchObject({ schema: RESULTS_SCHEMA, suite, mode: 'custom', timing: TINY.timing });
      expect(typeof r.seconds).toBe('number');
      expect(r.config).toEqual(JSON.parse(JSON.stringify(TINY[suite as keyof BenchConfig])));
      const m = r.machine;
      expect(typeof m.cpu === 'string' && m.cpu.length > 0).toBe(true);
      expect(Number.isInteger(m.cores) && (m.cores as number) >= 1).toBe(true);
      expect(m.node).toBe(process.version);
      expect(m.v8).toBe(process.versions.v8);
      expect(Number.isNaN(Date.parse(m.date as string))).toBe(false);
      expect(m.wasm).toMatch(/WASM|js backend/);
      expect(m.onnxruntimeNode).toMatch(/^\d+\.\d+\.\d+/);
      expect(m.onnxruntimeWeb).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('table3: every row of the paper, ours beside it, the timeable ones timed', () => {
    const rows = results.table3!.rows;
    expect(rows.map((r) => `${r.family}/${r.variant}`)).toEqual([
      'DCN-style/vanilla (baseline)',
      'DCN-style/DCNv2 + FC',
      'DCN-style/rDCN + FC',
      'DCN-style/rDCN** + FC',
      'DLRM-style/vanilla (baseline)',
      'DLRM-style/FM',
      'DLRM-style/FM + FC',
    ]);
    for (const r of rows) {
      const timed = r.model !== null && r.variant !== 'FM';
      if (timed) {
        expectStat(r.ms_per_request);
        expectStat(r.speedup);
      } else {
        expect(r.ms_per_request).toBeNull();
        expect(r.speedup).toBeNull();
      }
    }
    expect(rows.find((r) => r.variant === 'rDCN** + FC')).toMatchObject({ flops: null, paper: { interaction: -0.72, fc: -0.36, total: -0.67 } });
  });

  it('fig2: vanilla and rank-aware at every point, normalized to the baseline', () => {
    const { points } = results.fig2!;
    expect(points.map((p) => `${p.sweep}${p.K},${p.M}:${p.plan}`)).toEqual(['K2,1:vanilla', 'K2,1:rank-aware', 'K3,1:vanilla', 'K3,1:rank-aware', 'M2,1:vanilla', 'M2,1:rank-aware', 'M2,2:vanilla', 'M2,2:rank-aware']);
    for (const p of points) {
      expectStat(p.ms_per_request);
      expectStat(p.normalized);
      if (p.plan === 'vanilla') expect(p.speedup).toBeNull();
      else expectStat(p.speedup);
      expect(p.flops).toBeGreaterThan(0);
    }
    // The baseline against itself: exactly 1 in every round.
    for (const p of points.filter((x) => x.K === 2 && x.M === 1 && x.plan === 'vanilla')) expect(p.normalized).toEqual({ median: 1, p10: 1, p90: 1, runs: 1 });
    // Rank-aware does fewer FLOPs at every point (both sides have context fields).
    for (const p of points.filter((x) => x.plan === 'rank-aware')) expect(p.flops).toBeLessThan(points.find((x) => x.plan === 'vanilla' && x.K === p.K && x.M === p.M)!.flops);
  });

  it('peers: our two plans, the ort backend and both onnxruntimes per model, N and thread count', () => {
    const rows = results.peers!.rows;
    expect(rows.map((r) => `${r.model}/${r.backend}/${r.plan}/${r.n}/${r.threads}`)).toEqual([
      'tiny-dlrm/wasm/rank-aware/3/1',
      'tiny-dlrm/wasm/vanilla/3/1',
      'tiny-dlrm/ort/rank-aware/3/1',
      'tiny-dlrm/ort-node/vanilla/3/1',
      'tiny-dlrm/ort-web/vanilla/3/1',
      'tiny-rdcn/wasm/rank-aware/3/1',
      'tiny-rdcn/wasm/vanilla/3/1',
      'tiny-rdcn/ort/rank-aware/3/1',
      'tiny-rdcn/ort-node/vanilla/3/1',
      'tiny-rdcn/ort-web/vanilla/3/1',
    ]);
    for (const r of rows) {
      if (r.backend === 'ort') expect(r.ort_speedup).toBeNull();
      else expectStat(r.ort_speedup);
    }
    for (const r of rows) {
      expectStat(r.ms_per_request);
      expect(r.candidates_per_s).toBeCloseTo((3 * 1000) / r.ms_per_request.median, 6);
      expect(r.setup_ms).toBeGreaterThan(0);
      if (r.backend === 'wasm' && r.plan === 'rank-aware') expect(r.rank_aware_speedup).toBeNull();
      else expectStat(r.rank_aware_speedup);
    }
  });

  it('peers above one thread: the rank-aware WASM plan on one thread beside it, a paired ratio and its table', async () => {
    const config = { ...TINY.peers, models: TINY.peers.models.slice(0, 1), peers: ['ort-node' as const], threads: [2] };
    const rows = await measurePeersAt(config, 2, TINY.timing, () => {});
    const ra = rows.find((r) => r.backend === 'wasm' && r.plan === 'rank-aware')!;
    expect(ra.threads).toBe(2);
    expectStat(ra.threads_side_by_side?.one_ms);
    expectStat(ra.threads_side_by_side?.many_ms);
    expectStat(ra.threads_side_by_side?.speedup);
    for (const r of rows.filter((x) => x !== ra)) expect(r.threads_side_by_side).toBeUndefined();
    const table = peersMarkdown({ ...results.peers!, rows });
    expect(table).toMatch(/on one thread and on the row's threads, side by side in that thread count's process/);
    expect(table).toContain(`| tiny-dlrm | 3 | ${ms(ra.threads_side_by_side!.one_ms)} | 2 | ${ms(ra.threads_side_by_side!.many_ms)} | ${ratio(ra.threads_side_by_side!.speedup)} |`);
  }, 60_000);

  it('cold: every phase of every backend, from fresh processes', () => {
    const rows = results.cold!.rows;
    expect(rows.map((r) => `${r.backend}/${r.plan}`)).toEqual(['js/rank-aware', 'wasm/rank-aware', 'ort-node/vanilla', 'ort-web/vanilla']);
    for (const r of rows) {
      for (const s of [r.import_ms, r.load_ms, r.first_score_ms, r.cold_ms]) expectStat(s);
      expect(r.cold_ms.median).toBeCloseTo(r.import_ms.median + r.load_ms.median + r.first_score_ms.median, 6);
    }
  });
});

/** The cells of each markdown table row, checked to be as many as its header's. */
function tables(md: string): string[][][] {
  const out: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      const cells = line.slice(1, -1).split('|').map((c) => c.trim());
      if (!current) out.push((current = []));
      current.push(cells);
    } else current = undefined;
  }
  return out;
}

describe('markdown', () => {
  it('summary.md: every suite under its machine line, tables well formed', async () => {
    const md = await readFile(join(dir, 'summary.md'), 'utf8');
    expect(stdout.trim()).toBe(md.trim());
    for (const title of ['## Table 3', '## Fig. 2', '## Peers', '## Cold start']) expect(md).toContain(title);
    expect(md.split(results.table3!.machine.cpu).length - 1).toBe(4);
    const all = tables(md);
    expect(all.length).toBe(1 + 2 + 1 + 1);
    for (const t of all) {
      expect(t[1]!.every((c) => /^-+$/.test(c))).toBe(true);
      for (const row of t) expect(row.length).toBe(t[0]!.length);
    }
    // Table 3's rows show ours beside the paper's figure.
    expect(md).toMatch(/\| DLRM-style \| FM \+ FC \| -\d+(\.\d)?% \[-87%\] \| -\d+(\.\d)?% \[-69%\] \| -\d+(\.\d)?% \[-73%\] \|/);
    expect(md).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('the README block is replaced between its markers, the rest kept', async () => {
    const readme = await readFile(join(dir, 'README.md'), 'utf8');
    expect(readme.startsWith('# x\n\nbefore\n\n' + README_START)).toBe(true);
    expect(readme.endsWith(README_END + '\n\nafter\n')).toBe(true);
    expect(readme).not.toContain('\nold\n');
    expect(readme).toContain(results.peers!.machine.cpu);
    expect(readme).toContain('![K sweep](bench/results/fig2-k.svg)');
    expect(readme).toContain('![peers](bench/results/peers.svg)');
  });
});

describe('charts', () => {
  it('the SVGs parse as SVG in a browser and show every series', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      for (const [file, labels] of [
        ['fig2-k.svg', ['rankaware vanilla', 'rankaware rank-aware', 'paper vanilla (ends)', 'Fig. 2a']],
        ['fig2-m.svg', ['rankaware vanilla', 'rankaware rank-aware', 'Fig. 2b']],
        ['peers.svg', ['onnxruntime-node', 'onnxruntime-web', 'tiny-dlrm', 'tiny-rdcn']],
      ] as const) {
        const svg = await readFile(join(dir, file), 'utf8');
        const parsed = await page.evaluate((text) => {
          const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
          return { error: doc.getElementsByTagName('parsererror').length, root: doc.documentElement.nodeName, paths: doc.getElementsByTagName('path').length, text: doc.documentElement.textContent ?? '' };
        }, svg);
        expect(parsed.error, file).toBe(0);
        expect(parsed.root, file).toBe('svg');
        expect(parsed.paths, file).toBeGreaterThan(3);
        for (const label of labels) expect(parsed.text, `${file}: ${label}`).toContain(label);
      }
    } finally {
      await browser.close();
    }
  });
});

describe('Table 3 FLOPs, exactly (the paper shapes, from our plans)', () => {
  const N = 256;
  const rows = table3Flops(N);
  const row = (family: string, variant: string) => rows.find((r) => r.family === family && r.variant === variant)!;

  it('DCN-style: d_c = 514, d_t = 577, L = 4, FC 512-256', () => {
    const dcnRow = (v: string) => row('DCN-style', v);
    const [dc, dt, L] = [514, 577, 4];
    const d = dc + dt;
    const fc = (input: number) => 2 * (input * 512 + 512 * 256);
    // Vanilla DCNv2: every cross layer 2 d^2 per candidate; FC = the deep MLP on x_0 and the output layer on [x_L; deep].
    const base = { cross: N * L * 2 * d * d, fc: N * (fc(d) + 2 * (d + 256)) };
    expect(dcnRow('vanilla (baseline)').flops).toEqual({
      interaction: { baseline: base.cross, variant: base.cross, change: 0 },
      fc: { baseline: base.fc, variant: base.fc, change: 0 },
      total: { baseline: base.cross + base.fc, variant: base.cross + base.fc, change: 0 },
    });
    // DCNv2 + FC: W_0[:, ctx] x_c and the deep MLP's ctx columns once per request.
    const dcn = { cross: 2 * dc * d + N * (2 * dt * d + (L - 1) * 2 * d * d), fc: 2 * dc * 512 + N * (fc(d) - 2 * dc * 512 + 2 * (d + 256)) };
    expect(dcnRow('DCNv2 + FC').flops).toEqual({
      interaction: { baseline: base.cross, variant: dcn.cross, change: dcn.cross / base.cross - 1 },
      fc: { baseline: base.fc, variant: dcn.fc, change: dcn.fc / base.fc - 1 },
      total: { baseline: base.cross + base.fc, variant: dcn.cross + dcn.fc, change: (dcn.cross + dcn.fc) / (base.cross + base.fc) - 1 },
    });
    // rDCN + FC against the DCNv2 baseline: context stream and W_ct c_l once, W_t T_l per candidate.
    const rdcn = { cross: L * 2 * (dc * dc + dt * dc) + N * L * 2 * dt * dt, fc: 2 * dc * 512 + N * (fc(dt) + 2 * 256) };
    expect(dcnRow('rDCN + FC').flops!.interaction.variant).toBe(rdcn.cross);
    expect(dcnRow('rDCN + FC').flops!.fc.variant).toBe(rdcn.fc);
    expect(dcnRow('rDCN + FC').flops!.total.variant).toBe(rdcn.cross + rdcn.fc);
    // The paper's -72% cross is 1 - d_t^2 / d^2, which rDCN approaches as N grows.
    expect(Math.round(dcnRow('rDCN + FC').flops!.interaction.change * 100)).toBe(-72);
  });

  it('DLRM-style: K = 27, M = 4, D = 128, top MLP 512-256 on [flatten(E); pairs]', () => {
    const dlrmRow = (v: string) => row('DLRM-style', v);
    const [K, M, D] = [27, 4, 128];
    const F = K + M;
    const c2 = (n: number) => (n * (n - 1)) / 2;
    const mlp = (input: number) => 2 * (input * 512 + 512 * 256 + 256);
    const base = { pairs: N * 2 * c2(F) * D, fc: N * mlp(F * D + c2(F)) };
    expect(dlrmRow('vanilla (baseline)').flops!.total.baseline).toBe(base.pairs + base.fc);
    const pairs = 2 * c2(K) * D + N * 2 * (K * M + c2(M)) * D;
    const fc = 2 * (K * D + c2(K)) * 512 + N * (mlp(F * D + c2(F)) - 2 * (K * D + c2(K)) * 512);
    // FM: rank-aware pairs, vanilla FC.
    expect(dlrmRow('FM').flops).toEqual({
      interaction: { baseline: base.pairs, variant: pairs, change: pairs / base.pairs - 1 },
      fc: { baseline: base.fc, variant: base.fc, change: 0 },
      total: { baseline: base.pairs + base.fc, variant: pairs + base.fc, change: (pairs + base.fc) / (base.pairs + base.fc) - 1 },
    });
    expect(dlrmRow('FM + FC').flops).toEqual({
      interaction: { baseline: base.pairs, variant: pairs, change: pairs / base.pairs - 1 },
      fc: { baseline: base.fc, variant: fc, change: fc / base.fc - 1 },
      total: { baseline: base.pairs + base.fc, variant: pairs + fc, change: (pairs + fc) / (base.pairs + base.fc) - 1 },
    });
    // The paper's Table 3 figures for this model: 1.260 vs 0.243 GFLOP.
    expect((base.pairs + base.fc) / 1e9).toBeCloseTo(1.26, 2);
    expect((pairs + fc) / 1e9).toBeCloseTo(0.243, 3);
  });
});

describe('statistics and options', () => {
  it('a ratio is the median of per-round ratios; few runs spread from min to max', () => {
    expect(pairedRatio([10, 20, 30], [5, 5, 30])).toEqual({ median: 2, p10: 1, p90: 4, runs: 3 });
    expect(stat([3, 1, 2, 4])).toEqual({ median: 2.5, p10: 1, p90: 4, runs: 4 });
    const many = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(stat(many)).toEqual({ median: 10.5, p10: 3, p90: 19, runs: 20 });
  });

  it('--suite names are checked', () => {
    expect(parseSuites('all')).toEqual(['table3', 'fig2', 'peers', 'cold']);
    expect(parseSuites('cold,table3')).toEqual(['table3', 'cold']);
    expect(() => parseSuites('fig3')).toThrow(RankawareError);
    expect(() => parseSuites('fig3')).toThrow('--suite: expected one of table3, fig2, peers, cold, all (or a comma-separated list), received "fig3"');
  });

  it.each([
    [['bench', '--suite', 'fig3'], /^error: --suite: expected one of table3, fig2, peers, cold, all \(or a comma-separated list\), received "fig3"$/],
    [['bench', '--suite', 'table3', '--model', '/tmp/m'], /^error: --model: expected to be left out with --suite \(a suite chooses its own models and settings\), received "\/tmp\/m"$/],
    [['bench', '--suite', 'cold', '--n', '16'], /^error: --n: expected to be left out with --suite .*, received "16"$/],
    [['bench', '--model', '/tmp/m', '--quick'], /^error: --quick: expected --suite with it \(it applies to the benchmark suites\), received true$/],
  ])('rankaware %j is refused in one line', async (argv, message) => {
    const out: string[] = [];
    const err: string[] = [];
    expect(await main(argv, (s) => out.push(s), (s) => err.push(s))).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });
});
