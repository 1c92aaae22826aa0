/**
 * The pairwise dot products of stacked field vectors (the pair-products rewrite's X X^T) on the compiled
 * engines, and the Gathers that read only some of them (DLRM's selected pairs): those compute just their
 * pairs where they are wanted (pairSelect), and X X^T itself is dropped when nothing else reads it.
 */
import { size } from '../interpreter/tensor.js';
import type { ProgramBuilder, RTensor } from './builder.js';
import { gpuEmit } from './lower-parts.js';

/**
 * out[t] = X[t] X[t]^T with row i of X[t] at rows()[i] (byte base, per-candidate byte stride), the products
 * of two context rows (slots >= 0) read from `gram`: the SIMD kernel, or the same loops in js. Off the GPU
 * the step is elidable and `out` a pair source: a Gather of some products computes them itself (selectPairs).
 */
export function emitPairDots(b: ProgramBuilder, reads: readonly RTensor[], rows: () => readonly (readonly [number, number])[], slots: Int32Array, gram: RTensor | undefined, kc: number, out: RTensor, batches: number, f: number, d: number): void {
  const simd = b.store.simd;
  const all = gram ? [...reads, gram] : reads;
  if (b.store.gpu) {
    const table = () => b.store.ints(Int32Array.from(rows().flatMap(([base, stride]) => [base / 4, stride / 4])));
    gpuEmit(b, all, [out], 'pairDots', () => [table(), b.store.ints(slots), gram ? gram.slot.at : 0, kc, out.slot.at, batches, f, d], batches * f * f);
    return;
  }
  b.pairs.set(out.slot, { reads: all, rows, slots, gram, kc, batches, f, d });
  if (simd) {
    const slotsAt = b.store.ints(slots) * 4;
    b.emit(all, [out], () => {
      const table = b.store.ints(Int32Array.from(rows().flat())) * 4;
      const [g, o] = [gram ? gram.slot.at * 4 : 0, out.slot.at * 4];
      return () => simd.pairDots(table, slotsAt, g, kc, o, batches, f, d);
    }, false, true);
    return;
  }
  // js: the lower triangle by pairLoop, then mirrored.
  const pairs: number[] = [];
  for (let i = 0; i < f; i++) for (let j = 0; j <= i; j++) pairs.push(i, j, i * f + j);
  b.emit(all, [out], () => {
    const run = pairLoop(rows(), slots, gram, kc, pairs, out.slot.at, f * f, batches, d);
    const o = out.slot.at;
    return (v) => {
      run(v);
      const x = v.f32;
      for (let t = 0; t < batches; t++) for (let i = 0; i < f; i++) for (let j = 0; j < i; j++) x[o + (t * f + j) * f + i] = x[o + (t * f + i) * f + j]!;
    };
  }, false, true);
}

/** out[t * stride + col] = X[t]_i . X[t]_j for each (i, j, col) of `pairs`: the js engine's loop. */
function pairLoop(rows: readonly (readonly [number, number])[], slots: Int32Array, gram: RTensor | undefined, kc: number, pairs: readonly number[], o: number, stride: number, batches: number, d: number) {
  const table = rows.map(([base, stride]) => [base / 4, stride / 4] as const);
  const g = gram ? gram.slot.at : 0;
  return ({ f32: x }: { f32: Float32Array }) => {
    for (let t = 0; t < batches; t++)
      for (let p = 0; p < pairs.length; p += 3) {
        const [i, j] = [pairs[p]!, pairs[p + 1]!];
        let v: number;
        if (slots[i]! >= 0 && slots[j]! >= 0) v = x[g + slots[i]! * kc + slots[j]!]!;
        else {
          const [bi, bj] = [table[i]![0] + t * table[i]![1], table[j]![0] + t * table[j]![1]];
          v = 0;
          for (let k = 0; k < d; k++) v += x[bi + k]! * x[bj + k]!;
        }
        x[o + t * stride + pairs[p + 2]!] = v;
      }
  };
}

/**
 * A movement of X X^T's elements (a Gather of pair indices, through Reshape views) that takes the same
 * products from every batch into rows of its own: computed as those products only, written where the
 * movement puts them (pairSelect). `positions` are the source elements the movement's output takes, in
 * order. Undefined when the movement is not of that form.
 */
export function selectPairs(b: ProgramBuilder, source: RTensor, positions: ArrayLike<number>, outShape: readonly number[]): RTensor | undefined {
  const p = b.pairs.get(source.slot);
  if (!p || positions.length % p.batches !== 0) return undefined;
  const { f, batches } = p;
  const k = positions.length / batches;
  // Half of them or more: X X^T mirrored computes each product once, cheaper.
  if (2 * k >= f * f) return undefined;
  for (let t = 0; t < batches; t++)
    for (let c = 0; c < k; c++) if (positions[t * k + c]! !== t * f * f + positions[c]!) return undefined;
  const pairs: number[] = [];
  for (let c = 0; c < k; c++) {
    const q = positions[c]!;
    if (q < 0 || q >= f * f) return undefined;
    pairs.push(Math.floor(q / f), q % f, c);
  }
  if (size(outShape) !== positions.length) return undefined;
  const out = b.tensor('float', outShape);
  const simd = b.store.simd;
  if (simd) {
    const [slotsAt, pairsAt] = [b.store.ints(p.slots) * 4, b.store.ints(Int32Array.from(pairs)) * 4];
    b.emit(p.reads, [out], () => {
      const table = b.store.ints(Int32Array.from(p.rows().flat())) * 4;
      const [g, o] = [p.gram ? p.gram.slot.at * 4 : 0, out.slot.at * 4];
      return () => simd.pairSelect(table, slotsAt, g, p.kc, pairsAt, k, o, k, batches, p.d);
    });
    return out;
  }
  b.emit(p.reads, [out], () => pairLoop(p.rows(), p.slots, p.gram, p.kc, pairs, out.slot.at, k, batches, p.d));
  return out;
}
