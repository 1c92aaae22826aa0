/**
 * Linear-memory bookkeeping for the WASM backend: a bump allocator over one WebAssembly.Memory with
 * 16-byte alignment (v128 loads), and typed views that are refreshed when the memory grows.
 */
const PAGE = 65536;

export class LinearMemory {
  private top: number;
  private f32View: Float32Array;
  private i32View: Int32Array;

  constructor(readonly memory: WebAssembly.Memory) {
    // Keep address 0 unused: a 0 pointer means "absent" in the kernel ABI.
    this.top = 64;
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
  }

  /** Reserve `floats` 4-byte elements; returns the byte offset. */
  alloc(floats: number): number {
    const at = (this.top + 15) & ~15;
    this.top = at + floats * 4;
    const needed = Math.ceil(this.top / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (needed > 0) this.memory.grow(needed);
    return at;
  }

  get used(): number {
    return this.top;
  }

  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.f32View = new Float32Array(this.memory.buffer);
    return this.f32View;
  }

  get i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer) this.i32View = new Int32Array(this.memory.buffer);
    return this.i32View;
  }

  writeF32(at: number, data: ArrayLike<number>): void {
    this.f32.set(data, at >> 2);
  }

  writeI32(at: number, data: ArrayLike<number>): void {
    this.i32.set(data, at >> 2);
  }
}
