/**
 * SVG charts of the results, rendered headlessly by vega (View.toSVG needs no canvas) from vega-lite
 * specs. vega and vega-lite are dev dependencies: they load only when charts are written.
 */
import { RankawareError } from '../errors.js';
import type { ResultOf } from './results.js';
import { runtimeLabel } from './markdown.js';
import { PAPER_FIG2 } from './fig2.js';

type Spec = Record<string, unknown>;

/** Chart data to 4 significant digits (the SVG labels each mark with its values). */
const round = (x: number) => Number(x.toPrecision(4));

async function render(spec: Spec): Promise<string> {
  let vega: typeof import('vega');
  let vl: typeof import('vega-lite');
  try {
    vega = await import('vega');
    vl = await import('vega-lite');
  } catch {
    throw new RankawareError('bench charts', 'the packages vega and vega-lite installed (npm i -D vega vega-lite)', 'a missing package', 'missing');
  }
  const view = new vega.View(vega.parse(vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT = { config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: '#ddd' } } };

/** Fig. 2a (sweep K) or 2b (sweep M): normalized throughput, ours with p10-p90 bars, the paper's ends dashed. */
export function fig2Chart(r: ResultOf<'fig2'>, sweep: 'K' | 'M'): Promise<string> {
  const ours = r.points
    .filter((p) => p.sweep === sweep)
    .map((p) => ({ x: p[sweep], y: round(p.normalized.median), lo: round(p.normalized.p10), hi: round(p.normalized.p90), series: `rankaware ${p.plan}` }));
  const paper = PAPER_FIG2[sweep];
  const paperRows = (['vanilla', 'rank-aware'] as const).flatMap((plan) => [
    { x: paper.from, y: paper[plan][0], series: `paper ${plan} (ends)` },
    { x: paper.to, y: paper[plan][1], series: `paper ${plan} (ends)` },
  ]);
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: ['rankaware vanilla', 'rankaware rank-aware', 'paper vanilla (ends)', 'paper rank-aware (ends)'], range: ['#d62728', '#1f77b4', '#f4a3a3', '#9cc3e6'] }, legend: { orient: 'right', labelLimit: 0 } };
  const x = { field: 'x', type: 'quantitative', title: sweep === 'K' ? `K context fields (M = ${r.baseline.M})` : `M target fields (K = ${r.baseline.K})`, scale: { zero: false } };
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Fig. 2${sweep === 'K' ? 'a' : 'b'}: throughput vs ${sweep}`, subtitle: `normalized to K=${r.baseline.K} M=${r.baseline.M} vanilla; WASM, 1 thread, N=${r.n}; bars p10-p90` },
    width: 360,
    height: 240,
    layer: [
      { data: { values: paperRows }, mark: { type: 'line', strokeDash: [4, 3], point: { filled: false } }, encoding: { x, y: { field: 'y', type: 'quantitative', title: 'normalized throughput' }, color } },
      { data: { values: ours }, mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'normalized throughput' }, y2: { field: 'hi' }, color } },
      { data: { values: ours }, mark: { type: 'line', point: true }, encoding: { x, y: { field: 'y', type: 'quantitative' }, color } },
    ],
    ...FONT,
  });
}

/** Peers: ms per request against N (log-log), one panel per model and thread count. */
export function peersChart(r: ResultOf<'peers'>): Promise<string> {
  const rows = r.rows.map((p) => ({ model: p.model, threads: `${p.threads} thread${p.threads === 1 ? '' : 's'}`, n: p.n, y: round(p.ms_per_request.median), lo: round(p.ms_per_request.p10), hi: round(p.ms_per_request.p90), runtime: runtimeLabel(p) }));
  const color = { field: 'runtime', type: 'nominal', title: null, scale: { domain: ['rankaware rank-aware', 'rankaware vanilla', 'rankaware ort', 'onnxruntime-node', 'onnxruntime-web'], range: ['#1f77b4', '#d62728', '#9467bd', '#2ca02c', '#ff7f0e'] }, legend: { orient: 'top', labelLimit: 0 } };
  const x = { field: 'n', type: 'quantitative', title: 'candidates N', scale: { type: 'log', base: 2 }, axis: { values: [...new Set(r.rows.map((p) => p.n))] } };
  // Log axes draw a grid line per minor tick; without them the SVG is a third of the size.
  const y = { field: 'y', type: 'quantitative', title: 'ms per request', scale: { type: 'log' }, axis: { grid: false, tickCount: 4 } };
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'rankaware vs onnxruntime (vanilla graph)', subtitle: 'median ms per request, bars p10-p90; lower is better' },
    data: { values: rows },
    // Panels in the configuration's order of models, not alphabetical.
    facet: { column: { field: 'model', type: 'nominal', title: null, sort: [...new Set(r.rows.map((p) => p.model))] }, row: { field: 'threads', type: 'nominal', title: null } },
    spec: {
      width: 170,
      height: 150,
      layer: [
        { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale: { type: 'log' }, title: 'ms per request', axis: { grid: false, tickCount: 4 } }, y2: { field: 'hi' }, color } },
        { mark: { type: 'line', point: true }, encoding: { x, y, color } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    ...FONT,
  });
}
