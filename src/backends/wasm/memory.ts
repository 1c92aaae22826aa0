/**
 * Linear-memory bookkeeping for the WASM backend: a bump allocator over one WebAssembly.Memory with
 * 16-byte alignment (v128 loads), and typed views that are refreshed when the memory grows.
 *
 * On a shared memory (memory.buffer is a SharedArrayBuffer) several threads allocate from the same
 * memory, so the bump pointer lives in the memory itself, at byte POINTER_AT, and moves with Atomics.add.
 * Any thread may grow the memory; each thread refreshes its views when the buffer it sees changes.
 */
import { RankawareError } from '../../errors.js';

const PAGE = 65536;
/** Bytes 0..RESERVED stay unused: a 0 pointer means "absent" in the kernel ABI, and the bump pointer lives here. */
const RESERVED = 64;
/** Where a shared memory keeps its bump pointer (an i32). */
export const POINTER_AT = 16;

export interface LinearMemoryOptions {
  /**
   * Shared memory only: the memory was made by another thread (or another LinearMemory), so its bump
   * pointer must already be set; refuse a memory whose pointer is not. Without it, an unset pointer is
   * initialized; a set one is never reset (allocations of other compiled plans live there).
   */
  readonly attach?: boolean;
  /**
   * A region [start, start + bytes) reserved in the memory for this allocator alone: allocations come from
   * it while it has room, then from the memory's bump pointer. A scorer gives each worker slot one, so a
   * worker that replaces a dead one reuses its region instead of leaking a new one.
   */
  readonly arena?: { readonly start: number; readonly bytes: number };
}

export class LinearMemory {
  /** The bump pointer of an unshared memory (a shared one keeps it in the memory). */
  private top = RESERVED;
  private readonly shared: boolean;
  private f32View: Float32Array;
  private i32View: Int32Array;
  private arenaTop = 0;
  private readonly arenaEnd: number = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    options: LinearMemoryOptions = {},
  ) {
    this.shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
    if (options.arena) {
      this.arenaTop = options.arena.start;
      this.arenaEnd = options.arena.start + options.arena.bytes;
    }
    if (!this.shared) return;
    // compareExchange: two threads initializing at once, or a second plan on the same memory, never reset it.
    const before = Atomics.compareExchange(this.i32View, POINTER_AT >>> 2, 0, RESERVED);
    if (before === 0 && options.attach) throw new Error('attaching to a shared WebAssembly.Memory whose allocator was never initialized (make it with createSharedWasm)');
  }

  /** Reserve `floats` 4-byte elements; returns the byte offset (16-byte aligned). */
  alloc(floats: number): number {
    // Sizes are rounded to 16 bytes so that the pointer stays aligned without a compare-and-swap loop.
    const bytes = (floats * 4 + 15) & ~15;
    if (this.arenaTop + bytes <= this.arenaEnd) {
      const at = this.arenaTop;
      this.arenaTop += bytes;
      return at;
    }
    let at: number;
    if (this.shared) {
      at = Atomics.add(this.i32, POINTER_AT >>> 2, bytes);
    } else {
      at = this.top;
      this.top += bytes;
    }
    const needed = Math.ceil((at + bytes) / PAGE) - this.memory.buffer.byteLength / PAGE;
    // Two threads may both grow for overlapping needs: the memory ends up a little larger, never too small.
    if (needed > 0) {
      try {
        this.memory.grow(needed);
      } catch {
        throw new RankawareError('wasm memory', `room for ${at + bytes} bytes (a model and its buffers within the engine's WebAssembly memory limit)`, `a memory of ${this.memory.buffer.byteLength} bytes that cannot grow further`, 'invalid');
      }
    }
    return at;
  }

  /** Bytes allocated so far (by every thread, on a shared memory). */
  get used(): number {
    return this.shared ? Atomics.load(this.i32, POINTER_AT >>> 2) : this.top;
  }

  // A grown memory has a new buffer: the old one is detached (unshared) or keeps its old length (shared).
  get f32(): Float32Array {
    const buffer = this.memory.buffer;
    if (this.f32View.byteLength !== buffer.byteLength) this.f32View = new Float32Array(buffer);
    return this.f32View;
  }

  get i32(): Int32Array {
    const buffer = this.memory.buffer;
    if (this.i32View.byteLength !== buffer.byteLength) this.i32View = new Int32Array(buffer);
    return this.i32View;
  }

  writeF32(at: number, data: ArrayLike<number>): void {
    this.f32.set(data, at >>> 2);
  }

  writeI32(at: number, data: ArrayLike<number>): void {
    this.i32.set(data, at >>> 2);
  }
}
