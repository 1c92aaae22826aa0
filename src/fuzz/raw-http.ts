/**
 * The attack suite's HTTP client: one TCP connection driven byte by byte, everything the server sends
 * read back and parsed into its responses, and how the connection ended (closed, reset, or still open
 * when the wait ran out). No node:http client here: it would refuse to send most of the attacks.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawExchange {
  /** Final (non-1xx) responses, in order. */
  readonly responses: readonly RawResponse[];
  /** Interim (1xx) responses seen. */
  readonly interim: number;
  /**
   * 'answered' (the answers awaited came: we closed), 'end' (the server closed), 'close', an error code
   * (ECONNRESET, ...), or 'open' (still open when the wait ran out: we closed it).
   */
  readonly ended: string;
  readonly ms: number;
  /** Bytes after the last parsed response that do not parse as one (a broken answer). */
  readonly trailing: number;
}

/** Parse what a server sent into responses (each with Content-Length, or up to the close). */
export function parseResponses(data: Buffer, bodiless = false): { responses: RawResponse[]; interim: number; trailing: number } {
  const responses: RawResponse[] = [];
  let interim = 0;
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) break;
    const head = data.toString('latin1', at, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]!);
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(m[1]);
    at = headEnd + 4;
    if (status < 200) {
      interim++;
      continue;
    }
    const length = bodiless ? 0 : headers['content-length'] === undefined ? data.length - at : Number(headers['content-length']);
    if (!Number.isFinite(length) || at + length > data.length) break;
    responses.push({ status, headers, body: data.toString('utf8', at, at + length) });
    at += length;
  }
  return { responses, interim, trailing: data.length - at };
}

/** What one raw connection received, and how it ended. */
export interface RawBytes {
  readonly data: Buffer;
  /** As in RawExchange. */
  readonly ended: string;
  readonly ms: number;
}

/**
 * Open a connection to 127.0.0.1:port, let `drive` write (it may wait between writes, and should stop
 * when the socket is destroyed), and collect every byte the server sends until `enough` says so
 * ('answered'), the server closes, or `waitMs` passes ('open').
 */
export function collect(port: number, drive: (socket: Socket) => void | Promise<void>, waitMs: number, enough?: (data: Buffer) => boolean): Promise<RawBytes> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (ended: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), ended, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish('open'), waitMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (enough?.(Buffer.concat(chunks))) finish('answered');
    });
    socket.on('end', () => finish('end'));
    socket.on('close', () => finish('close'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on('connect', () => void Promise.resolve(drive(socket)).catch(() => {}));
  });
}

/** `collect`, parsed into responses; stops waiting once `answers` final responses came. */
export async function exchange(port: number, drive: (socket: Socket) => void | Promise<void>, waitMs: number, answers = Infinity, bodiless = false): Promise<RawExchange> {
  // Enough answers: no need to wait for the keep-alive timeout.
  const enough = answers === Infinity ? undefined : (data: Buffer) => parseResponses(data, bodiless).responses.length >= answers;
  const { data, ended, ms } = await collect(port, drive, waitMs, enough);
  return { ...parseResponses(data, bodiless), ended, ms };
}

/** A request as bytes: request line, headers (Host and Content-Length added unless given) and body. */
export function request(method: string, path: string, body: string | Buffer = '', headers: Readonly<Record<string, string>> = {}): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const all: Record<string, string> = { Host: '127.0.0.1', ...(bytes.length > 0 || method === 'POST' ? { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) } : {}), ...headers };
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write `bytes` in pieces of `size`, `delayMs` apart, until done or the socket is gone. */
export async function drip(socket: Socket, bytes: Buffer, size: number, delayMs: number): Promise<void> {
  for (let at = 0; at < bytes.length && !socket.destroyed; at += size) {
    socket.write(bytes.subarray(at, at + size));
    await sleep(delayMs);
  }
}
