/**
 * Where a compiled graph's float32 and int32 values live: one arena of 4-byte elements, seen as a
 * Float32Array and an Int32Array over the same bytes, so that every kernel (js loops, WASM exports) reads
 * and writes the same memory. On the wasm engine the arena is the kernel instance's linear memory; on the
 * js engine a plain ArrayBuffer. Constants (weights, folded values) are placed once and outlive programs;
 * a program's intermediate values share one region, packed by liveness (a value's slot is reused once
 * its last reader ran).
 */
import { RankawareError } from '../../errors.js';

/** A run of arena elements. `at` is set when the program is packed (-1 before). */
export interface Slot {
  readonly elements: number;
  at: number;
}

export interface ArenaViews {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
}

const PAGE_ELEMENTS = 65536 / 4;
/** Elements 0..RESERVED stay unused: a 0 pointer means "absent" in the WASM kernel ABI. */
const RESERVED = 16;

export class Arena {
  private top = RESERVED;
  private views: ArenaViews;

  /** @param memory a WebAssembly memory to allocate in (the wasm engine), or none (a growable ArrayBuffer). */
  constructor(private readonly memory?: WebAssembly.Memory) {
    this.views = viewsOf(memory ? memory.buffer : new ArrayBuffer(PAGE_ELEMENTS * 4 * 16));
  }

  /** Elements allocated so far. */
  get used(): number {
    return this.top;
  }

  /** Reserve `elements` (16-byte aligned, for v128 loads); returns the element offset. */
  alloc(elements: number): number {
    const at = this.top;
    this.top += (elements + 3) & ~3;
    this.ensure(this.top);
    return at;
  }

  private ensure(elements: number): void {
    const have = this.views.f32.length;
    if (elements <= have) return;
    const pages = Math.ceil((elements - have) / PAGE_ELEMENTS);
    try {
      if (this.memory) {
        this.memory.grow(Math.max(pages, Math.ceil(have / PAGE_ELEMENTS / 2)));
        this.views = viewsOf(this.memory.buffer);
      } else {
        const next = new ArrayBuffer(Math.max(elements, have * 2) * 4);
        new Int32Array(next).set(this.views.i32);
        this.views = viewsOf(next);
      }
    } catch {
      throw new RankawareError('compiled graph memory', `room for ${elements * 4} bytes (the graph's values within the engine's memory limit)`, `a memory of ${have * 4} bytes that cannot grow further`, 'invalid');
    }
  }

  /** The current views (a grown memory has a new buffer). */
  get current(): ArenaViews {
    if (this.memory && this.views.f32.buffer !== this.memory.buffer) this.views = viewsOf(this.memory.buffer);
    return this.views;
  }
}

function viewsOf(buffer: ArrayBufferLike): ArenaViews {
  return { f32: new Float32Array(buffer), i32: new Int32Array(buffer) };
}

/** A slot's life in a program: written first by step `from` (-1: before the first step), read last by step `to`. */
export interface Lifetime {
  readonly slot: Slot;
  from: number;
  to: number;
}

/**
 * Offsets for every slot within one region, reusing the room of slots whose life ended (first fit over a
 * free list, neighbours merged). Returns the region's size; offsets are relative to it until `base` is added.
 */
export function packSlots(lives: readonly Lifetime[], steps: number): number {
  const starts = new Map<number, Lifetime[]>();
  const ends = new Map<number, Lifetime[]>();
  for (const l of lives) {
    (starts.get(l.from) ?? starts.set(l.from, []).get(l.from)!).push(l);
    (ends.get(l.to) ?? ends.set(l.to, []).get(l.to)!).push(l);
  }
  const free: { at: number; size: number }[] = [];
  let size = 0;
  const take = (n: number): number => {
    const need = (n + 3) & ~3;
    for (let i = 0; i < free.length; i++) {
      const f = free[i]!;
      if (f.size < need) continue;
      const at = f.at;
      if (f.size === need) free.splice(i, 1);
      else free[i] = { at: f.at + need, size: f.size - need };
      return at;
    }
    const at = size;
    size += need;
    return at;
  };
  const give = (at: number, n: number) => {
    const need = (n + 3) & ~3;
    free.push({ at, size: need });
    free.sort((a, b) => a.at - b.at);
    for (let i = free.length - 1; i > 0; i--) {
      const a = free[i - 1]!;
      const b = free[i]!;
      if (a.at + a.size === b.at) free.splice(i - 1, 2, { at: a.at, size: a.size + b.size });
    }
  };
  for (let s = -1; s <= steps; s++) {
    for (const l of starts.get(s) ?? []) l.slot.at = take(l.slot.elements);
    for (const l of ends.get(s) ?? []) give(l.slot.at, l.slot.elements);
  }
  return size;
}
