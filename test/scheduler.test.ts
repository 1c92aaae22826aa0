/**
 * The worker scheduler: equal scores to single-thread scoring in request order, context handles,
 * fair interleaving, cancellation, backpressure, and faults (a worker that throws or dies mid-request).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tileRowsFor } from '../src/scheduler/jobs.js';
import { createScorer, randomModel, randomRequest, RankawareError, score } from '../src/index.js';
import type { Model, RequestJson, Scorer, ScorerOptions } from '../src/index.js';
import { equivalenceCases } from './cases.js';

function expectClose(actual: readonly number[], expected: readonly number[], what = ''): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `${what} #${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(expected[i]!))));
}

const reference = (model: Model, request: RequestJson) => score(model, request, { backend: 'js' }).scores;

describe('scores equal single-thread scoring, in request order', () => {
  const cases = equivalenceCases().filter((c) => /^(dlrm|deepfm|dcnv2|rdcn|autoint|rank-attention) K4 M3/.test(c.name));
  for (const [backend, threads, mode] of [['wasm', 2, 'shared-memory'], ['js', 2, 'copied-weights'], ['wasm', 1, 'inline']] as const) {
    it(`${backend}, ${threads} thread(s): ${mode}`, async () => {
      for (const c of cases) {
        const scorer = await createScorer(c.model, { backend, threads, tileRows: 3 });
        try {
          expect(scorer.info).toMatchObject({ backend, threads, mode });
          const request = { context: c.request.context, candidates: randomRequest(c.model.spec, 37, 5).candidates };
          const result = await scorer.score(request);
          expect(result.timing.tiles).toBe(13);
          expectClose(result.scores, reference(c.model, request), c.name);
        } finally {
          scorer.dispose();
        }
      }
    });
  }
});

describe('a scorer with two workers', () => {
  let model: Model;
  let scorer: Scorer;
  const small = () => randomRequest(model.spec, 8, 21);
  const big = (n: number, seed = 22) => randomRequest(model.spec, n, seed);

  beforeAll(async () => {
    model = randomModel({ arch: 'dlrm', context: 8, target: 3, dim: 16, mlp: [64, 32], seed: 9 });
    scorer = await createScorer(model, { backend: 'wasm', threads: 2, callingThread: false, tileRows: 8, maxContexts: 2 });
  });
  afterAll(() => scorer.dispose());

  it('reports its mode, threads and why', () => {
    expect(scorer.info).toMatchObject({ mode: 'shared-memory', threads: 2, workers: 2, callingThread: false });
    expect(scorer.info.modeReason).toMatch(/shared WebAssembly.Memory/);
    expect(scorer.info.backendReason).toMatch(/WASM/);
  });

  it('context handles: the context stage runs once, reused by any number of calls', async () => {
    const request = big(40);
    const handle = await scorer.context(request.context);
    const first = await scorer.score({ context: handle, candidates: request.candidates });
    const again = await scorer.score({ context: handle, candidates: request.candidates.slice(0, 9) });
    expect(first.timing.contextMs).toBe(0);
    expectClose(first.scores, reference(model, request));
    expectClose(again.scores, reference(model, { context: request.context, candidates: request.candidates.slice(0, 9) }));
    handle.release();
    await expect(scorer.score({ context: handle, candidates: request.candidates })).rejects.toThrow(/request\.context: expected a live context handle, received a released context handle/);
  });

  it('context handles are bounded by an LRU (maxContexts = 2)', async () => {
    const a = await scorer.context(big(1, 1).context);
    const b = await scorer.context(big(1, 2).context);
    await scorer.score({ context: a, candidates: small().candidates }); // a is now the most recent
    const c = await scorer.context(big(1, 3).context); // evicts b
    await expect(scorer.score({ context: b, candidates: small().candidates })).rejects.toThrow(/released context handle/);
    await scorer.score({ context: a, candidates: small().candidates });
    await scorer.score({ context: c, candidates: small().candidates });
    expect(scorer.contextUsage.handles).toBe(2);
  });

  it('concurrent requests interleave fairly: a small one does not wait behind a huge one', async () => {
    const order: string[] = [];
    const huge = scorer.score(big(2400)).then((r) => (order.push('huge'), r));
    const tiny = scorer.score(small()).then((r) => (order.push('small'), r));
    const [h, t] = await Promise.all([huge, tiny]);
    expect(order).toEqual(['small', 'huge']);
    expect(h.timing.tiles).toBe(300);
    expectClose(t.scores, reference(model, small()));
    expectClose(h.scores.slice(0, 50), reference(model, big(2400)).slice(0, 50));
  });

  it('many concurrent requests each get their own scores', async () => {
    const requests = Array.from({ length: 12 }, (_, i) => big(5 + i * 7, 100 + i));
    const results = await Promise.all(requests.map((r) => scorer.score(r)));
    results.forEach((r, i) => expectClose(r.scores, reference(model, requests[i]!), `request ${i}`));
  });

  it('an AbortSignal cancels the pending tiles of its request only', async () => {
    const before = scorer.stats.tilesRun;
    const controller = new AbortController();
    const doomed = scorer.score(big(4000), { signal: controller.signal });
    const other = scorer.score(big(30, 7));
    setTimeout(() => controller.abort(), 5);
    await expect(doomed).rejects.toMatchObject({ name: 'AbortError' });
    expectClose((await other).scores, reference(model, big(30, 7)));
    // 500 tiles were planned; far fewer ran before the abort dropped the rest.
    expect(scorer.stats.tilesRun - before).toBeLessThan(400);
    const aborted = new AbortController();
    aborted.abort();
    await expect(scorer.score(small(), { signal: aborted.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('bad input is refused with its error and harms nothing', async () => {
    const bad = small() as unknown as { candidates: Record<string, unknown>[] };
    bad.candidates[3]!.t0 = 10_000;
    await expect(scorer.score(bad as never)).rejects.toThrow(RankawareError);
    await expect(scorer.score(bad as never)).rejects.toThrow(/request\.candidates\[3\]\.t0: expected an id in \[0, 1000\)/);
    expectClose((await scorer.score(small())).scores, reference(model, small()));
  });

  it('a worker that dies mid-request is replaced; its tile is retried once elsewhere, nothing lost or doubled', async () => {
    const stats = scorer.stats;
    const request = big(4000, 31);
    const pending = scorer.score(request);
    await new Promise((resolve) => setTimeout(resolve, 5)); // tiles are running on both workers
    await scorer.injectFault(0, 'exit');
    const result = await pending;
    expectClose(result.scores, reference(model, request));
    expect(scorer.stats.workersReplaced).toBeGreaterThan(stats.workersReplaced);
    expect(scorer.stats.tilesRetried).toBeGreaterThan(stats.tilesRetried);
    expect(scorer.stats.duplicateResults).toBe(0);
    // The pool is whole again.
    expectClose((await scorer.score(big(64, 32))).scores, reference(model, big(64, 32)));
  });

  it('a worker that throws is replaced and its tile retried', async () => {
    const stats = scorer.stats;
    await scorer.injectFault(1, 'throw');
    const request = big(200, 41);
    expectClose((await scorer.score(request)).scores, reference(model, request));
    // The failing tile, and any tile queued behind it on that worker, ran again elsewhere.
    expect(scorer.stats.tilesRetried).toBeGreaterThanOrEqual(stats.tilesRetried + 1);
    expect(scorer.stats.workersReplaced).toBe(stats.workersReplaced + 1);
    expect(scorer.stats.duplicateResults).toBe(0);
  });

  it('a tile that fails twice fails its request with a clear error; other requests are unaffected', async () => {
    await scorer.injectFault(0, 'throw');
    await scorer.injectFault(1, 'throw');
    const doomed = scorer.score(small()); // one tile: fails on one worker, then on the other
    await expect(doomed).rejects.toThrow(/candidates \[0, 8\): expected a tile that scores on a retry, received a second failure/);
    const request = big(100, 51);
    expectClose((await scorer.score(request)).scores, reference(model, request));
  });
});

describe('the calling thread as one of the threads (Node default)', () => {
  it('threads = 3 is two workers plus the calling thread; default tiles are balanced over the three', async () => {
    const model = randomModel({ arch: 'autoint', context: 4, target: 2, dim: 6, seed: 12 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 3 });
    try {
      expect(scorer.info).toMatchObject({ threads: 3, workers: 2, callingThread: true, mode: 'shared-memory' });
      for (const n of [1, 2, 3, 10, 256, Math.max(3 * scorer.info.tileRows, 8192)]) {
        const request = randomRequest(model.spec, n, n);
        const result = await scorer.score(request);
        // A small request is one tile (run on the calling thread); a large one is cut in threes.
        if (n <= 10) expect(result.timing.tiles, `N=${n}`).toBe(1);
        else if (n > 256) expect(result.timing.tiles % 3, `N=${n}`).toBe(0);
        else expect(result.timing.tiles === 1 || result.timing.tiles % 3 === 0, `N=${n}`).toBe(true);
        expectClose(result.scores, reference(model, request), `N=${n}`);
      }
    } finally {
      scorer.dispose();
    }
  });
});

describe('workers that poll for their next tile (spinMs)', () => {
  it('score the same, survive a throwing and a dying worker, and end on dispose while polling', async () => {
    const model = randomModel({ arch: 'deepfm', context: 5, target: 3, dim: 6, seed: 13 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 2, callingThread: false, tileRows: 5, spinMs: 50 });
    try {
      for (let seed = 1; seed <= 5; seed++) {
        const request = randomRequest(model.spec, 23, seed);
        expectClose((await scorer.score(request)).scores, reference(model, request), `seed ${seed}`);
      }
      await scorer.injectFault(0, 'throw');
      const request = randomRequest(model.spec, 40, 9);
      expectClose((await scorer.score(request)).scores, reference(model, request), 'after a throw');
      await scorer.injectFault(1, 'exit');
      await scorer.ready();
      expectClose((await scorer.score(request)).scores, reference(model, request), 'after an exit');
      expect(scorer.stats.duplicateResults).toBe(0);
    } finally {
      // The workers are still polling (50 ms after their last tile): terminating them must not wait for that.
      scorer.dispose();
    }
  });
});

describe('a context stage split between the calling thread and idle workers', () => {
  // The ctx part of the first layer: 808 x (27*32 + 351) floats = 3.9 MB, so three 1 MiB+ shares.
  const model = randomModel({ arch: 'dlrm', context: 27, target: 3, dim: 32, mlp: [808, 16], seed: 14 });
  // Workers take a share only while they still poll their channel (waking a sleeping one costs more than
  // the share saves): a long spinMs keeps them polling between these awaited calls.
  const options = { backend: 'wasm', threads: 2, callingThread: false, spinMs: 1000 } as const;

  it('gives the same scores, also through a context handle', async () => {
    const scorer = await createScorer(model, options);
    try {
      for (let seed = 1; seed <= 4; seed++) {
        const request = randomRequest(model.spec, 9 * seed, seed);
        expectClose((await scorer.score(request)).scores, reference(model, request), `seed ${seed}`);
      }
      const request = randomRequest(model.spec, 30, 7);
      const handle = await scorer.context(request.context);
      expectClose((await scorer.score({ context: handle, candidates: request.candidates })).scores, reference(model, request), 'handle');
      // Not the first request: no worker had answered yet, so none was known to be polling.
      expect(scorer.stats.contextsSplit).toBe(4);
    } finally {
      scorer.dispose();
    }
  });

  it('is not used when the workers sleep between requests (spinMs = 0)', async () => {
    const scorer = await createScorer(model, { ...options, spinMs: 0 });
    try {
      for (let seed = 1; seed <= 3; seed++) {
        const request = randomRequest(model.spec, 20, seed);
        expectClose((await scorer.score(request)).scores, reference(model, request), `seed ${seed}`);
      }
      expect(scorer.stats.contextsSplit).toBe(0);
    } finally {
      scorer.dispose();
    }
  });

  it('a worker that fails its share is replaced and the calling thread computes those columns', async () => {
    // Two tiles for the warm-up, so both workers have answered and are known to be polling.
    const scorer = await createScorer(model, { ...options, tileRows: 10 });
    try {
      const request = randomRequest(model.spec, 20, 3);
      expectClose((await scorer.score(request)).scores, reference(model, request), 'warm-up');
      await scorer.injectFault(1, 'throw');
      expectClose((await scorer.score(request)).scores, reference(model, request));
      expect(scorer.stats).toMatchObject({ contextsSplit: 1, workersReplaced: 1, tilesRetried: 0 });
      await scorer.ready();
      expectClose((await scorer.score(request)).scores, reference(model, request), 'after');
    } finally {
      scorer.dispose();
    }
  });

  it('is not used when the last layer is small (messages would cost more than they save)', async () => {
    const small = randomModel({ arch: 'dlrm', context: 4, target: 3, dim: 8, mlp: [32], seed: 15 });
    const scorer = await createScorer(small, { backend: 'wasm', threads: 2, callingThread: false });
    try {
      const request = randomRequest(small.spec, 10, 1);
      expectClose((await scorer.score(request)).scores, reference(small, request));
      expect(scorer.stats.contextsSplit).toBe(0);
    } finally {
      scorer.dispose();
    }
  });
});

describe('replacement workers', () => {
  it('reuse their slot\'s region of the shared memory: twenty replacements allocate nothing more', async () => {
    const model = randomModel({ arch: 'dlrm', context: 6, target: 3, dim: 16, mlp: [64, 32], seed: 17 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 2, callingThread: false, tileRows: 4 });
    try {
      const request = randomRequest(model.spec, 24, 5);
      expectClose((await scorer.score(request)).scores, reference(model, request));
      const before = scorer.stats.memoryBytes;
      expect(before).toBeGreaterThan(0);
      for (let i = 0; i < 20; i++) {
        await scorer.injectFault(i % 2, 'exit');
        await scorer.ready();
        expectClose((await scorer.score(request)).scores, reference(model, request), `after replacement ${i + 1}`);
      }
      expect(scorer.stats.workersReplaced).toBe(20);
      expect(scorer.stats.memoryBytes).toBe(before);
    } finally {
      scorer.dispose();
    }
  }, 60_000);
});

describe('a hung worker', () => {
  it('is ended by the tile watchdog and replaced; its tile runs elsewhere', async () => {
    const model = randomModel({ arch: 'rdcn', context: 3, target: 2, dim: 4, seed: 8 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 2, callingThread: false, tileRows: 4, tileTimeoutMs: 300 });
    try {
      await scorer.injectFault(0, 'hang');
      const request = randomRequest(model.spec, 40, 3);
      const started = performance.now();
      expectClose((await scorer.score(request)).scores, reference(model, request));
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      expect(scorer.stats.workersReplaced).toBe(1);
      expect(scorer.stats.duplicateResults).toBe(0);
    } finally {
      scorer.dispose();
    }
  });
});

describe('long runs', () => {
  it('the heap does not grow with the tiles scored on workers', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'vitest runs with --expose-gc').toBeTypeOf('function');
    const model = randomModel({ arch: 'dlrm', context: 2, target: 2, dim: 4, seed: 6 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 2, callingThread: false, tileRows: 1 });
    try {
      const request = randomRequest(model.spec, 20, 2);
      const run = async (requests: number) => {
        for (let i = 0; i < requests; i++) await scorer.score(request);
      };
      await run(200);
      gc!();
      const before = process.memoryUsage().heapUsed;
      await run(1500); // 30,000 tiles
      gc!();
      const grown = process.memoryUsage().heapUsed - before;
      // Before the fix, each tile left ~550 bytes reachable (16 MB here).
      expect(grown).toBeLessThan(4 * 1024 * 1024);
    } finally {
      scorer.dispose();
    }
  }, 120_000);
});

describe('options and requests the scorer refuses', () => {
  it('names the option, the expected and the received value', async () => {
    const model = randomModel({ arch: 'dlrm', context: 2, target: 2, dim: 4, seed: 5 });
    for (const [options, message] of [
      [{ tileRows: 0 }, /^options\.tileRows: expected an integer >= 1, received 0$/],
      [{ tileRows: 0.5 }, /^options\.tileRows: expected an integer >= 1, received 0\.5$/],
      [{ maxInFlight: 0 }, /^options\.maxInFlight: expected an integer >= 1, received 0$/],
      [{ maxContexts: -1 }, /^options\.maxContexts: expected an integer >= 1, received -1$/],
      [{ threads: 0 }, /^options\.threads: expected an integer >= 1, received 0$/],
      [{ spinMs: -1 }, /^options\.spinMs: expected a number of milliseconds in \[0, 1000\], received -1$/],
      [{ spinMs: '1' }, /^options\.spinMs: expected a number of milliseconds in \[0, 1000\], received "1"$/],
    ] as const)
      await expect(createScorer(model, { backend: 'wasm', ...(options as ScorerOptions) })).rejects.toThrow(message);
    const scorer = await createScorer(model, { backend: 'wasm', threads: 1 });
    try {
      const request = randomRequest(model.spec, 3, 1);
      await expect(scorer.score({ ...request, extra: 1 } as never)).rejects.toThrow(/^request\.extra: expected only the keys "context" and "candidates", received an unknown key$/);
      const holey = [request.candidates[0], , request.candidates[2]]; // eslint-disable-line no-sparse-arrays
      await expect(scorer.score({ context: request.context, candidates: holey })).rejects.toThrow(/^request\.candidates\[1\]: expected an object of field values, received nothing$/);
    } finally {
      scorer.dispose();
    }
  });
});

describe('backpressure and disposal', () => {
  it('a full queue refuses at once; queued requests run as room frees up', async () => {
    const model = randomModel({ arch: 'deepfm', context: 3, target: 2, dim: 4, seed: 3 });
    const scorer = await createScorer(model, { backend: 'wasm', threads: 2, maxInFlight: 1, maxQueued: 1, tileRows: 4 });
    try {
      const r = (seed: number) => randomRequest(model.spec, 64, seed);
      const first = scorer.score(r(1));
      const second = scorer.score(r(2));
      await expect(scorer.score(r(3))).rejects.toThrow(/scorer queue: expected at most 1 waiting requests \(maxQueued\), received request 2 \(overloaded: retry later\)/);
      expectClose((await first).scores, reference(model, r(1)));
      expectClose((await second).scores, reference(model, r(2)));
    } finally {
      scorer.dispose();
    }
  });

  it('dispose rejects what is pending and refuses new work', async () => {
    const model = randomModel({ arch: 'rdcn', context: 3, target: 2, dim: 4, seed: 4 });
    const scorer = await createScorer(model, { backend: 'js', threads: 2, tileRows: 2 });
    expect(scorer.info.mode).toBe('copied-weights');
    const pending = scorer.score(randomRequest(model.spec, 500, 1));
    scorer.dispose();
    await expect(pending).rejects.toThrow(/disposed scorer/);
    await expect(scorer.score(randomRequest(model.spec, 2, 1))).rejects.toThrow(/disposed scorer/);
  });
});

describe('tileRowsFor: how a request is cut', () => {
  it('one thread: the target; a small request: one tile, by the FLOP estimate until a row is measured, then by its time', () => {
    expect(tileRowsFor(1000, 100, 1)).toBe(100);
    // Before a measurement: under a quarter of the target is one tile.
    expect(tileRowsFor(25, 100, 2)).toBe(25);
    expect(tileRowsFor(64, 100, 2)).toBe(32);
    // Measured: 64 rows of 0.02 ms (1.28 ms) are cut in two; 16 of them (0.32 ms) are one tile, and 25 (0.5 ms).
    expect(tileRowsFor(64, 100, 2, 0.02)).toBe(32);
    expect(tileRowsFor(16, 100, 2, 0.02)).toBe(16);
    expect(tileRowsFor(25, 100, 2, 0.02)).toBe(25);
    expect(tileRowsFor(40, 100, 2, 0.02)).toBe(20);
    // Balanced: a multiple of the threads.
    expect(Math.ceil(1000 / tileRowsFor(1000, 100, 3, 0.02)) % 3).toBe(0);
  });
});

