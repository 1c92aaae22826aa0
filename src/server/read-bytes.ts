/**
 * The bytes the server reads from clients, collected as they die. Every body chunk node:http hands over
 * is a fresh native allocation (up to 64 KiB) behind a tiny object: V8 frees it only at its next
 * collection, which a flood of bodies (or of bytes discarded after a 413) does not trigger until ~64 MiB
 * of them are garbage. glibc cannot give such a pile back once a live allocation lands above it: the
 * attack suite's 24 parallel 10 MB bodies left 32 MiB of RSS behind. A young-generation collection every
 * COLLECT_EVERY bytes keeps the pile small (about 1 ms of the ~40 ms that reading 8 MiB takes).
 */
import type { Readable } from 'node:stream';
import { collectYoung } from '../scheduler/collect-garbage.js';

const COLLECT_EVERY = 8 * 1024 * 1024;
let sinceCollection = 0;

/** `bytes` were read and will be garbage once handled. */
export function readBytes(bytes: number): void {
  sinceCollection += bytes;
  if (sinceCollection < COLLECT_EVERY) return;
  sinceCollection = 0;
  collectYoung();
}

/** Read and drop what `stream` still sends (an unread body, a closing connection's input). */
export function discard(stream: Readable): void {
  stream.on('data', (chunk: Uint8Array) => readBytes(chunk.length));
  stream.resume();
}
