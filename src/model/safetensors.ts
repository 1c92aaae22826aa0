/**
 * safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}} and the raw little-endian tensor bytes. Spec: huggingface/safetensors README.
 * We read F32 and F16 (widened to float32) and write F32.
 */
import { getFloat16 } from '@petamoriken/float16';
import { RankawareError, show } from '../errors.js';

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}
export type TensorMap = ReadonlyMap<string, Tensor>;

const BYTES: Record<string, number> = { F32: 4, F16: 2 };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The top-level keys of a JSON object's text, duplicates kept (JSON.parse keeps only the last of each):
 * a scan in constant stack, for text that already parsed as an object.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',') expectKey = depth === 1;
  }
  return keys;
}

export function readSafetensors(bytes: Uint8Array, file = 'weights.safetensors'): Map<string, Tensor> {
  if (bytes.byteLength < 8) throw new RankawareError(file, 'at least the 8-byte header length', `${bytes.byteLength} bytes (truncated file)`, 'format');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.byteLength)
    throw new RankawareError(file, `a ${headerLength}-byte JSON header after the length`, `${bytes.byteLength - 8} bytes (truncated file)`, 'format');
  let parsed: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    parsed = JSON.parse(text);
  } catch {
    throw new RankawareError(file, 'a JSON header', 'bytes that do not parse as JSON (corrupt file)', 'format');
  }
  if (!isObject(parsed)) throw new RankawareError(`${file} header`, 'a JSON object {name: {dtype, shape, data_offsets}}', show(parsed), 'format');
  const header = parsed;
  const seen = new Set<string>();
  for (const name of topLevelKeys(text)) {
    if (seen.has(name)) throw new RankawareError(`${file} tensor "${name}"`, 'a unique name in the header', 'a second entry of that name', 'format');
    seen.add(name);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const out = new Map<string, Tensor>();
  /** Each tensor's byte range, to check that they tile the data section. */
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const where = `${file} tensor "${name}"`;
    if (!isObject(entry)) throw new RankawareError(where, 'an object {dtype, shape, data_offsets}', show(entry), 'format');
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !Object.hasOwn(BYTES, e.dtype))
      throw new RankawareError(`${where} dtype`, 'F32 or F16', show(e.dtype), 'weights');
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0))
      throw new RankawareError(`${where} shape`, 'a list of non-negative integers', show(shape), 'format');
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2)
      throw new RankawareError(`${where} data_offsets`, '[begin, end]', show(offsets), 'format');
    const [begin, end] = offsets as [number, number];
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin)
      throw new RankawareError(`${where} data_offsets`, 'two integers 0 <= begin <= end', show(offsets), 'format');
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const width = BYTES[e.dtype]!;
    if (end - begin !== count * width)
      throw new RankawareError(`${where} data_offsets`, `${count * width} bytes for shape [${shape.join(', ')}] ${e.dtype}`, `${end - begin}`, 'format');
    if (end > dataLength)
      throw new RankawareError(where, `bytes up to offset ${end}`, `a data section of ${dataLength} bytes (truncated file)`, 'format');
    ranges.push({ name, begin, end });
  }
  // As the format requires (and its reference reader checks): the tensors lie back to back and fill the
  // data section, so no two share bytes and none is missing (what a duplicate or corrupt entry leaves).
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const r of ranges) {
    if (r.begin !== at) {
      const prev = ranges[ranges.indexOf(r) - 1];
      throw new RankawareError(
        `${file} tensor "${r.name}" data_offsets`,
        `to begin at byte ${at}${prev ? `, where tensor "${prev.name}" ends` : ''} (tensors are stored back to back)`,
        r.begin < at ? `[${r.begin}, ${r.end}] (overlapping "${prev!.name}")` : `[${r.begin}, ${r.end}] (${r.begin - at} bytes unaccounted for before it)`,
        'format',
      );
    }
    at = r.end;
  }
  if (at !== dataLength)
    throw new RankawareError(`${file} data section`, `${at} bytes (the tensors' total)`, `${dataLength} bytes (${dataLength > at ? 'trailing bytes no tensor owns' : 'truncated file'})`, 'format');
  for (const { name, begin } of ranges) {
    const e = header[name] as { dtype: string; shape: number[] };
    const count = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const from = dataStart + begin;
    if (e.dtype === 'F32') {
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(from + 4 * i, true);
    } else {
      for (let i = 0; i < count; i++) data[i] = getFloat16(view, from + 2 * i, true);
    }
    out.set(name, { shape: e.shape, data });
  }
  return out;
}

/** Write float32 tensors; names are sorted so that files are reproducible. */
export function writeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section is 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    at += data.length * 4;
  }
  return out;
}
