/**
 * The page's backend selector: which backends this build and this browser can run, and 'auto', which is
 * the library's own policy (loadBackend('auto'): WebGPU on a hardware adapter, else WASM SIMD, else JS),
 * each with the reason it was chosen or passed over.
 *
 * Availability is asked of the library itself (loadBackend), never assumed here: a backend the library
 * refuses shows as unavailable with the library's own words.
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

/** The backends the page probes, in the order it lists them. */
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

/** What the library's 'auto' picks here, and why (set by probeAll). */
let auto: Resolved | undefined;

export async function probeAll(): Promise<ReadonlyMap<BackendName, Availability>> {
  const all = await Promise.all(AUTO_ORDER.map(probeBackend));
  try {
    const loaded = await loadBackend('auto');
    auto = { backend: loaded.name, why: loaded.reason.startsWith('auto') ? loaded.reason : `auto: ${loaded.reason}` };
  } catch {
    auto = undefined;
  }
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
  if (auto && availability.get(auto.backend)?.available) return auto;
  const skipped: string[] = [];
  for (const backend of AUTO_ORDER) {
    const a = availability.get(backend)!;
    if (a.available) return { backend, why: `auto: ${[...skipped, `${BACKEND_LABELS[backend]} runs (${a.reason})`].join('; ')}` };
    skipped.push(`${BACKEND_LABELS[backend]} unavailable`);
  }
  return undefined;
}
