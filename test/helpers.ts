/**
 * Small helpers shared by the tests: refusals, copies, the CLI run in-process, raw HTTP connections.
 */
import { collect } from '../src/fuzz/raw-http.js';
import type { Socket } from 'node:net';
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

/** How a raw exchange ended: the bytes received, how the connection ended ('end', 'close', an error code, or 'open' when the wait ran out) and when. */
export interface RawReply {
  readonly data: string;
  readonly ended: string;
  readonly ms: number;
  /** The status of the first response, if one came. */
  readonly status?: number;
}

/**
 * One connection driven byte by byte: `drive` writes what it likes (it may wait between writes); the reply
 * collects everything the server sends until it closes the connection, or `waitMs` passes.
 */
export async function rawHttp(port: number, drive: (socket: Socket) => void | Promise<void>, waitMs = 5000): Promise<RawReply> {
  const { data: bytes, ended, ms } = await collect(port, drive, waitMs);
  const data = bytes.toString('latin1');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(data);
  return { data, ended, ms, ...(m && { status: Number(m[1]) }) };
}
