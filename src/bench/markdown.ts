/**
 * The markdown summary of the suites' results (bench/results/summary.md) and the shorter block the
 * README shows. Every table names its machine; every ratio says it is from one run.
 */
import type { Stat } from './measure.js';
import { machineLine } from './machine.js';
import type { ResultOf, Results, SuiteResult } from './results.js';
import type { PeerRow } from './peers.js';
import { PAPER_FIG2 } from './fig2.js';

const pct = (x: number) => {
  const p = x * 100;
  const s = Math.abs(p) < 9.95 && Math.round(p) !== p ? p.toFixed(1) : Math.round(p).toFixed(0);
  return `${p > 0 ? '+' : ''}${s === '-0' || s === '-0.0' ? '0' : s}%`;
};
const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
export const ms = (s: Stat) => `${num(s.median)} (${num(s.p10)}-${num(s.p90)})`;
export const ratio = (s: Stat) => `${s.median.toFixed(2)}x (${s.p10.toFixed(2)}-${s.p90.toFixed(2)})`;

function header(r: SuiteResult): string {
  return `_${r.mode === 'quick' ? 'Quick run (--quick: short timings, fewer points)' : r.mode === 'full' ? 'Full run' : 'Custom run'} on ${machineLine(r.machine)}; ${r.seconds.toFixed(0)} s._`;
}

export function table3Markdown(r: ResultOf<'table3'>): string {
  const out = [`Candidates per request N = ${r.n}. FLOP changes are counted from our plans (2 FLOPs per multiply-add; elementwise work not counted, like the paper); paper figures in brackets. Time: WASM, one thread, median (p10-p90) ms per request; speed-up: baseline time over the row's, median of per-round ratios in one run.`, ''];
  out.push('| family | variant | Int. ours [paper] | FC ours [paper] | Total ours [paper] | ms / request | speed-up vs baseline |', '|---|---|---|---|---|---|---|');
  for (const row of r.rows) {
    const col = (k: 'interaction' | 'fc' | 'total') => (row.flops ? pct(row.flops[k].change) : 'n/a') + (row.paper ? ` [${pct(row.paper[k])}]` : '');
    out.push(`| ${row.family} | ${row.variant} | ${col('interaction')} | ${col('fc')} | ${col('total')} | ${row.ms_per_request ? ms(row.ms_per_request) : 'n/a'} | ${row.speedup && row.variant !== 'vanilla (baseline)' ? ratio(row.speedup) : ''} |`);
  }
  out.push('');
  for (const family of [...new Set(r.rows.map((x) => x.family))]) out.push(`- ${family}: ${r.rows.find((x) => x.family === family)!.shape}.`);
  for (const row of r.rows.filter((x) => x.note)) out.push(`- ${row.variant}: ${row.note}.`);
  return out.join('\n');
}

/** `base`: where the charts are, relative to the markdown file (summary.md sits beside them). */
export function fig2Markdown(r: ResultOf<'fig2'>, base = ''): string {
  const out = [
    `DLRM-style (FM pairs, then FC ${r.mlp.join('-')}), D = ${r.dim}, N = ${r.n}; WASM, one thread, one request in flight. Throughput normalized to the (K=${r.baseline.K}, M=${r.baseline.M}) vanilla model, measured beside it in the same run (median and p10-p90 of per-round ratios). Charts: [K sweep](${base}fig2-k.svg), [M sweep](${base}fig2-m.svg).`,
  ];
  for (const sweep of ['K', 'M'] as const) {
    const paper = PAPER_FIG2[sweep];
    out.push('', `**${sweep} sweep** (${sweep === 'K' ? `M = ${r.baseline.M}` : `K = ${r.baseline.K}`}); paper, ${sweep}=${paper.from} to ${paper.to}: vanilla ${paper.vanilla[0].toFixed(2)} to ${paper.vanilla[1].toFixed(2)}, rank-aware ${paper['rank-aware'][0].toFixed(2)} to ${paper['rank-aware'][1].toFixed(2)}.`, '');
    out.push('| K | M | vanilla normalized | rank-aware normalized | rank-aware / vanilla | vanilla ms | rank-aware ms | FLOP ratio |', '|---|---|---|---|---|---|---|---|');
    const points = r.points.filter((p) => p.sweep === sweep);
    for (const v of points.filter((p) => p.plan === 'vanilla')) {
      const ra = points.find((p) => p.plan === 'rank-aware' && p.K === v.K && p.M === v.M)!;
      out.push(`| ${v.K} | ${v.M} | ${ratio(v.normalized)} | ${ratio(ra.normalized)} | ${ratio(ra.speedup!)} | ${ms(v.ms_per_request)} | ${ms(ra.ms_per_request)} | ${(v.flops / ra.flops).toFixed(2)}x |`);
    }
  }
  return out.join('\n');
}

const ours = (x: PeerRow) => x.backend === 'wasm' || x.backend === 'js';
const RUNTIMES: readonly { key: (row: PeerRow) => boolean; label: string }[] = [
  { key: (x) => ours(x) && x.plan === 'rank-aware', label: 'rankaware rank-aware' },
  { key: (x) => ours(x) && x.plan === 'vanilla', label: 'rankaware vanilla' },
  { key: (x) => x.backend === 'ort', label: 'rankaware ort' },
  { key: (x) => x.backend === 'ort-node', label: 'onnxruntime-node' },
  { key: (x) => x.backend === 'ort-web', label: 'onnxruntime-web' },
];

export function runtimeLabel(row: PeerRow): string {
  return RUNTIMES.find((r) => r.key(row))!.label;
}

export function peersMarkdown(r: ResultOf<'peers'>, only?: { n: number }, base = ''): string {
  const out = [
    `Median (p10-p90) ms per request; rankaware on its WASM backend, rankaware ort (its rank-aware plan as ONNX on onnxruntime-node), onnxruntime on the exported vanilla graph (onnxruntime-node native, onnxruntime-web wasm; intra-op spinning off). "RA vs X": X's time over rank-aware's (WASM); "ort vs onnxruntime-node": onnxruntime-node's time over rankaware ort's, measured right after the other columns in rounds of the two alone (in rounds of every runtime, the one after the WASM backend, here rankaware ort, runs slower: its caches just thrashed); medians of per-round ratios in one run. Each thread count ran in its own process; above one thread onnxruntime-web ran in a second one (its wasm threads spin between runs and slow whatever shares the cores), and its ratios are its times over the first process's medians. Chart: [peers.svg](${base}peers.svg).`,
    '',
  ];
  const present = RUNTIMES.filter((rt) => r.rows.some(rt.key));
  const others = present.slice(1);
  const withOrt = r.rows.some((x) => x.backend === 'ort') && r.rows.some((x) => x.backend === 'ort-node');
  out.push(`| model | N | threads | ${present.map((p) => p.label + ' ms').join(' | ')} | ${others.map((p) => 'RA vs ' + p.label.replace('rankaware ', '')).join(' | ')} |${withOrt ? ' ort vs onnxruntime-node |' : ''}`);
  out.push(`|${'---|'.repeat(3 + present.length + others.length + (withOrt ? 1 : 0))}`);
  const groups = new Map<string, PeerRow[]>();
  for (const row of r.rows) {
    if (only && row.n !== only.n) continue;
    // One process per thread count, and every runtime in it runs on that many threads.
    const key = `${row.model}/${row.n}/${row.threads}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const rows of groups.values()) {
    const ra = rows.find(RUNTIMES[0]!.key)!;
    const cell = (rt: (typeof RUNTIMES)[number], f: (x: PeerRow) => string) => {
      const row = rows.find(rt.key);
      return row ? f(row) : 'n/a';
    };
    const node = rows.find((x) => x.backend === 'ort-node');
    const ortCell = withOrt ? ` ${node?.ort_speedup ? ratio(node.ort_speedup) : 'n/a'} |` : '';
    out.push(`| ${ra.model} | ${ra.n} | ${ra.threads} | ${present.map((p) => cell(p, (x) => ms(x.ms_per_request))).join(' | ')} | ${others.map((p) => cell(p, (x) => ratio(x.rank_aware_speedup!))).join(' | ')} |${ortCell}`);
  }
  const paired = [...groups.values()].map((rows) => rows.find(RUNTIMES[0]!.key)!).filter((x) => x.threads_side_by_side);
  if (paired.length > 0) {
    out.push('', `Rankaware rank-aware (WASM) on one thread and on the row's threads, side by side in that thread count's process (rounds of the two alone; "speed-up": one thread's time over the row's threads', per round):`, '');
    out.push('| model | N | 1 thread ms | threads | ms | speed-up |', '|---|---|---|---|---|---|');
    for (const x of paired) out.push(`| ${x.model} | ${x.n} | ${ms(x.threads_side_by_side!.one_ms)} | ${x.threads} | ${ms(x.threads_side_by_side!.many_ms)} | ${ratio(x.threads_side_by_side!.speedup)} |`);
  }
  return out.join('\n');
}

export function coldMarkdown(r: ResultOf<'cold'>): string {
  const out = [
    `A fresh Node process per start (median, p10-p90 over ${r.rows[0]?.cold_ms.runs ?? 0} starts, in rounds over the backends): import the runtime, load the model (ours: read the files, compile the WASM module and the plan; onnxruntime: read the .onnx, create the session, one thread), then score one request of N = ${r.rows[0]?.n ?? 0}. Ours run the rank-aware plan.`,
    '',
    '| model | backend | import ms | load ms | first score ms | cold start ms |',
    '|---|---|---|---|---|---|',
  ];
  const label: Record<string, string> = { js: 'rankaware js', wasm: 'rankaware wasm', 'ort-node': 'onnxruntime-node', 'ort-web': 'onnxruntime-web' };
  for (const row of r.rows) out.push(`| ${row.model} | ${label[row.backend]} | ${ms(row.import_ms)} | ${ms(row.load_ms)} | ${ms(row.first_score_ms)} | ${ms(row.cold_ms)} |`);
  return out.join('\n');
}

const TITLES = { table3: "Table 3: FLOP change per component (paper's shapes)", fig2: 'Fig. 2: throughput as K and M grow', peers: 'Peers: onnxruntime on the same models', cold: 'Cold start' } as const;

/** bench/results/summary.md: every suite with results, each under its own machine line. */
export function summaryMarkdown(results: Results): string {
  const out = ['# rankaware benchmarks', '', 'Generated by `npm run bench` (`rankaware bench --suite all`); see [docs/benchmarks.md](../../docs/benchmarks.md) for what each suite measures. Machine-readable results: `bench/results/*.json`.'];
  if (results.table3) out.push('', `## ${TITLES.table3}`, '', header(results.table3), '', table3Markdown(results.table3));
  if (results.fig2) out.push('', `## ${TITLES.fig2}`, '', header(results.fig2), '', fig2Markdown(results.fig2), '', '![K sweep](fig2-k.svg) ![M sweep](fig2-m.svg)');
  if (results.peers) out.push('', `## ${TITLES.peers}`, '', header(results.peers), '', peersMarkdown(results.peers), '', '![peers](peers.svg)');
  if (results.cold) out.push('', `## ${TITLES.cold}`, '', header(results.cold), '', coldMarkdown(results.cold));
  return out.join('\n') + '\n';
}

export const README_START = '<!-- bench:start (generated by npm run bench; edit src/bench/markdown.ts) -->';
export const README_END = '<!-- bench:end -->';

/** The README's block: the machine, Table 3, the charts, the peers at N = 256 and the cold starts. */
export function readmeBlock(results: Results, resultsDir = 'bench/results'): string {
  const out = [README_START];
  const first = results.table3 ?? results.fig2 ?? results.peers ?? results.cold;
  if (!first) return [README_START, 'No results yet: run `npm run bench`.', README_END].join('\n');
  out.push(`Latest run (${first.mode}) on ${machineLine(first.machine)}. Full tables: [${resultsDir}/summary.md](${resultsDir}/summary.md).`);
  if (results.table3) out.push('', `**${TITLES.table3}**`, '', table3Markdown(results.table3));
  if (results.fig2) out.push('', `**${TITLES.fig2}** (normalized to K=${results.fig2.baseline.K} M=${results.fig2.baseline.M} vanilla; WASM, one thread, N = ${results.fig2.n})`, '', `![K sweep](${resultsDir}/fig2-k.svg) ![M sweep](${resultsDir}/fig2-m.svg)`);
  if (results.peers) {
    const n = results.peers.rows.some((r) => r.n === 256) ? 256 : results.peers.rows[0]?.n;
    out.push('', `**${TITLES.peers}** (N = ${n}; every N in the summary)`, '', peersMarkdown(results.peers, n === undefined ? undefined : { n }, `${resultsDir}/`), '', `![peers](${resultsDir}/peers.svg)`);
  }
  if (results.cold) out.push('', `**${TITLES.cold}**`, '', coldMarkdown(results.cold));
  out.push(README_END);
  return out.join('\n');
}

/** Replace the README's generated block (between the markers); null when the README has no markers. */
export function replaceReadmeBlock(readme: string, block: string): string | null {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return null;
  return readme.slice(0, start) + block + readme.slice(end + README_END.length);
}
