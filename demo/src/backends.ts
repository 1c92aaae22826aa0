/**
 * The page's backend selector: which backends this build and this browser can run, and the 'auto' policy
 * (DESIGN.md: WebGPU, then WASM SIMD, then JS), each with the reason it was chosen or passed over.
 *
 * Availability is asked of the library itself (loadBackend), never assumed here: a backend the library
 * refuses shows as unavailable with the library's own words. When rankaware's WebGPU backend lands,
 * loadBackend('webgpu') succeeds and the WebGPU option turns on with no change in this file.
 */
import { loadBackend } from '../../src/index.js';
import type { BackendName } from '../../src/index.js';

export type BackendChoice = 'auto' | BackendName;

export const BACKEND_CHOICES: readonly { readonly choice: BackendChoice; readonly label: string }[] = [
  { choice: 'auto', label: 'auto' },
  { choice: 'webgpu', label: 'WebGPU' },
  { choice: 'wasm', label: 'WASM' },
  { choice: 'js', label: 'JS' },
];

/** The order 'auto' tries backends in. */
export const AUTO_ORDER: readonly BackendName[] = ['webgpu', 'wasm', 'js'];

export const BACKEND_LABELS: Readonly<Record<BackendName, string>> = { webgpu: 'WebGPU', wasm: 'WASM', js: 'JS' };

export interface Availability {
  readonly backend: BackendName;
  readonly available: boolean;
  /** Why it runs (the library's reason), or why it cannot. */
  readonly reason: string;
}

/** What the browser says about WebGPU (whether the library can use it is a separate question). */
async function browserWebGpu(): Promise<string> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return 'this browser has no navigator.gpu';
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? 'this browser offers a WebGPU adapter' : 'this browser has navigator.gpu but no adapter';
  } catch (e) {
    return `requesting a WebGPU adapter failed (${e instanceof Error ? e.message : String(e)})`;
  }
}

export async function probeBackend(backend: BackendName): Promise<Availability> {
  try {
    const loaded = await loadBackend(backend);
    if (loaded.name === backend) return { backend, available: true, reason: loaded.reason };
    return { backend, available: false, reason: `falls back to ${loaded.name}: ${loaded.reason}` };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (backend !== 'webgpu') return { backend, available: false, reason: why };
    return { backend, available: false, reason: `${await browserWebGpu()}, but this build of rankaware cannot use it (${why})` };
  }
}

export async function probeAll(): Promise<ReadonlyMap<BackendName, Availability>> {
  const all = await Promise.all(AUTO_ORDER.map(probeBackend));
  return new Map(all.map((a) => [a.backend, a]));
}

export interface Resolved {
  readonly backend: BackendName;
  /** Why this backend runs for this choice (for 'auto': what it passed over first). */
  readonly why: string;
}

/** The backend a choice runs on; undefined when an explicit choice is unavailable. */
export function resolveChoice(choice: BackendChoice, availability: ReadonlyMap<BackendName, Availability>): Resolved | undefined {
  if (choice !== 'auto') {
    const a = availability.get(choice);
    return a?.available ? { backend: choice, why: `chosen by hand: ${a.reason}` } : undefined;
  }
  const skipped: string[] = [];
  for (const backend of AUTO_ORDER) {
    const a = availability.get(backend)!;
    if (a.available) return { backend, why: `auto: ${[...skipped, `${BACKEND_LABELS[backend]} runs (${a.reason})`].join('; ')}` };
    skipped.push(`${BACKEND_LABELS[backend]} unavailable`);
  }
  return undefined;
}
