/**
 * GEMM and outer-product throughput of the WASM kernels, one core, both variants (relaxed SIMD with
 * FMA, plain SIMD). Prints GFLOP/s, the median of repeated timed runs taken after a warm-up long
 * enough for V8's background tier-up to finish (1-2 s after a module first runs).
 *
 *   npx tsx bench/gemm.ts [--variant relaxed-simd|simd] [--case SUBSTRING] [--runs 15] [--warmup-ms 2500]
 */
import type { Kernels } from '../src/backends/wasm/index.js';
import { kernelModule, relaxedSimdSupported, type WasmVariant } from '../src/backends/wasm/module.js';

interface Case {
  readonly name: string;
  readonly flops: number;
  /** Runs the kernel once on prepared data. */
  readonly run: () => void;
}

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(option('runs') ?? 15);
const warmupMs = Number(option('warmup-ms') ?? 2500);
const only = option('variant') as WasmVariant | undefined;
const filter = option('case') ?? '';

const GEMM_SHAPES: readonly (readonly [number, number, number])[] = [
  [256, 626, 512],
  [256, 512, 256],
  [256, 4433, 512],
  [1024, 1024, 1024],
  [64, 3807, 512],
];
const OUTER = { rows: 256, na: 4, nb: 27, dim: 128 };

/** A bump allocator over one memory: every region starts 16-byte aligned, plus `skew` bytes. */
class Arena {
  private top = 64;
  constructor(readonly memory: WebAssembly.Memory) {}
  floats(count: number, skew = 0): number {
    const at = this.top + skew;
    this.top = (at + count * 4 + 15) & ~15;
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65536));
    return at;
  }
  fill(at: number, count: number): void {
    const f = new Float32Array(this.memory.buffer, at, count);
    for (let i = 0; i < count; i++) f[i] = Math.random() * 2 - 1;
  }
}

function cases(k: Kernels, arena: Arena): Case[] {
  const list: Case[] = [];
  for (const [rows, inDim, outDim] of GEMM_SHAPES) {
    const x = arena.floats(rows * inDim);
    arena.fill(x, rows * inDim);
    const raw = arena.floats(outDim * inDim);
    arena.fill(raw, outDim * inDim);
    const w = arena.floats(k.packedLength(inDim, outDim));
    k.packWeight(raw, inDim, outDim, w);
    const bias = arena.floats(outDim);
    arena.fill(bias, outDim);
    const out = arena.floats(rows * outDim);
    list.push({
      name: `gemm ${rows}x${inDim}x${outDim}`,
      flops: 2 * rows * inDim * outDim,
      run: () => k.gemm(x, inDim, rows, w, inDim, outDim, bias, 0, 0, out, outDim, 1),
    });
  }
  const { rows, na, nb, dim } = OUTER;
  const a = arena.floats(rows * na * dim);
  arena.fill(a, rows * na * dim);
  const b = arena.floats(nb * dim);
  arena.fill(b, nb * dim);
  const out = arena.floats(rows * na * nb);
  list.push({
    name: `outer ${rows} rows ${na}x${nb}x${dim}`,
    flops: 2 * rows * na * nb * dim,
    run: () => k.outer(a, na * dim, na, b, 0, nb, dim, rows, out, na * nb),
  });
  return list;
}

/** Seconds per call: the median over `runs` timed batches, each at least ~30 ms long. */
function measure(c: Case): number {
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) c.run();
    if (performance.now() - t >= 30) break;
    reps *= 2;
  }
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) c.run();
    times.push((performance.now() - t) / reps / 1000);
  }
  times.sort((p, q) => p - q);
  return times[runs >> 1]!;
}

async function main(): Promise<void> {
  const relaxed = await relaxedSimdSupported();
  if (!relaxed && only !== 'simd') console.log('relaxed SIMD is not available in this engine: plain SIMD only');
  const variants: WasmVariant[] = only ? [only] : relaxed ? ['relaxed-simd', 'simd'] : ['simd'];
  /** GFLOP/s by case name, then by variant. */
  const results = new Map<string, Map<WasmVariant, number>>();
  for (const variant of variants) {
    const { module } = await kernelModule(variant);
    const memory = new WebAssembly.Memory({ initial: 256 });
    const instance = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('abort'); } } });
    const list = cases(instance.exports as unknown as Kernels, new Arena(memory)).filter((c) => c.name.includes(filter));
    // Warm-up: run everything until V8's tier-up has finished (the clock, not a count, bounds it).
    const until = performance.now() + warmupMs;
    while (performance.now() < until) for (const c of list) c.run();
    for (const c of list) {
      const s = measure(c);
      const gflops = c.flops / s / 1e9;
      if (!results.has(c.name)) results.set(c.name, new Map());
      results.get(c.name)!.set(variant, gflops);
      console.log(`${variant.padEnd(12)} ${c.name.padEnd(28)} ${gflops.toFixed(1).padStart(6)} GFLOP/s  ${(s * 1000).toFixed(3)} ms`);
    }
  }
  console.log(`\n| case | ${variants.join(' | ')} |\n|---|${variants.map(() => '---:').join('|')}|`);
  for (const [name, byVariant] of results) console.log(`| ${name} | ${variants.map((v) => byVariant.get(v)!.toFixed(1)).join(' | ')} |`);
}

await main();
