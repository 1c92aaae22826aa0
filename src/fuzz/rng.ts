/**
 * The attack suite's seeded randomness: every corpus and every attack is a function of the seed (and the
 * case's index), so a run reproduces exactly (`npm run fuzz -- --seed S`).
 */
import { mulberry32 } from '../model/random.js';

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** A stream for case `index` of stream `name`: independent of how many draws other cases made. */
  static for(seed: number, name: string, index: number): Rng {
    let h = seed >>> 0;
    for (const c of `${name}#${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    return new Rng(h);
  }

  /** In [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}
