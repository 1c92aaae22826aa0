/**
 * A full garbage collection once the server falls idle after a burst. What a burst leaves (parsed
 * bodies, request buffers, the objects of a thousand queued requests) is garbage, but it stays
 * allocated until V8's next collection, and an idle server allocates nothing that would trigger one: RSS
 * stayed 90 MiB above its start for minutes after a 1,500-request flood. A collection (collectGarbage:
 * a few ms for this heap), when no request has been open for `idleMs`, frees it; never while one runs.
 */
import { collectGarbage } from '../scheduler/collect-garbage.js';

/** Requests and connections since the last collection that make one worth it when the server idles. */
const BURST = 16;
/** Or RSS grown this much since the last collection (a few large bodies are few requests but many MiB). */
const GROWTH_BYTES = 16 * 1024 * 1024;
/**
 * A second collection this long after the first, if the server is still idle. V8 shrinks its young
 * generation (grown to 32 MiB by a flood) only in a collection that finds the allocation rate of its last
 * ~5 s low, which the first one, 2 s after the burst, does not.
 */
const SHRINK_AFTER_MS = 6000;

export class IdleGc {
  private activity = 0;
  private open = 0;
  private timer: NodeJS.Timeout | undefined;
  private shrinkTimer: NodeJS.Timeout | undefined;
  private baseline = process.memoryUsage.rss();
  /** Collections run (tests and the metrics read it). */
  collections = 0;

  /**
   * @param idleMs how long no request may be open before a collection; 0 turns it off
   * @param shrinkAfterMs when the second collection follows the first
   */
  constructor(
    private readonly idleMs: number,
    private readonly shrinkAfterMs = SHRINK_AFTER_MS,
  ) {}

  /**
   * A connection opened (slowloris and floods count as much as requests). Its close counts too: a
   * connection refused while its client still sends lingers for seconds after its answer, holding its
   * buffers, so the collection that matters may be the one after the last such close.
   */
  connection(socket?: { once(event: 'close', listener: () => void): unknown }): void {
    this.activity++;
    if (this.open === 0) this.arm();
    socket?.once('close', () => {
      this.activity++;
      if (this.open === 0) this.arm();
    });
  }

  /** A request began; `done` when its answer is sent or its connection gone. */
  begin(): () => void {
    this.activity++;
    this.open++;
    clearTimeout(this.timer);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.open === 0) this.arm();
    };
  }

  private arm(): void {
    if (this.idleMs <= 0 || this.activity === 0) return;
    if (this.activity < BURST && process.memoryUsage.rss() - this.baseline < GROWTH_BYTES) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.open > 0) return;
      this.collect();
      clearTimeout(this.shrinkTimer);
      this.shrinkTimer = setTimeout(() => {
        if (this.open === 0) this.collect();
      }, this.shrinkAfterMs);
      this.shrinkTimer.unref();
    }, this.idleMs);
    this.timer.unref();
  }

  private collect(): void {
    this.activity = 0;
    this.collections++;
    collectGarbage();
    this.baseline = process.memoryUsage.rss();
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearTimeout(this.shrinkTimer);
  }
}
