/**
 * The server's connections against slow, silent and too many clients: the cap on open connections (a
 * request on a connection beyond it gets 503 with Retry-After), the timeouts that close what does not
 * finish (node:http's headersTimeout and requestTimeout, the keep-alive timeout, and the body timeout
 * of http.ts), answers to unparseable HTTP, and a lingering close: a connection closed while its client
 * may still be sending keeps reading for a while, because closing a socket with unread bytes makes the
 * kernel send a reset, and the client can lose the answer already sent (a 413 before a 10 MB body ends).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerMetrics } from './server-metrics.js';
import { discard } from './read-bytes.js';

export interface ConnectionLimits {
  /** The request head (request line and headers) must arrive within this (node:http's headersTimeout). */
  readonly headersTimeoutMs: number;
  /** The whole request, head and body, must arrive within this (node:http's requestTimeout). */
  readonly requestTimeoutMs: number;
  /** The longest silence while a request body is read (http.ts answers 408 after it). */
  readonly bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Connections open at once; a request on one beyond them gets 503 + Retry-After and its connection closes. */
  readonly maxConnections: number;
}

/** How long a closing connection keeps reading (and discarding) what its client still sends. */
export const LINGER_MS = 5000;
/** A connection beyond the cap that sends no request within this is closed. */
const OVER_CAP_IDLE_MS = 1000;

/** Connections beyond the cap when they opened. */
const overCap = new WeakSet<Socket>();
/** Sockets whose current request has its head read (a timeout then is the request's, not the head's). */
const reading = new WeakSet<Socket>();
/** Each socket's current response (once begun, nothing else may be written on its socket). */
const responses = new WeakMap<Socket, ServerResponse>();
/** Sockets closing (one answer and one lingering close each). */
const closing = new WeakSet<Socket>();

export function isOverCap(socket: Socket): boolean {
  return overCap.has(socket);
}

/** A request's head is read: mark its socket until the response, so that timeouts and errors are told apart. */
export function trackRequest(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  reading.add(socket);
  req.once('end', () => reading.delete(socket));
  responses.set(socket, res);
  res.once('close', () => {
    reading.delete(socket);
    if (responses.get(socket) === res) responses.delete(socket);
  });
}

/**
 * End the socket after what was written (FIN), go on reading and discarding what the client sends, and
 * destroy it when the client closes its side or after `ms`.
 */
export function lingeringClose(socket: Socket, ms = LINGER_MS): void {
  if (socket.destroyed || closing.has(socket)) return;
  closing.add(socket);
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.end();
  // A socket that node:http no longer reads (after a parse error) must still be drained.
  discard(socket);
}

/**
 * Close the socket with a lingering close once node:http has sent the response it is writing (a
 * response with Connection: close makes node:http call socket.destroySoon(), which would destroy it as soon
 * as the response is written, unread body bytes or not).
 */
export function closeAfterResponse(socket: Socket): void {
  (socket as Socket & { destroySoon(): void }).destroySoon = () => lingeringClose(socket);
}

/** One raw answer on a socket no response was begun on, then a lingering close. */
function answerRaw(socket: Socket, status: string): void {
  if (closing.has(socket)) return;
  if (socket.writable && !responses.get(socket)?.headersSent)
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  lingeringClose(socket);
}

/** What node:http's clientError codes mean, as answers and as the kinds the metrics count. */
function clientErrorAnswer(code: string | undefined): { status: string; kind: 'bad_http' | 'headers_too_large' } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: '431 Request Header Fields Too Large', kind: 'headers_too_large' };
  return { status: '400 Bad Request', kind: 'bad_http' };
}

/**
 * Install the cap, the timeout accounting and the answers to unparseable HTTP on `server` (created with
 * the limits' headersTimeout, requestTimeout and keepAliveTimeout; see serve.ts).
 */
export function guardConnections(server: Server, limits: ConnectionLimits, metrics: ServerMetrics): void {
  // A client that half-closes after its request still gets the answer (node:http would end the socket at
  // once, losing it); the connection closes after that answer.
  // (httpAllowHalfOpen: node:http's own switch, long-standing, not in its types.)
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Beyond twice the cap, new connections are closed on accept, unanswered: file descriptors stay bounded
  // whatever a flood sends.
  server.maxConnections = 2 * limits.maxConnections;
  server.on('drop', () => metrics.connectionsRefused.inc({ how: 'dropped' }));
  server.on('connection', (socket: Socket) => {
    metrics.connectionsOpened.inc();
    metrics.connectionsOpen++;
    socket.once('close', () => metrics.connectionsOpen--);
    if (metrics.connectionsOpen > limits.maxConnections) {
      overCap.add(socket);
      const timer = setTimeout(() => {
        if (!reading.has(socket) && !responses.has(socket)) socket.destroy();
      }, OVER_CAP_IDLE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    }
    // Only the keep-alive timeout sets a socket timeout here (node:http's server.timeout is 0): node:http
    // destroys the idle socket; this counts it.
    socket.on('timeout', () => metrics.timeouts.inc({ timeout: 'keep_alive' }));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (closing.has(socket)) return; // already answered; the lingering close discards the rest
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || !socket.writable) return void socket.destroy();
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      metrics.timeouts.inc({ timeout: reading.has(socket) ? 'request' : 'headers' });
      return answerRaw(socket, '408 Request Timeout');
    }
    // Unparseable HTTP (not a request we could route): count it and answer as node:http would.
    const { status, kind } = clientErrorAnswer(error.code);
    metrics.errors.inc({ kind });
    answerRaw(socket, status);
  });
  // CONNECT has no route here (node:http would destroy the socket unanswered).
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    metrics.errors.inc({ kind: 'method_not_allowed' });
    answerRaw(socket, '405 Method Not Allowed');
  });
}
