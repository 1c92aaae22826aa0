/**
 * The demo page: the visitor edits a viewer's context, the page reranks N candidate movies with one of
 * the two embedded models on the chosen backend (the DLRM, which pools the recently watched films, or the
 * DIN, which reads them as an ordered history and weighs each film for each candidate), times the context
 * (history) stage and the candidate tiles, compares vanilla with rank-aware on the same request, and
 * reproduces the paper's Fig. 2 on demand.
 *
 * `window.rankawareDemo` exposes the page's state and a few actions for the browser tests
 * (test/demo.test.ts): the last request and its scores, switching backends, measuring throughput.
 */
import { modelFromFiles } from '../../src/index.js';
import type { BackendName, Model, ScorerInfo } from '../../src/index.js';
import { BACKEND_CHOICES, BACKEND_LABELS, probeAll, resolveChoice } from './backends.js';
import type { Availability, BackendChoice } from './backends.js';
import { lineChart } from './chart.js';
import { Ranker, measureThroughput, scorerFor } from './ranking.js';
import type { Comparison, RankResult, Throughput } from './ranking.js';
import { SWEEP, runSweep } from './sweep.js';
import type { SweepPoint, SweepResult } from './sweep.js';
import { AGE_BANDS, DEVICES, GENRES, TIMES_OF_DAY, requestFor, sequenceRequestFor } from './vocab.js';
import type { CatalogItem, UserContext } from './vocab.js';

// ----- state ------------------------------------------------------------------------------------

interface Training {
  readonly metrics: { readonly heldOutAuc: number; readonly oracleAuc: number; readonly ratingOnlyAuc: number; readonly trainImpressions: number };
}

/** The page's two models: the DLRM (demo/public/model/) and the DIN over the ordered history (demo/public/din/). */
export type ModelChoice = 'dlrm' | 'din';

interface LoadedModel {
  readonly model: Model;
  readonly training: Training;
}

const CANDIDATE_COUNTS = [100, 300, 1000];
const SHOWN = 20;
const HISTORY_LIMIT = 8;

let models: Record<ModelChoice, LoadedModel>;
let modelChoice: ModelChoice = 'dlrm';
const currentModel = () => models[modelChoice].model;
let catalog: CatalogItem[];
let availability: ReadonlyMap<BackendName, Availability>;
let ranker: Ranker | undefined;
let user: UserContext;
let candidateCount = 300;
let choice: BackendChoice = 'auto';
let threads = 1;
let backendWhy = '';
let previousRanks = new Map<number, number>();
let last: { request: ReturnType<typeof requestFor>; result: RankResult; comparison?: Comparison } | undefined;
let sweepResult: SweepResult | undefined;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const fmtMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

// ----- errors: shown on the page and reported to the console ----------------------------------

function showError(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  const box = $('error');
  box.hidden = false;
  box.textContent = `Error: ${message}`;
  document.body.dataset.state = 'error';
  console.error(e);
}

// ----- loading ----------------------------------------------------------------------------------

async function fetchBytes(path: string): Promise<Uint8Array> {
  const response = await fetch(new URL(path, document.baseURI));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchJson<T>(path: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(path))) as T;
}

/** The request JSON of the current model: the DIN reads the history as a sequence, oldest first. */
function requestOf(viewer: UserContext, items: readonly CatalogItem[]): ReturnType<typeof requestFor> {
  return modelChoice === 'din' ? sequenceRequestFor(viewer, items, catalog) : requestFor(viewer, items);
}

// ----- the viewer form ----------------------------------------------------------------------------

function fillSelect(select: HTMLSelectElement, labels: readonly string[], value: number): void {
  select.replaceChildren(...labels.map((label, i) => new Option(label, String(i), false, i === value)));
}

function titleOf(id: number): string {
  return catalog[id]?.title ?? `#${id}`;
}

function renderHistory(): void {
  const list = $('history');
  list.replaceChildren(
    ...user.history.map((id) => {
      const li = document.createElement('li');
      li.dataset.itemId = String(id);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = '×';
      remove.title = `Remove ${titleOf(id)}`;
      remove.addEventListener('click', () => setUser({ ...user, history: user.history.filter((h) => h !== id) }));
      li.append(`${titleOf(id)} `, remove);
      return li;
    }),
  );
  if (user.history.length === 0) list.append(Object.assign(document.createElement('li'), { className: 'empty', textContent: 'nothing yet' }));
  ($('history-input') as HTMLInputElement).disabled = user.history.length >= HISTORY_LIMIT;
}

function renderForm(): void {
  fillSelect($('age-band'), AGE_BANDS, user.ageBand);
  fillSelect($('favorite-genre'), GENRES, user.favoriteGenre);
  fillSelect($('time-of-day'), TIMES_OF_DAY, user.timeOfDay);
  fillSelect($('device'), DEVICES, user.device);
  renderHistory();
}

function setUser(next: UserContext): void {
  user = next;
  renderForm();
  scheduleUpdate();
}

function addHistory(): void {
  const input = $('history-input') as HTMLInputElement;
  const item = catalog.find((c) => c.title.toLowerCase() === input.value.trim().toLowerCase());
  if (!item) {
    input.setCustomValidity('Pick a title from the list');
    input.reportValidity();
    return;
  }
  input.setCustomValidity('');
  input.value = '';
  if (!user.history.includes(item.id)) setUser({ ...user, history: [item.id, ...user.history].slice(0, HISTORY_LIMIT) });
}

/** A random viewer (Math.random: a visitor wants a different one each click). */
function randomUser(): UserContext {
  const pick = (n: number) => Math.floor(Math.random() * n);
  const history = Array.from({ length: 1 + pick(5) }, () => pick(catalog.length));
  return { ageBand: pick(AGE_BANDS.length), favoriteGenre: pick(GENRES.length), history: [...new Set(history)], timeOfDay: pick(TIMES_OF_DAY.length), device: pick(DEVICES.length) };
}

function defaultUser(): UserContext {
  const ids = ['The Matrix', 'Gladiator', 'The Dark Knight'].flatMap((t) => catalog.filter((c) => c.title === t).map((c) => c.id));
  return { ageBand: 1, favoriteGenre: GENRES.indexOf('Action'), history: ids, timeOfDay: TIMES_OF_DAY.indexOf('evening'), device: DEVICES.indexOf('tv') };
}

function bindForm(): void {
  const onSelect = (id: string, key: 'ageBand' | 'favoriteGenre' | 'timeOfDay' | 'device') =>
    $(id).addEventListener('change', (e) => setUser({ ...user, [key]: Number((e.target as HTMLSelectElement).value) }));
  onSelect('age-band', 'ageBand');
  onSelect('favorite-genre', 'favoriteGenre');
  onSelect('time-of-day', 'timeOfDay');
  onSelect('device', 'device');
  $('history-add').addEventListener('click', addHistory);
  $('history-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      addHistory();
    }
  });
  $('titles').replaceChildren(...catalog.map((c) => new Option(`${c.year}, ${GENRES[c.genre]}`, c.title)));
  $('random-user').addEventListener('click', () => setUser(randomUser()));
  const count = $<HTMLSelectElement>('candidate-count');
  count.replaceChildren(...CANDIDATE_COUNTS.filter((n) => n <= catalog.length).map((n) => new Option(String(n), String(n), false, n === candidateCount)));
  count.addEventListener('change', () => {
    candidateCount = Number(count.value);
    scheduleUpdate();
  });
}

// ----- the backend selector ---------------------------------------------------------------------

function renderBackendChoices(maxThreads: number): void {
  const select = $<HTMLSelectElement>('backend-select');
  select.replaceChildren(
    ...BACKEND_CHOICES.map(({ choice: c, label }) => {
      const option = new Option(label, c, false, c === choice);
      if (c !== 'auto') {
        const a = availability.get(c)!;
        option.disabled = !a.available;
        option.title = a.reason;
        if (!a.available) option.textContent = `${label} (unavailable)`;
      }
      return option;
    }),
  );
  $('backend-availability').replaceChildren(
    ...[...availability.values()].map((a) => {
      const li = document.createElement('li');
      li.dataset.backend = a.backend;
      li.dataset.available = String(a.available);
      li.textContent = `${BACKEND_LABELS[a.backend]}: ${a.available ? 'available' : 'unavailable'} (${a.reason})`;
      return li;
    }),
  );
  const threadSelect = $<HTMLSelectElement>('threads-select');
  const counts = [...new Set([1, 2, 4, 8, 16].filter((n) => n <= Math.max(2, maxThreads)))];
  threadSelect.replaceChildren(...counts.map((n) => new Option(String(n), String(n), false, n === threads)));
  select.addEventListener('change', () => void switchBackend(select.value as BackendChoice, threads).catch(showError));
  threadSelect.addEventListener('change', () => void switchBackend(choice, Number(threadSelect.value)).catch(showError));
}

function renderBackendStatus(info: ScorerInfo): void {
  $('backend-status').textContent = `backend: ${BACKEND_LABELS[info.backend]}`;
  $('backend-status').dataset.backend = info.backend;
  $('threads-status').textContent = `threads: ${info.threads} (${info.workers} worker${info.workers === 1 ? '' : 's'})`;
  $('threads-status').dataset.threads = String(info.threads);
  const isolated = window.crossOriginIsolated === true;
  $('isolation-status').textContent = `cross-origin isolated: ${isolated ? 'yes' : 'no'}${isolated ? ' (SharedArrayBuffer)' : ''}`;
  $('isolation-status').dataset.isolated = String(isolated);
  $('backend-why').textContent = backendWhy;
  $('mode-status').textContent = `Scorer mode: ${info.mode} (${info.modeReason}); tiles of ${info.tileRows} candidates.`;
  $('mode-status').dataset.mode = info.mode;
}

/** Build the scorers for a backend choice and thread count, then rerank. */
async function switchBackend(nextChoice: BackendChoice, nextThreads: number): Promise<ScorerInfo> {
  const resolved = resolveChoice(nextChoice, availability);
  if (!resolved) throw new Error(`the ${nextChoice} backend is unavailable here: ${availability.get(nextChoice as BackendName)?.reason ?? 'unknown backend'}`);
  const info = await queue.run(async () => {
    document.body.dataset.state = 'busy';
    const next = await Ranker.create(currentModel(), resolved.backend, nextThreads);
    ranker?.dispose();
    ranker = next;
    choice = nextChoice;
    threads = nextThreads;
    backendWhy = resolved.why + (next.info.backend !== resolved.backend ? `; the ${modelChoice.toUpperCase()} runs on its compiled graph, whose scorer runs on ${BACKEND_LABELS[next.info.backend]}` : '');
    $<HTMLSelectElement>('backend-select').value = choice;
    $<HTMLSelectElement>('threads-select').value = String(threads);
    renderBackendStatus(next.info);
    return next.info;
  });
  await update();
  return info;
}

// ----- ranking and timing -----------------------------------------------------------------------

function renderRanking(request: ReturnType<typeof requestFor>, result: RankResult, candidates: readonly CatalogItem[]): void {
  const order = result.scores.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const ranks = new Map(order.map(([, i], rank) => [candidates[i]!.id, rank]));
  const rows = order.slice(0, SHOWN).map(([s, i], rank) => {
    const item = candidates[i]!;
    const tr = document.createElement('tr');
    tr.dataset.itemId = String(item.id);
    tr.dataset.score = String(s);
    const before = previousRanks.get(item.id);
    const move = before === undefined ? 'new' : before > rank ? `▲${before - rank}` : before < rank ? `▼${rank - before}` : '';
    const watched = user.history.includes(item.id) ? ' (watched)' : '';
    const cells = [String(rank + 1), move, item.title + watched, GENRES[item.genre]!, String(item.year), item.rating.toFixed(1)];
    for (const text of cells) tr.append(Object.assign(document.createElement('td'), { textContent: text }));
    const scoreCell = document.createElement('td');
    scoreCell.className = 'score';
    const bar = Object.assign(document.createElement('span'), { className: 'bar' });
    bar.style.width = `${(s * 100).toFixed(1)}%`;
    scoreCell.append(bar, Object.assign(document.createElement('span'), { className: 'value', textContent: s.toFixed(4) }));
    tr.append(scoreCell);
    tr.children[1]!.className = move.startsWith('▲') ? 'up' : move.startsWith('▼') ? 'down' : 'move';
    return tr;
  });
  $('ranking').querySelector('tbody')!.replaceChildren(...rows);
  $('ranking-n').textContent = String(request.candidates.length);
  previousRanks = ranks;
  const t = result.timing;
  $('timing-context').textContent = fmtMs(t.contextMs);
  $('timing-candidates').textContent = fmtMs(t.candidatesMs);
  $('timing-tiles').textContent = `${t.tiles} on ${ranker!.info.threads} thread${ranker!.info.threads === 1 ? '' : 's'}`;
  $('timing-total').textContent = `${fmtMs(result.totalMs)} (${Math.round((request.candidates.length / result.totalMs) * 1000).toLocaleString('en')} candidates/s)`;
}

function renderComparison(c: Comparison): void {
  $('compare-vanilla-ms').textContent = c.vanilla.medianMs.toFixed(3);
  $('compare-rank-aware-ms').textContent = c.rankAware.medianMs.toFixed(3);
  const speedup = c.vanilla.medianMs / c.rankAware.medianMs;
  $('compare-speedup').textContent = speedup >= 1 ? `${speedup.toFixed(2)}x faster` : `${(1 / speedup).toFixed(2)}x slower`;
  $('compare-vanilla-flops').textContent = (c.vanilla.flops / 1e6).toFixed(3);
  $('compare-rank-aware-flops').textContent = (c.rankAware.flops / 1e6).toFixed(3);
  $('compare-flop-ratio').textContent = `${(c.vanilla.flops / c.rankAware.flops).toFixed(2)}x fewer`;
  $('compare-max-diff').textContent = c.maxScoreDiff.toExponential(2);
  $('compare-note').textContent =
    `N = ${c.n}, medians of ${c.rounds} alternating rounds. Rank-aware runs ${(c.rankAware.flopsOnce / 1e3).toFixed(1)} kFLOP once per request ` +
    `and ${(c.rankAware.flopsPerCandidate / 1e3).toFixed(1)} kFLOP per candidate; vanilla ${(c.vanilla.flopsPerCandidate / 1e3).toFixed(1)} kFLOP per candidate. ` +
    (modelChoice === 'din'
      ? "The DIN's history stage embeds the films watched and computes each one's part of the activation unit once; per candidate, only the h * t term runs for each film. "
      : 'This model has few context fields; the sweep below shows how the gap grows with K.') +
    (c.rankAware.medianMs < 3 ? ' A request this small takes about a millisecond, so the per-request overheads (worker messages) weigh as much as the arithmetic.' : '');
}

function candidates(): CatalogItem[] {
  // The N most-voted films: catalog ids are in that order.
  return catalog.slice(0, candidateCount);
}

async function update(): Promise<void> {
  await queue.run(async () => {
    if (!ranker) return;
    document.body.dataset.state = 'busy';
    const items = candidates();
    const request = requestOf(user, items);
    const result = await ranker.rank(request);
    renderRanking(request, result, items);
    last = { request, result };
    const comparison = await ranker.compare(request);
    renderComparison(comparison);
    last = { request, result, comparison };
    document.body.dataset.state = 'ready';
  });
}

let scheduled = false;
function scheduleUpdate(): void {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    update().catch(showError);
  });
}

/** One update at a time; a change during one runs after it. */
const queue = (() => {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      const next = tail.then(task);
      tail = next.catch(() => {});
      return next;
    },
    idle: () => tail.then(() => {}),
  };
})();

// ----- the sweep ----------------------------------------------------------------------------------

function drawSweep(points: readonly SweepPoint[]): void {
  const panel = (p: 'K' | 'M') => points.filter((x) => x.panel === p);
  const chart = (p: 'K' | 'M', values: readonly number[], title: string) =>
    lineChart({
      title,
      xLabel: p,
      yLabel: 'normalized throughput',
      xValues: values,
      series: [
        { name: 'vanilla', className: 'vanilla', points: panel(p).map((x) => [p === 'K' ? x.K : x.M, x.vanillaRps] as const) },
        { name: 'rank-aware', className: 'rank-aware', points: panel(p).map((x) => [p === 'K' ? x.K : x.M, x.rankAwareRps] as const) },
      ],
    });
  $('sweep-chart-k').replaceChildren(chart('K', SWEEP.kValues, `(a) K context fields, M = ${SWEEP.fixedM}`));
  $('sweep-chart-m').replaceChildren(chart('M', SWEEP.mValues, `(b) M target fields, K = ${SWEEP.fixedK}`));
}

async function sweep(): Promise<SweepResult> {
  const button = $<HTMLButtonElement>('sweep-run');
  button.disabled = true;
  $('sweep-status').textContent = 'measuring...';
  try {
    sweepResult = await queue.run(() =>
      runSweep((points, round) => {
        drawSweep(points);
        $('sweep-status').textContent = `round ${round} of ${SWEEP.rounds} (medians so far)`;
      }),
    );
    const k = sweepResult.points.filter((p) => p.panel === 'K');
    const lastK = k[k.length - 1]!;
    const maxDiff = Math.max(...sweepResult.points.map((p) => p.maxScoreDiff));
    $('sweep-status').textContent =
      `done: at K = ${lastK.K} rank-aware serves ${(lastK.rankAwareRps / lastK.vanillaRps).toFixed(2)}x the vanilla throughput ` +
      `(${lastK.flopRatio.toFixed(2)}x fewer FLOPs); largest score difference ${maxDiff.toExponential(1)}.`;
    $('sweep-status').dataset.done = 'true';
    return sweepResult;
  } finally {
    button.disabled = false;
  }
}

// ----- the test hook ----------------------------------------------------------------------------

export interface DemoHook {
  readonly state: () => string;
  readonly info: () => ScorerInfo | undefined;
  readonly choice: () => BackendChoice;
  readonly availability: () => Availability[];
  readonly lastRequest: () => ReturnType<typeof requestFor> | undefined;
  readonly lastScores: () => number[] | undefined;
  readonly lastComparison: () => Comparison | undefined;
  readonly setBackend: (choice: BackendChoice, threads: number) => Promise<ScorerInfo>;
  readonly setUser: (user: UserContext) => Promise<void>;
  readonly model: () => ModelChoice;
  /** Switch the model (same backend and threads) and rerank. */
  readonly setModel: (choice: ModelChoice) => Promise<ScorerInfo>;
  /** Candidates per second of a fresh scorer (rank-aware) on the current viewer and the n most-voted films. */
  readonly throughput: (backend: BackendName, threads: number, ms: number, n: number) => Promise<Throughput & { info: ScorerInfo }>;
  readonly runSweep: () => Promise<SweepResult>;
  /** The last sweep's result (from the button or runSweep). */
  readonly sweepResult: () => SweepResult | undefined;
}

declare global {
  interface Window {
    rankawareDemo?: DemoHook;
  }
}

function installHook(): void {
  window.rankawareDemo = {
    state: () => document.body.dataset.state ?? 'unknown',
    info: () => ranker?.info,
    choice: () => choice,
    availability: () => [...availability.values()],
    lastRequest: () => last?.request,
    lastScores: () => last?.result.scores,
    lastComparison: () => last?.comparison,
    setBackend: (c, t) => switchBackend(c, t),
    setUser: async (u) => {
      user = u;
      renderForm();
      await update();
    },
    model: () => modelChoice,
    setModel,
    throughput: async (backend, t, ms, n) => {
      const scorer = await scorerFor(currentModel(), backend, t, 'rank-aware');
      try {
        const request = requestOf(user, catalog.slice(0, n));
        return { ...(await queue.run(() => measureThroughput(scorer, request, ms))), info: scorer.info };
      } finally {
        scorer.dispose();
      }
    },
    runSweep: sweep,
    sweepResult: () => sweepResult,
  };
}

// ----- start ------------------------------------------------------------------------------------

async function loadModelFiles(dir: string): Promise<LoadedModel> {
  const [modelJson, weights, training] = await Promise.all([fetchBytes(`${dir}/model.json`), fetchBytes(`${dir}/weights.safetensors`), fetchJson<Training>(`${dir}/training.json`)]);
  return { model: modelFromFiles(new TextDecoder().decode(modelJson), weights, `${dir}/weights.safetensors`), training };
}

const MODEL_LABELS: Readonly<Record<ModelChoice, string>> = {
  dlrm: 'DLRM (pooled)',
  din: 'DIN (sequence)',
};

function renderModel(): void {
  const { model, training } = models[modelChoice];
  const m = training.metrics;
  const contextFields = model.spec.fields.filter((f) => f.side === 'context').map((f) => f.name);
  const targetFields = model.spec.fields.filter((f) => f.side === 'target').map((f) => f.name);
  const other = models[modelChoice === 'din' ? 'dlrm' : 'din'];
  const described =
    model.spec.architecture === 'dlrm'
      ? `a DLRM (FM pairs + FC ${model.spec.options.topMlp.join('-')})`
      : model.spec.architecture === 'din'
        ? `a DIN (activation unit ${model.spec.options.attention.join('-')} on [h, t, h - t, h * t] over the ordered history, then FC ${model.spec.options.mlp.join('-')})`
        : model.spec.architecture;
  $('model-facts').textContent =
    `Model: ${model.spec.name}, ${described} ` +
    `with context fields ${contextFields.join(', ')} and candidate fields ${targetFields.join(', ')}; trained in TypeScript on ` +
    `${m.trainImpressions.toLocaleString('en')} synthetic impressions (npm run demo:train). Held-out AUC ${m.heldOutAuc.toFixed(3)} ` +
    `(the ${other.model.spec.architecture.toUpperCase()} on the same held-out sessions: ${other.training.metrics.heldOutAuc.toFixed(3)}); ` +
    `the true preference logit reaches ${m.oracleAuc.toFixed(3)}, the IMDB rating alone ${m.ratingOnlyAuc.toFixed(3)}. ` +
    'Movies: the vega-datasets movies table.';
  $('history-hint').textContent =
    modelChoice === 'din' ? '(most recent first; an ordered sequence: the DIN weighs each film for each candidate)' : '(pooled: the mean of their embeddings)';
  $('timing-context-label').textContent = modelChoice === 'din' ? 'history stage (once)' : 'context stage (once)';
  $<HTMLSelectElement>('model-select').value = modelChoice;
  document.body.dataset.model = modelChoice;
}

/** Switch the model, keeping the backend and the threads, and rerank. */
async function setModel(next: ModelChoice): Promise<ScorerInfo> {
  modelChoice = next;
  previousRanks = new Map();
  renderModel();
  return switchBackend(choice, threads);
}

async function main(): Promise<void> {
  installHook();
  const [dlrm, din, items] = await Promise.all([loadModelFiles('model'), loadModelFiles('din'), fetchJson<CatalogItem[]>('model/catalog.json')]);
  models = { dlrm, din };
  catalog = items;
  user = defaultUser();
  $('catalog-size').textContent = `${catalog.length} real`;
  const modelSelect = $<HTMLSelectElement>('model-select');
  modelSelect.replaceChildren(...(Object.keys(MODEL_LABELS) as ModelChoice[]).map((c) => new Option(MODEL_LABELS[c], c, false, c === modelChoice)));
  modelSelect.addEventListener('change', () => void setModel(modelSelect.value as ModelChoice).catch(showError));
  renderModel();
  renderForm();
  bindForm();
  availability = await probeAll();
  const hardware = navigator.hardwareConcurrency || 1;
  threads = Math.min(4, Math.max(1, hardware));
  renderBackendChoices(hardware);
  $('sweep-run').addEventListener('click', () => void sweep().catch(showError));
  await switchBackend('auto', threads);
}

window.addEventListener('unhandledrejection', (e) => showError(e.reason));
main().catch(showError);
