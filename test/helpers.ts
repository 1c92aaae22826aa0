/**
 * Small helpers shared by the bad-input tests (API and CLI).
 */
import { RankawareError } from '../src/errors.js';

/** Run `fn`, which must refuse its input, and return the RankawareError it threw. */
export function refusal(fn: () => unknown): RankawareError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RankawareError) return e;
    throw new Error(`expected a RankawareError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a RankawareError, but the call succeeded');
}

/** A deep, mutable copy of a JSON value (requests, parsed model.json). */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
