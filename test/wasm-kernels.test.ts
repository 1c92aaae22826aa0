/**
 * The AssemblyScript kernels (wasm/assembly) against plain float64 JS definitions, for both builds
 * (relaxed SIMD with FMA, plain SIMD): random inputs at odd sizes, unaligned rows, strides wider than
 * the data, broadcast (0) strides, and sentinel values around every output that must stay untouched.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelModule, relaxedSimdSupported, type WasmVariant } from '../src/backends/wasm/module.js';
import type { Kernels } from '../src/backends/wasm/index.js';

const TOLERANCE = 1e-5;
/** A value no kernel computes here: marks memory a kernel must not write. */
const SENTINEL = -7777.25;
/** Floats of sentinel guard before and after every region. */
const GUARD = 8;
const ACTS = [0, 1, 2] as const;
const VARIANTS: WasmVariant[] = ['relaxed-simd', 'simd'];

/** Deterministic uniform numbers in [lo, hi) (mulberry32). */
function rng(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0;
  return (lo = -1, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

const activate = (x: number, act: number): number => (act === 1 ? (x > 0 ? x : 0) : act === 2 ? 1 / (1 + Math.exp(-x)) : x);

/** A bump allocator over the kernels' memory; regions are 4 bytes off 16-byte alignment, guarded by sentinels. */
class Heap {
  private top = 64;
  constructor(readonly memory: WebAssembly.Memory) {}
  get f32(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }
  reset(): void {
    this.top = 64;
  }
  /** Room for `count` floats (or i32), all sentinel, with sentinel guards either side. */
  alloc(count: number): number {
    const at = this.top + GUARD * 4 + 4;
    this.top = (at + (count + GUARD) * 4 + 15) & ~15;
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65536));
    this.f32.fill(SENTINEL, (at >> 2) - GUARD, (at >> 2) + count + GUARD);
    return at;
  }
  /** Copies floats in (rounded to f32) and returns their address. */
  put(values: ArrayLike<number>): number {
    const at = this.alloc(values.length);
    this.f32.set(values, at >> 2);
    return at;
  }
  putI32(values: ArrayLike<number>): number {
    const at = this.alloc(values.length);
    new Int32Array(this.memory.buffer).set(values, at >> 2);
    return at;
  }
  /** `count` random floats (rounded to f32, as the kernels see them). */
  random(count: number, next: () => number): Float32Array {
    return Float32Array.from({ length: count }, () => next());
  }
  read(at: number, i: number): number {
    return this.f32[(at >> 2) + i]!;
  }
  /**
   * Checks the `length` floats at `at` and their guards: where expected(i) is a number the value
   * must match it within TOLERANCE * (1 + |expected|) (NaN: be NaN), elsewhere still be the sentinel.
   */
  check(at: number, length: number, expected: (i: number) => number | undefined, what: string): void {
    const bad: string[] = [];
    const f = this.f32;
    for (let i = -GUARD; i < length + GUARD; i++) {
      const got = f[(at >> 2) + i]!;
      const want = i >= 0 && i < length ? expected(i) : undefined;
      if (want === undefined) {
        if (got !== SENTINEL) bad.push(`[${i}] overwritten: ${got}`);
      } else if (Number.isNaN(want) ? !Number.isNaN(got) : !(Math.abs(got - want) <= TOLERANCE * (1 + Math.abs(want)))) {
        bad.push(`[${i}] ${got} != ${want}`);
      }
      if (bad.length >= 5) break;
    }
    expect(bad, what).toEqual([]);
  }
}

/** The index of element (r, c) of a [rows, stride] region, or undefined outside c in [col, col + width). */
function cell(i: number, stride: number, col: number, width: number): [number, number] | undefined {
  const r = Math.floor(i / stride);
  const c = (i % stride) - col;
  return c >= 0 && c < width ? [r, c] : undefined;
}

describe.each(VARIANTS)('wasm kernels (%s)', (variant) => {
  let k: Kernels;
  let heap: Heap;

  beforeAll(async () => {
    if (variant === 'relaxed-simd') expect(await relaxedSimdSupported(), 'relaxed SIMD must be available (Node 20: V8 flag)').toBe(true);
    const { module, variant: got } = await kernelModule(variant);
    expect(got).toBe(variant);
    const memory = new WebAssembly.Memory({ initial: 256 });
    new Float32Array(memory.buffer).fill(SENTINEL);
    const instance = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('abort'); } } });
    // Instantiation writes nothing into the caller's memory (no data segments, no start code).
    expect(new Float32Array(memory.buffer).every((v) => v === SENTINEL)).toBe(true);
    expect(WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`)).toEqual(['env.memory']);
    k = instance.exports as unknown as Kernels;
    heap = new Heap(memory);
  });

  /** One GEMM case against the float64 definition; add: 'none' | 'row' (per row) | 'broadcast'. */
  function gemmCase(rows: number, inDim: number, outDim: number, bias: boolean, add: 'none' | 'row' | 'broadcast', act: number, seed: number): void {
    heap.reset();
    const next = rng(seed);
    const xStride = inDim + 3;
    const x = heap.random(rows * xStride, next);
    const w = heap.random(outDim * inDim, next);
    const b = heap.random(outDim, next);
    const addStride = add === 'broadcast' ? 0 : outDim + 2;
    const a = heap.random(add === 'none' ? 0 : add === 'broadcast' ? outDim : rows * addStride, next);
    const xp = heap.put(x);
    const raw = heap.put(w);
    expect(k.packedLength(inDim, outDim)).toBeGreaterThanOrEqual(inDim * outDim);
    const wp = heap.alloc(k.packedLength(inDim, outDim));
    k.packWeight(raw, inDim, outDim, wp);
    const bp = bias ? heap.put(b) : 0;
    const ap = add === 'none' ? 0 : heap.put(a);
    // out is a column slice (columns 2 .. 2+outDim) of rows outDim + 5 wide.
    const outStride = outDim + 5;
    const out = heap.alloc(rows * outStride);
    k.gemm(xp, xStride, rows, wp, inDim, outDim, bp, ap, addStride, out + 8, outStride, act);
    heap.check(out, rows * outStride, (i) => {
      const rc = cell(i, outStride, 2, outDim);
      if (!rc) return undefined;
      const [r, o] = rc;
      let s = bias ? b[o]! : 0;
      for (let j = 0; j < inDim; j++) s += x[r * xStride + j]! * w[o * inDim + j]!;
      if (add !== 'none') s += a[r * addStride + o]!;
      return activate(s, act);
    }, `gemm rows ${rows} in ${inDim} out ${outDim} bias ${bias} add ${add} act ${act}`);
    heap.check(xp, x.length, (i) => x[i], 'gemm input x untouched');
  }

  describe('gemm', () => {
    it.each([1, 3, 5, 17])('rows %i at every odd size, epilogues rotating', (rows) => {
      let n = 0;
      for (const inDim of [1, 3, 7, 33, 130])
        for (const outDim of [1, 5, 8, 9, 31]) {
          const e = n++ % 18;
          gemmCase(rows, inDim, outDim, e % 2 === 1, (['none', 'row', 'broadcast'] as const)[Math.floor(e / 2) % 3]!, Math.floor(e / 6), rows * 1000 + n);
        }
    });
    it('every epilogue: bias, add per row / broadcast, each activation', () => {
      let seed = 1;
      for (const [rows, inDim, outDim] of [[5, 33, 31], [17, 130, 9], [3, 7, 20]] as const)
        for (const bias of [false, true])
          for (const add of ['none', 'row', 'broadcast'] as const) for (const act of ACTS) gemmCase(rows, inDim, outDim, bias, add, act, seed++);
    });
    it('larger shapes (many panels, odd inDim)', () => {
      gemmCase(64, 301, 70, true, 'row', 1, 7);
      gemmCase(9, 257, 129, true, 'broadcast', 0, 8);
    });
  });

  it('gather: sum and mean pooling, empty rows, wide output stride', () => {
    for (const dim of [1, 3, 7, 16, 33])
      for (const rows of [1, 3, 5, 17])
        for (const mean of [0, 1]) {
          heap.reset();
          const next = rng(dim * 100 + rows * 10 + mean);
          const vocab = 23;
          const table = heap.random(vocab * dim, next);
          const offsets = [0];
          const ids: number[] = [];
          for (let r = 0; r < rows; r++) {
            const count = Math.floor(next(0, 5)); // 0 .. 4 ids, so some rows are empty
            for (let i = 0; i < count; i++) ids.push(Math.floor(next(0, vocab)));
            offsets.push(ids.length);
          }
          const tp = heap.put(table);
          const op = heap.putI32(offsets);
          const ip = heap.putI32(ids.length ? ids : [0]);
          const outStride = dim + 3;
          const out = heap.alloc(rows * outStride);
          k.gather(tp, dim, op, ip, rows, out, outStride, mean);
          heap.check(out, rows * outStride, (i) => {
            const rc = cell(i, outStride, 0, dim);
            if (!rc) return undefined;
            const [r, d] = rc;
            let s = 0;
            for (let j = offsets[r]!; j < offsets[r + 1]!; j++) s += table[ids[j]! * dim + d]!;
            const n = offsets[r + 1]! - offsets[r]!;
            return mean && n > 0 ? s / n : s;
          }, `gather dim ${dim} rows ${rows} mean ${mean}`);
        }
  });

  it('copyRows: row strides and broadcast source', () => {
    for (const width of [1, 3, 7, 33])
      for (const rows of [1, 3, 5, 17])
        for (const broadcast of [false, true]) {
          heap.reset();
          const next = rng(width * 31 + rows);
          const srcStride = broadcast ? 0 : width + 1;
          const src = heap.random(broadcast ? width : rows * srcStride, next);
          const sp = heap.put(src);
          const outStride = width + 6;
          const out = heap.alloc(rows * outStride);
          k.copyRows(sp, srcStride, out + 4, outStride, rows, width);
          heap.check(out, rows * outStride, (i) => {
            const rc = cell(i, outStride, 1, width);
            return rc ? src[rc[0] * srcStride + rc[1]] : undefined;
          }, `copyRows width ${width} rows ${rows} broadcast ${broadcast}`);
        }
  });

  it('pairs: listed dot products, broadcast b', () => {
    for (const dim of [1, 3, 7, 16, 33])
      for (const rows of [1, 3, 5, 17])
        for (const bStride0 of [false, true]) {
          heap.reset();
          const next = rng(dim * 7 + rows * 3 + (bStride0 ? 1 : 0));
          const na = 5;
          const nb = 4;
          const aStride = na * dim + 2;
          const bStride = bStride0 ? 0 : nb * dim + 1;
          const a = heap.random(rows * aStride, next);
          const b = heap.random(bStride0 ? nb * dim : rows * bStride, next);
          // A run of four pairs sharing their first vector, four mixed pairs, three left over.
          const list = [4, 0, 4, 1, 4, 3, 4, 2, 1, 3, 2, 2, 0, 0, 3, 1, 4, 3, 1, 1, 2, 0];
          const count = list.length / 2;
          const ap = heap.put(a);
          const bp = heap.put(b);
          const lp = heap.putI32(list);
          const outStride = count + 2;
          const out = heap.alloc(rows * outStride);
          k.pairs(ap, aStride, bp, bStride, dim, lp, count, rows, out, outStride);
          heap.check(out, rows * outStride, (i) => {
            const rc = cell(i, outStride, 0, count);
            if (!rc) return undefined;
            const [r, p] = rc;
            let s = 0;
            for (let d = 0; d < dim; d++) s += a[r * aStride + list[2 * p]! * dim + d]! * b[r * bStride + list[2 * p + 1]! * dim + d]!;
            return s;
          }, `pairs dim ${dim} rows ${rows} bStride ${bStride}`);
        }
  });

  it('outer: every a vector against every b vector, shared or per-row b', () => {
    let seed = 0;
    for (const [na, nb] of [[1, 1], [2, 3], [4, 27], [5, 4], [3, 5]] as const)
      for (const dim of [1, 3, 7, 128, 130])
        for (const rows of [1, 3, 5, 17])
          for (const shared of [true, false]) {
            if (dim >= 128 && rows === 17 && !shared) continue; // keep the reference loop small
            heap.reset();
            const next = rng(++seed);
            const aStride = na * dim + 3;
            const bStride = shared ? 0 : nb * dim + 2;
            const a = heap.random(rows * aStride, next);
            const b = heap.random(shared ? nb * dim : rows * bStride, next);
            const ap = heap.put(a);
            const bp = heap.put(b);
            const outStride = na * nb + 3;
            const out = heap.alloc(rows * outStride);
            k.outer(ap, aStride, na, bp, bStride, nb, dim, rows, out, outStride);
            heap.check(out, rows * outStride, (i) => {
              const rc = cell(i, outStride, 0, na * nb);
              if (!rc) return undefined;
              const [r, c] = rc;
              const m = Math.floor(c / nb);
              const j = c % nb;
              let s = 0;
              for (let d = 0; d < dim; d++) s += a[r * aStride + m * dim + d]! * b[r * bStride + j * dim + d]!;
              return s;
            }, `outer na ${na} nb ${nb} dim ${dim} rows ${rows} shared ${shared}`);
          }
  });

  it('cross: x0 * z + x with a broadcast x0', () => {
    for (const width of [1, 3, 7, 33])
      for (const rows of [1, 3, 5, 17])
        for (const broadcast of [false, true]) {
          heap.reset();
          const next = rng(width * 13 + rows + (broadcast ? 7 : 0));
          const x0Stride = broadcast ? 0 : width + 2;
          const zStride = width + 1;
          const xStride = width + 3;
          const x0 = heap.random(broadcast ? width : rows * x0Stride, next);
          const z = heap.random(rows * zStride, next);
          const x = heap.random(rows * xStride, next);
          const x0p = heap.put(x0);
          const zp = heap.put(z);
          const xp = heap.put(x);
          const outStride = width + 4;
          const out = heap.alloc(rows * outStride);
          k.cross(x0p, x0Stride, zp, zStride, xp, xStride, out + 4, outStride, rows, width);
          heap.check(out, rows * outStride, (i) => {
            const rc = cell(i, outStride, 1, width);
            if (!rc) return undefined;
            const [r, c] = rc;
            return x0[r * x0Stride + c]! * z[r * zStride + c]! + x[r * xStride + c]!;
          }, `cross width ${width} rows ${rows} broadcast ${broadcast}`);
        }
  });

  /** [sum vector, 0.5 (|sum|^2 - sum |e|^2)] of `count` vectors of `dim` at values[at ..]. */
  function fmRef(values: Float32Array, at: number, count: number, dim: number): [number[], number] {
    const sum = new Array<number>(dim).fill(0);
    let squares = 0;
    for (let f = 0; f < count; f++)
      for (let d = 0; d < dim; d++) {
        const v = values[at + f * dim + d]!;
        sum[d]! += v;
        squares += v * v;
      }
    return [sum, 0.5 * (sum.reduce((s, v) => s + v * v, 0) - squares)];
  }

  it('fmContext and fm, with and without the context terms', () => {
    for (const dim of [1, 3, 7, 16, 33])
      for (const ctxCount of [1, 3, 27]) {
        heap.reset();
        const next = rng(dim * 17 + ctxCount);
        const ctx = heap.random(ctxCount * dim, next);
        const cp = heap.put(ctx);
        const sumP = heap.alloc(dim);
        const fmP = heap.alloc(1);
        k.fmContext(cp, ctxCount, dim, sumP, fmP);
        const [ctxSum, ctxFm] = fmRef(ctx, 0, ctxCount, dim);
        heap.check(sumP, dim, (i) => ctxSum[i], `fmContext sum dim ${dim} count ${ctxCount}`);
        heap.check(fmP, 1, () => ctxFm, `fmContext fm dim ${dim} count ${ctxCount}`);
        for (const rows of [1, 3, 5, 17])
          for (const count of [1, 2, 4])
            for (const withCtx of [false, true]) {
              const srcStride = count * dim + 2;
              const src = heap.random(rows * srcStride, next);
              const sp = heap.put(src);
              const outStride = 3;
              const out = heap.alloc(rows * outStride);
              k.fm(sp, srcStride, count, dim, withCtx ? sumP : 0, withCtx ? fmP : 0, rows, out + 4, outStride);
              const f32Sum = Array.from({ length: dim }, (_, d) => heap.read(sumP, d));
              const f32Fm = heap.read(fmP, 0);
              heap.check(out, rows * outStride, (i) => {
                const rc = cell(i, outStride, 1, 1);
                if (!rc) return undefined;
                const [sum, value] = fmRef(src, rc[0] * srcStride, count, dim);
                return withCtx ? value + f32Fm + sum.reduce((s, v, d) => s + v * f32Sum[d]!, 0) : value;
              }, `fm dim ${dim} rows ${rows} count ${count} ctx ${withCtx}`);
            }
      }
  });

  it('sumColumns accumulates into a strided column', () => {
    for (const width of [1, 3, 7, 9, 33])
      for (const rows of [1, 3, 5, 17])
        for (const accStride of [1, 3]) {
          heap.reset();
          const next = rng(width * 5 + rows * 2 + accStride);
          const srcStride = width + 2;
          const src = heap.random(rows * srcStride, next);
          const acc0 = heap.random(rows * accStride, next);
          const sp = heap.put(src);
          const ap = heap.alloc(rows * accStride);
          for (let r = 0; r < rows; r++) heap.f32[(ap >> 2) + r * accStride] = acc0[r * accStride]!;
          k.sumColumns(sp, srcStride, width, rows, ap, accStride);
          heap.check(ap, rows * accStride, (i) => {
            if (i % accStride !== 0) return undefined;
            const r = i / accStride;
            let s = acc0[i]!;
            for (let c = 0; c < width; c++) s += src[r * srcStride + c]!;
            return s;
          }, `sumColumns width ${width} rows ${rows} accStride ${accStride}`);
        }
  });

  it('activate in place: relu and sigmoid over a wide range', () => {
    for (const act of ACTS)
      for (const width of [1, 3, 7, 33])
        for (const rows of [1, 3, 5, 17]) {
          heap.reset();
          const next = rng(act * 1000 + width * 10 + rows);
          const stride = width + 2;
          const values = Float32Array.from({ length: rows * stride }, () => next(-120, 120) * (next() > 0 ? 1 : 0.05));
          const p = heap.put(values);
          k.activate(p, stride, rows, width, act);
          heap.check(p, rows * stride, (i) => (i % stride < width ? activate(values[i]!, act) : values[i]), `activate act ${act} width ${width} rows ${rows}`);
        }
  });

  /** Softmax attention of one query (head h) over keys/values given as [ptr-in-array, count] lists. */
  function attend(q: ArrayLike<number>, qi: number, kvs: { k: Float32Array; kAt: number; v: Float32Array; vAt: number; count: number }[], h: number, headDim: number, w: number, scale: number): { m: number; l: number; acc: number[] } {
    const scores: number[] = [];
    const vecs: [Float32Array, number][] = [];
    for (const s of kvs)
      for (let j = 0; j < s.count; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qi + h * headDim + d]! * s.k[s.kAt + j * w + h * headDim + d]!;
        scores.push(dot * scale);
        vecs.push([s.v, s.vAt + j * w + h * headDim]);
      }
    const m = Math.max(...scores);
    let l = 0;
    const acc = new Array<number>(headDim).fill(0);
    scores.forEach((s, j) => {
      const e = Math.exp(s - m);
      l += e;
      const [v, at] = vecs[j]!;
      for (let d = 0; d < headDim; d++) acc[d]! += e * v[at + d]!;
    });
    return { m, l, acc };
  }

  it('attentionContext: per head and query the max, sum of exp and weighted value sum', () => {
    for (const count of [1, 3, 5, 27])
      for (const heads of [1, 2, 3])
        for (const headDim of [1, 3, 4, 8, 17]) {
          heap.reset();
          const next = rng(count * 100 + heads * 10 + headDim);
          const w = heads * headDim;
          const q = heap.random(count * w, next);
          const kk = heap.random(count * w, next);
          const v = heap.random(count * w, next);
          const scale = 1 / Math.sqrt(headDim) * 3;
          const qp = heap.put(q);
          const kp = heap.put(kk);
          const vp = heap.put(v);
          const len = heads * count * (2 + headDim);
          const out = heap.alloc(len);
          k.attentionContext(qp, kp, vp, count, heads, headDim, Math.fround(scale), out);
          heap.check(out, len, (i) => {
            const entry = Math.floor(i / (2 + headDim));
            const h = Math.floor(entry / count);
            const qi = entry % count;
            const { m, l, acc } = attend(q, qi * w, [{ k: kk, kAt: 0, v, vAt: 0, count }], h, headDim, w, Math.fround(scale));
            const at = i % (2 + headDim);
            return at === 0 ? m : at === 1 ? l : acc[at - 2]!;
          }, `attentionContext count ${count} heads ${heads} headDim ${headDim}`);
        }
  });

  it('attention: segments, slots, residuals, activations; the block path equals the full computation', () => {
    let seed = 0;
    for (const [heads, headDim, nc] of [[1, 1, 3], [2, 3, 5], [2, 8, 1], [3, 17, 4]] as const)
      for (const rows of [1, 3, 5, 17])
        for (const act of ACTS) {
          const results = new Map<string, Float32Array>();
          const caseSeed = ++seed;
          for (const blockMode of ['none', 'shared', 'per-row', 'poisoned'] as const) {
            heap.reset();
            const next = rng(caseSeed); // the same inputs in every block mode
            const w = heads * headDim;
            const scale = Math.fround(1.5 / Math.sqrt(headDim));
            // Query segment 0 / key segment 0: nc ctx vectors (one row for all); segment 1: 2 per-row
            // vectors; key segment 2: 5 more per-row vectors. Row padding is NaN: never read.
            const nt = 2;
            const ne = 5;
            const padded = (count: number, stride: number, used: number) => {
              const a = heap.random(count, next);
              for (let i = 0; i < count; i++) if (i % stride >= used) a[i] = NaN;
              return a;
            };
            const ctxQ = heap.random(nc * w, next);
            const ctxK = heap.random(nc * w, next);
            const ctxV = heap.random(nc * w, next);
            const tStride = nt * w + 1;
            const tQ = padded(rows * tStride, tStride, nt * w);
            const tK = padded(rows * tStride, tStride, nt * w);
            const tV = padded(rows * tStride, tStride, nt * w);
            const eStride = ne * w + 2;
            const eK = padded(rows * eStride, eStride, ne * w);
            const eV = padded(rows * eStride, eStride, ne * w);
            const resStride = nt * w + 3;
            const ctxRes = heap.random(nc * w, next);
            const tRes = padded(rows * resStride, resStride, nt * w);
            const [cqP, ckP, cvP, tqP, tkP, tvP, ekP, evP, crP, trP] = [ctxQ, ctxK, ctxV, tQ, tK, tV, eK, eV, ctxRes, tRes].map((a) => heap.put(a));
            let block = 0;
            let blockStride = 0;
            const blockLen = heads * nc * (2 + headDim);
            if (blockMode === 'shared' || blockMode === 'poisoned') {
              block = heap.alloc(blockLen);
              k.attentionContext(cqP!, ckP!, cvP!, nc, heads, headDim, scale, block);
              if (blockMode === 'poisoned') heap.f32.fill(NaN, block >> 2, (block >> 2) + blockLen);
            } else if (blockMode === 'per-row') {
              const one = heap.alloc(blockLen);
              k.attentionContext(cqP!, ckP!, cvP!, nc, heads, headDim, scale, one);
              blockStride = blockLen + 3;
              block = heap.alloc(rows * blockStride);
              for (let r = 0; r < rows; r++) heap.f32.copyWithin((block >> 2) + r * blockStride, one >> 2, (one >> 2) + blockLen);
            }
            const nq = nc + nt;
            const slots = Array.from({ length: nq }, (_, q) => nq - q); // reversed; slot 0 is never written
            const nSlots = nq + 1;
            const outStride = nSlots * w + 2;
            const out = heap.alloc(rows * outStride);
            const desc = [heads, headDim, new Int32Array(new Float32Array([scale]).buffer)[0]!, act, out, outStride, block, blockStride, heap.putI32(slots), 2,
              cqP!, 0, nc, crP!, 0,
              tqP!, tStride, nt, act === 2 ? 0 : trP!, resStride, // no residual for segment 1 in the sigmoid runs
              3,
              ckP!, 0, cvP!, 0, nc,
              tkP!, tStride, tvP!, tStride, nt,
              ekP!, eStride, evP!, eStride, ne];
            k.attention(heap.putI32(desc), rows);
            const what = `attention heads ${heads} headDim ${headDim} ctx ${nc} rows ${rows} act ${act} block ${blockMode}`;
            heap.check(out, rows * outStride, (i) => {
              const r = Math.floor(i / outStride);
              const c = i % outStride;
              const q = slots.indexOf(Math.floor(c / w));
              if (c >= nSlots * w || q < 0) return undefined;
              const h = Math.floor((c % w) / headDim);
              const d = (c % w) % headDim;
              const fromCtx = q < nc;
              // A NaN block must reach exactly the ctx queries: proof that they read it instead of key segment 0
              // (relu maps NaN to 0, as its definition x > 0 ? x : 0 does).
              if (blockMode === 'poisoned' && fromCtx) return activate(NaN, act);
              const kvs = [
                { k: ctxK, kAt: 0, v: ctxV, vAt: 0, count: nc },
                { k: tK, kAt: r * tStride, v: tV, vAt: r * tStride, count: nt },
                { k: eK, kAt: r * eStride, v: eV, vAt: r * eStride, count: ne },
              ];
              const { l, acc } = fromCtx ? attend(ctxQ, q * w, kvs, h, headDim, w, scale) : attend(tQ, r * tStride + (q - nc) * w, kvs, h, headDim, w, scale);
              const res = fromCtx ? ctxRes[q * w + h * headDim + d]! : act === 2 ? 0 : tRes[r * resStride + (q - nc) * w + h * headDim + d]!;
              return activate(acc[d]! / l + res, act);
            }, what);
            results.set(blockMode, heap.f32.slice(out >> 2, (out >> 2) + rows * outStride));
          }
          // With the block (shared or per row) the outputs equal those computed over all keys.
          const full = results.get('none')!;
          for (const mode of ['shared', 'per-row']) {
            const got = results.get(mode)!;
            const bad = full.findIndex((v, i) => !(Math.abs(got[i]! - v) <= TOLERANCE * (1 + Math.abs(v))));
            expect(bad, `block ${mode} vs none, heads ${heads} headDim ${headDim} rows ${rows} act ${act}`).toBe(-1);
          }
        }
  });
});
