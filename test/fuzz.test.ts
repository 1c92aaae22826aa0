/**
 * The attack suite's quick slice (`npm run fuzz -- --quick`) on the built package: 100 corrupt model
 * directories and 20 corrupt ONNX files loaded and scored on js and wasm in child processes, and every
 * HTTP attack category once against a real `rankaware serve`. None may crash, hang, score NaN, answer 5xx,
 * reset, lose a request or leave RSS above its start. `npm run fuzz` is the full run (1,000 and 200).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IdleGc } from '../src/server/idle-gc.js';
import { Tally } from '../src/fuzz/tally.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Summary {
  readonly counts: { part: string; outcome: string; count: number }[];
  readonly bad: Record<string, number>;
  readonly failed: boolean;
  readonly notes: string[];
}

describe('the attack suite, quick', () => {
  it('has no bad outcome over model directories, ONNX files and HTTP attacks', async () => {
    // `npm test` has built dist/ (RANKAWARE_BUILT=1); alone, build first (npm run build).
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ['scripts/fuzz.mjs', '--quick', '--json'], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 240_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
      ),
    );
    const last = run.stdout.trim().split('\n').at(-1)!;
    expect(run.code, run.stdout.slice(-4000) + run.stderr).toBe(0);
    const summary = JSON.parse(last) as Summary;
    expect(summary.failed).toBe(false);
    expect(Object.values(summary.bad).every((n) => n === 0)).toBe(true);
    const total = (part: string) => summary.counts.filter((c) => c.part === part).reduce((a, c) => a + c.count, 0);
    expect(total('model dirs (js)')).toBe(100);
    expect(total('model dirs (wasm)')).toBe(100);
    expect(total('onnx files (import)')).toBe(20);
    // Most corrupt files are refused, some still load (a mutation that leaves a valid model): both kinds seen.
    const refused = summary.counts.filter((c) => c.part === 'model dirs (js)' && c.outcome.startsWith('clean error')).reduce((a, c) => a + c.count, 0);
    expect(refused).toBeGreaterThan(80);
    const parts = new Set(summary.counts.map((c) => c.part));
    for (const p of ['http nesting', 'http sizes', 'http slow clients', 'http smuggling', 'http prototype keys', 'http valid requests', 'http shutdown']) expect(parts.has(p), p).toBe(true);
    expect(summary.counts.find((c) => c.part === 'http nesting')?.outcome).toBe('400 too_deep');
    expect(summary.counts.some((c) => c.part === 'http valid requests' && c.outcome === 'exact' && c.count > 10)).toBe(true);
    expect(summary.notes.some((n) => /^RSS of the server: start [\d.]+ MiB/.test(n))).toBe(true);
  }, 300_000);

  it('counts a crash, a NaN or a 5xx as a failure', () => {
    for (const bad of ['crash: TypeError', 'NaN', '5xx', 'hang']) {
      const t = new Tally();
      t.add('model dirs (js)', 'clean error: format');
      expect(t.failed).toBe(false);
      t.add('model dirs (js)', bad, 'an example');
      expect(t.failed, bad).toBe(true);
      expect(t.format()).toContain('FAILED');
    }
  });
});

describe('the idle collection', () => {
  it('runs once after a burst when no request is open, never while one is, and not after a trickle', async () => {
    const gc = new IdleGc(30);
    try {
      for (let i = 0; i < 10; i++) gc.begin()();
      await new Promise((r) => setTimeout(r, 80));
      expect(gc.collections).toBe(0); // a trickle: not worth a collection
      const open = gc.begin();
      for (let i = 0; i < 100; i++) gc.begin()();
      await new Promise((r) => setTimeout(r, 80));
      expect(gc.collections).toBe(0); // a request still open
      open();
      await new Promise((r) => setTimeout(r, 80));
      expect(gc.collections).toBe(1);
      await new Promise((r) => setTimeout(r, 80));
      expect(gc.collections).toBe(1);
    } finally {
      gc.dispose();
    }
  });

  it('collects a second time once the server has stayed idle (what lets V8 shrink its young heap), not while a request is open', async () => {
    const idle = new IdleGc(20, 100);
    const busy = new IdleGc(20, 100);
    try {
      for (let i = 0; i < 20; i++) idle.begin()();
      for (let i = 0; i < 20; i++) busy.begin()();
      await new Promise((r) => setTimeout(r, 60));
      expect([idle.collections, busy.collections]).toEqual([1, 1]);
      const open = busy.begin();
      await new Promise((r) => setTimeout(r, 150));
      expect([idle.collections, busy.collections]).toEqual([2, 1]);
      open();
    } finally {
      idle.dispose();
      busy.dispose();
    }
  });
});
