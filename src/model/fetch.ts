/**
 * Reading a model file from a Response (fetch) or a Blob (a File from an <input>), with the checks a
 * download needs: the HTTP status, a content type that is not an HTML page (what servers answer for an
 * unknown path), and the byte count the server announced (a connection cut mid-file).
 */
import { RankawareError } from '../errors.js';

/** How much of a file has come in; `total` when the server announced it. */
export interface LoadProgress {
  readonly file: string;
  readonly loaded: number;
  readonly total: number | undefined;
}

export type ProgressCallback = (progress: LoadProgress) => void;

/** What a file should hold: model.json text or safetensors bytes. */
export type FileKind = 'json' | 'binary';

const EXPECTED: Record<FileKind, string> = {
  json: 'JSON (application/json)',
  binary: 'binary safetensors (application/octet-stream)',
};

export function isReadable(x: unknown): x is Response | Blob {
  return (typeof Response === 'function' && x instanceof Response) || (typeof Blob === 'function' && x instanceof Blob);
}

/** All bytes of a Response or Blob, checked as described above. */
export async function readAll(source: Response | Blob, file: string, kind: FileKind, onProgress?: ProgressCallback): Promise<Uint8Array> {
  if (!(typeof Response === 'function' && source instanceof Response)) {
    const bytes = new Uint8Array(await source.arrayBuffer());
    onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
    return bytes;
  }
  const where = source.url || file;
  if (!source.ok) throw new RankawareError(where, 'HTTP 200 (the file)', `HTTP ${source.status}${source.statusText ? ' ' + source.statusText : ''}`, 'missing');
  const type = (source.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/html' || (kind === 'binary' && (type.startsWith('text/') || type === 'application/json')))
    throw new RankawareError(where, EXPECTED[kind], `${type}${type === 'text/html' ? ' (an HTML page: the URL is probably wrong; servers answer unknown paths with a page)' : ''}`, 'format');
  // Content-Length counts the encoded bytes: only an identity body can be checked against it.
  const encoding = source.headers.get('content-encoding');
  const length = source.headers.get('content-length');
  const total = length !== null && (!encoding || encoding === 'identity') && /^\d+$/.test(length) ? Number(length) : undefined;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    if (source.body) {
      const reader = source.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        onProgress?.({ file, loaded, total });
      }
    }
  } catch (e) {
    throw new RankawareError(where, total === undefined ? 'the whole file' : `${total} bytes (its Content-Length)`, `${loaded} bytes before the download failed (${e instanceof Error ? e.message : String(e)})`, 'format');
  }
  if (total !== undefined && loaded !== total)
    throw new RankawareError(where, `${total} bytes (its Content-Length)`, `${loaded} bytes (a truncated download)`, 'format');
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

export interface FetchOptions {
  readonly onProgress?: ProgressCallback;
  readonly signal?: AbortSignal;
  /** The fetch to use (default: globalThis.fetch). */
  readonly fetch?: typeof fetch;
}

/** GET one file and read it all; a network failure is a one-line RankawareError naming the URL. */
export async function fetchFile(url: URL, file: string, kind: FileKind, options: FetchOptions = {}): Promise<Uint8Array> {
  const get = options.fetch ?? globalThis.fetch;
  if (typeof get !== 'function') throw new RankawareError(url.href, 'a fetch() in this JavaScript engine', 'none (pass options.fetch)', 'unavailable');
  let response: Response;
  try {
    response = await get(url, options.signal ? { signal: options.signal } : {});
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new RankawareError(url.href, 'a reachable URL', `a failed request (${e instanceof Error ? e.message : String(e)}${cause ? ': ' + cause : ''})`, 'missing');
  }
  return readAll(response, file, kind, options.onProgress);
}
