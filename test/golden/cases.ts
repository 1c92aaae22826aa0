/**
 * The golden PyTorch cases as data for any backend's test: each converted in memory by convert.ts
 * (the file round trip is golden.test.ts's job) with its requests and float64 expected scores.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelFromFiles, readSafetensors, writeSafetensors } from '../../src/index.js';
import type { Model, RequestJson } from '../../src/index.js';
import { converters } from './convert.js';

export const goldenDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'golden', 'cases');

export interface GoldenData {
  readonly name: string;
  readonly requests: readonly { readonly request: RequestJson; readonly expected: readonly number[] }[];
  load(): Promise<Model>;
}

export function goldenCases(): GoldenData[] {
  return Object.entries(converters).map(([name, convert]) => {
    const dir = join(goldenDir, name);
    const json = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { requests: { request: RequestJson; expected: { score_f64: number[] } }[] };
    return {
      name,
      requests: json.requests.map((r) => ({ request: r.request, expected: r.expected.score_f64 })),
      async load() {
        const bytes = readFileSync(join(dir, 'weights.safetensors'));
        const converted = convert(readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
        return modelFromFiles(converted.modelJson, writeSafetensors(converted.tensors));
      },
    };
  });
}
