/**
 * Requests as the scheduler holds them: a job per request, cut into tiles of candidates; the active jobs
 * take turns (round robin, tile by tile), and the tile sizes.
 */
import type { BackendName } from '../backends/backend.js';
import type { Inputs } from '../model/request.js';
import { countFlops } from '../plan/flops.js';
import type { Plan } from '../plan/ir.js';
import type { ContextEntry } from './contexts.js';
import type { ScorerResult } from './types.js';

export interface Tile {
  readonly job: Job;
  readonly start: number;
  readonly end: number;
  attempts: number;
  done: boolean;
}

export interface Job {
  readonly contextId: number;
  readonly context: ContextEntry;
  readonly candidates: Inputs;
  readonly scores: Float64Array;
  readonly queue: Tile[];
  readonly created: number;
  readonly contextMs: number;
  readonly contextCache: 'hit' | 'miss' | undefined;
  remaining: number;
  firstDispatch: number;
  tiles: number;
  settled: boolean;
  /** Where a routed (WebGPU) request actually ran, and why. */
  ranOn?: { readonly backend: BackendName; readonly reason: string };
  resolve(result: ScorerResult): void;
  reject(error: unknown): void;
  detach?: () => void;
}

/** Queue a job's candidates as tiles of `rows` (the last one shorter). */
export function cutTiles(job: Job, rows: number): void {
  const n = job.candidates.rows;
  for (let start = 0; start < n; start += rows) job.queue.push({ job, start, end: Math.min(n, start + rows), attempts: 0, done: false });
  job.remaining = job.tiles = job.queue.length;
}

/** The jobs being scheduled; each hands out its next tile in turn. */
export class RoundRobin {
  private readonly active: Job[] = [];
  private turn = 0;

  get jobs(): readonly Job[] {
    return this.active;
  }

  add(job: Job): void {
    this.active.push(job);
  }

  remove(job: Job): void {
    const i = this.active.indexOf(job);
    if (i >= 0) this.active.splice(i, 1);
    if (this.turn > i && i >= 0) this.turn--;
  }

  /** The tile next() would return, left in its queue. */
  peek(): Tile | undefined {
    for (let i = 0; i < this.active.length; i++) {
      const tile = this.active[(this.turn + i) % this.active.length]!.queue[0];
      if (tile) return tile;
    }
    return undefined;
  }

  /** The next tile of the next job in turn that has one. */
  next(): Tile | undefined {
    for (let i = 0; i < this.active.length; i++) {
      const job = this.active[(this.turn + i) % this.active.length]!;
      const tile = job.queue.shift();
      if (tile) {
        this.turn = (this.turn + i + 1) % this.active.length;
        return tile;
      }
    }
    return undefined;
  }
}

/** About 2 ms of work per tile at the backend's typical speed (fewer messages; still interleavable). */
export function defaultTileRows(plan: Plan, backend: 'js' | 'wasm'): number {
  const perCandidate = Math.max(1, countFlops(plan).perCandidate);
  const flopsPerMs = backend === 'wasm' ? 40e6 : 1e6;
  return Math.max(4, Math.min(1024, Math.ceil((2 * flopsPerMs) / perCandidate)));
}

/**
 * A request with less work than this share of a tile is one tile, until the scorer has measured its rows
 * (then ONE_TILE_MS decides): the tile target comes from a FLOP estimate, which misses elementwise work.
 */
const ONE_TILE_BELOW = 1 / 4;

/**
 * A request measured to take less than this on one thread is one tile: posting half of it to a worker and
 * taking the answer back costs about what the second thread saves (measured: a 16-candidate rDCN request,
 * 0.20 ms on one thread, took 0.21-0.57 ms cut in two; a 16-candidate DCNv2 one, 0.39 ms, 0.43 ms; a
 * 64-candidate DCNv2 one, 1.36 ms, 0.88 ms).
 */
export const ONE_TILE_MS = 0.6;

/**
 * Rows per tile for a request of n: near the target, in a multiple of `threads` equal tiles so no thread
 * idles at the end; a small request is one tile (the scheduler runs it on the calling thread when free).
 * `msPerRow`: the measured time of a row on one thread, when known.
 */
export function tileRowsFor(n: number, target: number, threads: number, msPerRow?: number): number {
  if (threads === 1) return target;
  if (msPerRow !== undefined ? n * msPerRow < ONE_TILE_MS : n <= target * ONE_TILE_BELOW) return Math.max(1, n);
  const tiles = threads * Math.max(1, Math.round(n / (threads * target)));
  return Math.max(1, Math.ceil(n / tiles));
}
