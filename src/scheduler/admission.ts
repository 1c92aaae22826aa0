/**
 * Admission: at most maxInFlight requests are scheduled at once; up to maxQueued more wait in order, and
 * one more is refused at once (overloaded).
 */
import { RankawareError } from '../errors.js';

export class Admission {
  private readonly waiting: { start(): void; reject(e: unknown): void }[] = [];
  /** Requests admitted and not finished. */
  private admitted = 0;

  constructor(private readonly limits: { readonly maxInFlight: number; readonly maxQueued: number }) {}

  /** Wait for room among the in-flight requests; refuse at once when the waiting queue is full. */
  admit(signal?: AbortSignal): Promise<void> {
    // Counted at once (not when the job starts) so that calls in the same tick see each other.
    if (this.admitted < this.limits.maxInFlight && this.waiting.length === 0) {
      this.admitted++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.limits.maxQueued)
      return Promise.reject(new RankawareError('scorer queue', `at most ${this.limits.maxQueued} waiting requests (maxQueued)`, `request ${this.waiting.length + 1} (overloaded: retry later)`, 'overloaded'));
    return new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.admitted++;
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason ?? new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** A request leaves the in-flight set: let the next waiting one in. */
  release(): void {
    this.admitted--;
    while (this.waiting.length > 0 && this.admitted < this.limits.maxInFlight) this.waiting.shift()!.start();
  }

  /** Refuse every waiting request (a disposed scorer). */
  rejectWaiting(error: unknown): void {
    for (const w of this.waiting.splice(0)) w.reject(error);
  }
}
