/**
 * Where tiles run: the runners (worker threads, and the calling thread when it scores too), started,
 * woken and polled, and replaced when one throws or dies (a shared-memory worker's replacement reuses
 * its slot's arena).
 */
import { RankawareError } from '../errors.js';
import { sliceInputs } from '../model/request.js';
import type { CompiledPlan } from '../backends/backend.js';
import type { GpuRoute, RoutedContext } from '../backends/webgpu/route.js';
import { spawnWorker } from './platform.js';
import type { SpawnedWorker } from './platform.js';
import type { FaultKind, WorkerConfig } from './protocol.js';
import type { Job, Tile } from './jobs.js';

/** Where tiles run: a worker thread, or the calling thread in inline mode. */
export interface Runner {
  /** Tiles sent and not yet answered. */
  inflight: number;
  /**
   * Tiles it may hold at once: 2 for a worker, so that its next tile is already queued when it finishes
   * one (the thread that dispatches may be busy scoring a tile of its own); 1 for the calling thread.
   */
  readonly depth: number;
  /** Gone (exited, threw, or terminated); a replacement takes its place. */
  dead: boolean;
  /** Node workers: until when it is surely still polling its channel (it polls for spinMs after each answer). */
  pollingUntil: number;
  /** When it was last woken ahead of a request (wakeIdle). */
  wokenAt: number;
  /** Context ids this runner holds, oldest first (mirrors the worker's cache). */
  readonly contexts: number[];
  run(job: Job, tile: Tile, sendContext: boolean): Promise<Float32Array | Float64Array>;
  /** A worker's share of a split context stage (wasm workers only). */
  columns?(begun: Float32Array, lo: number, hi: number): Promise<Float32Array>;
  terminate(): void;
  readonly worker?: SpawnedWorker;
}

export interface PoolOptions {
  /** Worker threads to start (0: the calling thread only). */
  readonly workers: number;
  /** Whether the calling thread scores tiles too. */
  readonly callingThread: boolean;
  readonly tileTimeoutMs: number;
  readonly spinMs: number;
  /** Shared-memory mode: the bytes of each worker slot's arena. */
  readonly arenaBytes?: number;
}

/** What the pool tells the scheduler. */
export interface PoolEvents {
  readonly disposed: () => boolean;
  /** A replacement worker is in place: tiles may go to it. */
  readonly replaced: () => void;
  /** Every worker is gone and none could be restarted. */
  readonly broken: (error: RankawareError) => void;
}

export const now = () => performance.now();

export class WorkerPool {
  runners: Runner[] = [];
  workersReplaced = 0;
  /** Replacement workers still starting. */
  private readonly replacing = new Set<Promise<unknown>>();
  /** Shared-memory mode: each worker slot's region for its buffers, reused by its replacements. */
  private readonly arenas: ({ readonly start: number; readonly bytes: number } | undefined)[] = [];

  constructor(
    private readonly main: CompiledPlan,
    /** Undefined: tiles run on the calling thread only. */
    private readonly workerConfig: WorkerConfig | undefined,
    private readonly options: PoolOptions,
    private readonly events: PoolEvents,
    /** WebGPU: the calling thread's tiles run through this route. */
    private readonly route?: GpuRoute,
  ) {}

  async start(): Promise<void> {
    if (!this.workerConfig) {
      this.runners = [this.inlineRunner()];
      return;
    }
    const started = await Promise.allSettled(Array.from({ length: this.options.workers }, (_, slot) => this.workerRunner(slot)));
    const workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const w of workers) w.terminate();
      throw failed.reason;
    }
    // The calling thread comes last, so that dispatch hands the workers their tiles before it runs its own.
    this.runners = this.options.callingThread ? [...workers, this.inlineRunner()] : workers;
  }

  /** Fault injection for tests and drills: make worker i throw or hang in its next tile, or end its thread. */
  async injectFault(worker: number, kind: FaultKind): Promise<void> {
    await this.ready();
    const workers = this.runners.filter((r) => r.worker);
    const runner = workers[worker];
    if (!runner?.worker) throw new RankawareError('injectFault worker', `a worker index below ${workers.length}`, String(worker));
    if (kind === 'exit') runner.worker.terminate();
    else await runner.worker.api.injectFault(kind);
  }

  /** Resolves when no replacement worker is still starting. */
  async ready(): Promise<void> {
    while (this.replacing.size > 0) await Promise.allSettled([...this.replacing]);
  }

  terminateAll(): void {
    for (const r of this.runners) {
      r.dead = true;
      r.terminate();
    }
  }

  /**
   * Node: a worker asleep (its polling window over) is woken as a request starts, so that it is polling
   * by the time the context stage ends and its first tile comes: the wake-up overlaps the context stage
   * instead of following it.
   */
  wakeIdle(): void {
    if (this.options.spinMs <= 0) return;
    const t = now();
    for (const r of this.runners)
      if (r.worker?.wake && !r.dead && r.inflight === 0 && r.pollingUntil <= t && t - r.wokenAt > this.options.spinMs) {
        r.worker.wake();
        r.wokenAt = t;
      }
  }

  /**
   * The calling thread has no tile left and waits for the workers' last ones: poll their channels for up
   * to spinMs rather than sleep, so the answer is taken the moment it is sent (Node; a no-op elsewhere).
   */
  pollWorkers(): void {
    const busy = this.runners.filter((r) => r.inflight > 0 && r.worker?.poll);
    if (this.options.spinMs <= 0 || busy.length === 0) return;
    const until = now() + this.options.spinMs;
    while (now() < until) for (const r of busy) if (r.worker!.poll!()) return;
  }

  /** Put a fresh worker in place of one that threw or died (once per runner). */
  replace(runner: Runner): void {
    const index = this.runners.indexOf(runner);
    runner.dead = true;
    runner.terminate();
    if (this.events.disposed() || index < 0) return;
    // Out of the list at once, so that a second report of the same death replaces nothing.
    this.runners[index] = { ...runner, dead: true };
    this.workersReplaced++;
    // The replacement reuses the slot's arena once the old thread is surely gone (it could still write
    // there until then); one that does not end within 5 s leaves its arena behind and the slot gets a new one.
    const gone = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.arenas[index] = undefined;
        resolve();
      }, 5000);
      void runner.worker?.exited.then(() => {
        clearTimeout(timer);
        resolve();
      });
      if (!runner.worker) {
        clearTimeout(timer);
        resolve();
      }
    });
    const starting = gone.then(() => this.workerRunner(index)).then(
      (fresh) => {
        if (this.events.disposed()) return fresh.terminate();
        this.runners[index] = fresh;
        this.events.replaced();
      },
      (e: unknown) => {
        // No replacement could start. With no thread left, fail what is pending and refuse what comes.
        if (this.runners.every((r) => r.dead))
          this.events.broken(new RankawareError('scorer', 'a live worker thread', `none: a replacement worker failed to start (${e instanceof Error ? e.message : String(e)})`, 'unavailable'));
      },
    );
    this.replacing.add(starting);
    void starting.finally(() => this.replacing.delete(starting));
  }

  private inlineRunner(): Runner {
    const main = this.main;
    const route = this.route;
    const base = { inflight: 0, depth: 1, dead: false, pollingUntil: 0, wokenAt: 0, contexts: [], terminate: () => {} };
    if (route)
      return {
        ...base,
        run: async (job, tile) => {
          const result = await route.runCandidates(job.context.state as RoutedContext, sliceInputs(job.candidates, tile.start, tile.end));
          job.ranOn = { backend: result.backend, reason: result.reason };
          return result.scores;
        },
      };
    return {
      ...base,
      // A macrotask between tiles lets other requests, aborts and I/O in between.
      run: (job, tile) =>
        new Promise((resolve, reject) =>
          nextMacrotask(() => {
            try {
              resolve(main.runCandidates(job.context.state, sliceInputs(job.candidates, tile.start, tile.end)));
            } catch (e) {
              reject(e);
            }
          }),
        ),
    };
  }

  /** Worker slot i's config: on a shared memory, with the slot's arena (reserved on first use). */
  private configFor(slot: number): WorkerConfig {
    const config = this.workerConfig!;
    const bytes = this.options.arenaBytes;
    const main = this.main;
    if (!config.shared || !bytes || !main.reserve) return config;
    const arena = (this.arenas[slot] ??= { start: main.reserve(bytes), bytes });
    return { ...config, shared: { ...config.shared, arena } };
  }

  private async workerRunner(slot: number): Promise<Runner> {
    const worker = await spawnWorker();
    // Calls the worker has not answered; its death rejects them (the worker itself never will).
    const pending = new Set<(e: Error) => void>();
    let death: Error | undefined;
    const answered = <T>(call: Promise<T>) =>
      death
        ? Promise.reject(death)
        : new Promise<T>((resolve, reject) => {
            pending.add(reject);
            call.then(resolve, reject).finally(() => pending.delete(reject));
          });
    void worker.exited.then((e) => {
      death = e;
      runner.dead = true;
      for (const reject of pending) reject(e);
      pending.clear();
      // A worker that dies idle is replaced here; one that dies mid-tile, by the scheduler's tileFailed.
      if (runner.inflight === 0) this.replace(runner);
    });
    // It polls for spinMs after each answer; counting a little less covers the answer's trip here.
    const answeredNow = () => (runner.pollingUntil = now() + 0.7 * this.options.spinMs);
    const runner: Runner = {
      inflight: 0,
      depth: 2,
      dead: false,
      pollingUntil: 0,
      wokenAt: 0,
      contexts: [],
      worker,
      run: async (job, tile, sendContext) => {
        const inputs = sliceInputs(job.candidates, tile.start, tile.end);
        // The watchdog: a worker silent for tileTimeoutMs is ended, which rejects this call through `exited`.
        const watchdog = setTimeout(() => worker.terminate(), this.options.tileTimeoutMs);
        try {
          const { scores } = await answered(worker.api.runTile({ contextId: job.contextId, context: sendContext ? job.context.payload : undefined, inputs }));
          answeredNow();
          return scores;
        } finally {
          clearTimeout(watchdog);
        }
      },
      columns: this.workerConfig!.backend === 'wasm' ? async (begun, lo, hi) => {
        runner.inflight++;
        const watchdog = setTimeout(() => worker.terminate(), this.options.tileTimeoutMs);
        try {
          const { values } = await answered(worker.api.contextColumns({ begun, lo, hi }));
          answeredNow();
          return values;
        } finally {
          clearTimeout(watchdog);
          runner.inflight--;
        }
      } : undefined,
      terminate: () => worker.terminate(),
    };
    try {
      await answered(worker.api.init(this.configFor(slot)));
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return runner;
  }
}

/** Run `fn` after pending I/O and timers: setImmediate in Node, a MessageChannel hop in browsers (setTimeout clamps to >= 1 ms). */
const nextMacrotask: (fn: () => void) => void =
  typeof setImmediate === 'function'
    ? (fn) => void setImmediate(fn)
    : (fn) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => {
          channel.port1.close();
          fn();
        };
        channel.port2.postMessage(0);
      };
