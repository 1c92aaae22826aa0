/**
 * Small helpers shared by the tests: refusals, copies, the CLI run in-process.
 */
import { RankawareError } from '../src/errors.js';
import { main } from '../src/cli/main.js';

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

/** Run the CLI in this process: its exit code and what it printed on stdout and stderr. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}
