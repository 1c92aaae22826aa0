/**
 * The context cache's parts: keys (model version + encoded context), the scorer's keyed contexts in its
 * byte-bounded LRU (identical scores, hits, misses, evictions), the Prometheus registry and the load
 * generator's helpers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createScorer, encodeContext, interleavedFields, modelToFiles, randomModel, randomRequest } from '../src/index.js';
import type { Field, Model } from '../src/index.js';
import { contextKey, modelDigest } from '../src/server/context-cache.js';
import { Counter, Gauge, Histogram, RateWindow, Registry } from '../src/server/metrics.js';
import { parseDuration, percentile, runLoad, scoreUrl } from '../src/server/load.js';

/** A dlrm whose fields interleave, with a pooled context field, a dense one and an OOV bucket. */
function cacheModel(): Model {
  const fields: Field[] = [
    ...interleavedFields(3, 2, 8, 50).map((f) => (f.name === 'c0' ? { ...f, oov: 'bucket' as const } : f)),
    { name: 'bag', type: 'sparse', side: 'context', vocab: 40, dim: 8, pooling: 'mean', oov: 'error' },
    { name: 'dense', type: 'dense', side: 'context', dim: 8 },
  ];
  return randomModel({ arch: 'dlrm', context: 4, target: 2, dim: 8, mlp: [16, 8], fields, options: { bottomMlp: [8] }, seed: 4 });
}

function version(model: Model): string {
  const files = modelToFiles(model);
  return modelDigest(files.modelJson, files.weightsBytes);
}

describe('context keys', () => {
  const model = cacheModel();
  const v = version(model);
  const ctx = randomRequest(model.spec, 1, 3).context;
  const key = (context: unknown, modelVersion = v) => contextKey(modelVersion, encodeContext(model.spec, context));

  it('are the same for the same encoded context, whatever the JSON spelling', () => {
    const reordered = Object.fromEntries(Object.entries(ctx).reverse());
    expect(key(reordered)).toBe(key(ctx));
    // Two unknown ids of an OOV-bucket field encode to the same bucket row.
    expect(key({ ...ctx, c0: 1000 })).toBe(key({ ...ctx, c0: 2000 }));
    expect(key(ctx)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differ for any other context, and for another model version', () => {
    const keys = new Set([
      key(ctx),
      key({ ...ctx, c1: ((ctx.c1 as number) + 1) % 50 }),
      key({ ...ctx, bag: [1, 2] }),
      key({ ...ctx, bag: [2, 1] }),
      key({ ...ctx, bag: [1, 2, 2] }),
      key({ ...ctx, dense: [1, 0, 0, 0, 0, 0, 0, 0] }),
      key({ ...ctx, dense: [0, 1, 0, 0, 0, 0, 0, 0] }),
      key(ctx, version(randomModel({ arch: 'dlrm', context: 4, target: 2, dim: 8, mlp: [16, 8], fields: model.spec.fields, options: { bottomMlp: [8] }, seed: 5 }))),
    ]);
    expect(keys.size).toBe(8);
  });

  it('model versions depend on both files and where one ends', () => {
    const a = modelDigest('{"a":1}', new Uint8Array([1, 2]));
    expect(modelDigest('{"a":1}', new Uint8Array([1, 2]))).toBe(a);
    expect(modelDigest('{"a":2}', new Uint8Array([1, 2]))).not.toBe(a);
    expect(modelDigest('{"a":1}', new Uint8Array([1, 3]))).not.toBe(a);
    expect(modelDigest('{"a":1}\u0001', new Uint8Array([2]))).not.toBe(modelDigest('{"a":1}', new Uint8Array([1, 2])));
  });
});

describe('keyed contexts in the scorer', () => {
  const model = cacheModel();
  const v = version(model);
  const users = Array.from({ length: 6 }, (_, u) => randomRequest(model.spec, 1, 100 + u).context);
  const keyOf = (context: unknown) => contextKey(v, encodeContext(model.spec, context));

  for (const [backend, threads] of [['wasm', 1], ['wasm', 2], ['js', 2]] as const) {
    it(`${backend}, ${threads} thread(s): scores identical with and without the cache; hits skip the context stage`, async () => {
      const scorer = await createScorer(model, { backend, threads, tileRows: 5 });
      try {
        for (let visit = 0; visit < 3; visit++)
          for (const [u, context] of users.entries()) {
            const request = { context, candidates: randomRequest(model.spec, 1 + ((u * 7 + visit * 5) % 23), 10 * u + visit).candidates };
            const plain = await scorer.score(request);
            const cached = await scorer.score(request, { contextKey: keyOf(context) });
            expect(cached.scores).toEqual(plain.scores);
            expect(cached.timing.contextCache).toBe(visit === 0 ? 'miss' : 'hit');
            if (visit > 0) expect(cached.timing.contextMs).toBe(0);
            expect(plain.timing.contextCache).toBeUndefined();
          }
        const usage = scorer.contextUsage;
        expect(usage).toMatchObject({ handles: users.length, hits: 2 * users.length, misses: users.length, evictions: 0 });
        expect(usage.bytes).toBeGreaterThan(0);
        expect(usage.bytes % users.length).toBe(0);
      } finally {
        scorer.dispose();
      }
    });
  }

  it('the byte bound evicts the least recently used; an evicted context is computed again, scores unchanged', async () => {
    const probe = await createScorer(model, { backend: 'wasm', threads: 1 });
    await probe.score({ context: users[0], candidates: randomRequest(model.spec, 2, 1).candidates }, { contextKey: 'probe' });
    const entryBytes = probe.contextUsage.bytes;
    probe.dispose();
    expect(entryBytes).toBeGreaterThan(0);

    const scorer = await createScorer(model, { backend: 'wasm', threads: 1, maxContextBytes: 3 * entryBytes });
    try {
      const candidates = randomRequest(model.spec, 4, 2).candidates;
      const run = (u: number) => scorer.score({ context: users[u], candidates }, { contextKey: keyOf(users[u]) });
      const first = await Promise.all([0, 1, 2].map(run));
      expect(scorer.contextUsage).toMatchObject({ handles: 3, bytes: 3 * entryBytes, misses: 3, evictions: 0 });
      expect((await run(0)).timing.contextCache).toBe('hit'); // user 0 is now the most recent
      await run(3); // evicts user 1, the least recently used
      expect(scorer.contextUsage).toMatchObject({ handles: 3, bytes: 3 * entryBytes, evictions: 1 });
      expect((await run(2)).timing.contextCache).toBe('hit');
      const again = await run(1);
      expect(again.timing.contextCache).toBe('miss');
      expect(again.scores).toEqual(first[1]!.scores);
      expect(scorer.contextUsage.bytes).toBeLessThanOrEqual(3 * entryBytes);
    } finally {
      scorer.dispose();
    }
  });

  it('a bad context with a key not yet cached is refused like any bad context, and nothing is cached', async () => {
    const scorer = await createScorer(model, { backend: 'wasm', threads: 1 });
    try {
      await expect(scorer.score({ context: { ...users[0], c1: 'x' }, candidates: randomRequest(model.spec, 2, 1).candidates }, { contextKey: 'k' })).rejects.toThrow(/request\.context\.c1: expected an integer id in \[0, 50\), received "x"/);
      expect(scorer.contextUsage).toMatchObject({ handles: 0, bytes: 0, hits: 0, misses: 0 });
    } finally {
      scorer.dispose();
    }
  });
});

describe('the Prometheus registry', () => {
  it('renders counters, gauges and cumulative histograms in the text format, labels escaped', () => {
    const r = new Registry();
    const c = r.add(new Counter('x_total', 'Things.'));
    c.inc({ kind: 'a"b\\c\nd' });
    c.inc({ kind: 'plain' }, 2);
    c.inc({ kind: 'plain' });
    r.add(new Gauge('g', 'A gauge.', () => 1.5));
    r.add(new Gauge('k_total', 'Kept elsewhere.', () => 7, 'counter'));
    const h = r.add(new Histogram('d_seconds', 'Durations.', [0.1, 1]));
    for (const x of [0.05, 0.1, 0.5, 2]) h.observe(x);
    expect(r.render()).toBe(
      [
        '# HELP x_total Things.',
        '# TYPE x_total counter',
        'x_total{kind="a\\"b\\\\c\\nd"} 1',
        'x_total{kind="plain"} 3',
        '# HELP g A gauge.',
        '# TYPE g gauge',
        'g 1.5',
        '# HELP k_total Kept elsewhere.',
        '# TYPE k_total counter',
        'k_total 7',
        '# HELP d_seconds Durations.',
        '# TYPE d_seconds histogram',
        'd_seconds_bucket{le="0.1"} 2',
        'd_seconds_bucket{le="1"} 3',
        'd_seconds_bucket{le="+Inf"} 4',
        'd_seconds_sum 2.65',
        'd_seconds_count 4',
        '',
      ].join('\n'),
    );
    expect(c.get({ kind: 'plain' })).toBe(3);
    expect(() => r.add(new Gauge('g', 'again', () => 0))).toThrow(/registered twice/);
  });

  it('a rate window averages whole seconds and forgets old ones', () => {
    let t = 100.2;
    const w = new RateWindow(4, () => t);
    w.add(10);
    t = 101.5;
    w.add(30);
    expect(w.rate()).toBe(10 / 4); // second 101 is still partial
    t = 102.0;
    expect(w.rate()).toBe(40 / 4);
    t = 105.9; // second 100 left the window
    expect(w.rate()).toBe(30 / 4);
    t = 120;
    expect(w.rate()).toBe(0);
  });
});

describe('the load generator', () => {
  it('measures a closed loop: RPS is concurrency / latency even when answers come in waves', async () => {
    // Every answer takes 400 ms, so 4 clients make 10 requests per second; a 1 s period holds only two
    // whole waves (8 answers), which a count of whole answers would report as 8 RPS.
    let served = 0;
    const server = createServer((req, res) => {
      req.resume();
      served++;
      setTimeout(() => res.end('{}'), 400);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const report = await runLoad({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies: [Buffer.from('{}')], concurrency: 4, durationMs: 1000 });
      expect(report.errors).toBe(0);
      expect(report.requests).toBe(8);
      expect(report.rps).toBeGreaterThan(9.3);
      expect(report.rps).toBeLessThanOrEqual(10.05);
      expect(report.p50Ms).toBeGreaterThanOrEqual(400);
      expect(served).toBe(12); // the third wave was sent before the period ended, and waited for
    } finally {
      server.close();
    }
  });


  it('durations, percentiles and URLs', () => {
    expect(parseDuration('30s', 'd')).toBe(30_000);
    expect(parseDuration('250ms', 'd')).toBe(250);
    expect(parseDuration('2m', 'd')).toBe(120_000);
    expect(parseDuration('1.5', 'd')).toBe(1500);
    for (const bad of ['', '0s', '-1s', 'soon', '3h']) expect(() => parseDuration(bad, '--duration')).toThrow(/--duration: expected a positive duration/);
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100), percentile([], 50)]).toEqual([50, 99, 100, 0]);
    expect(scoreUrl('http://127.0.0.1:8080').href).toBe('http://127.0.0.1:8080/v1/score');
    expect(scoreUrl('http://h:1/custom').pathname).toBe('/custom');
    expect(() => scoreUrl('https://h')).toThrow(/--url: expected an http:\/\/ URL/);
    expect(() => scoreUrl('nope')).toThrow(/--url: expected an http:\/\/ URL such as/);
  });
});
